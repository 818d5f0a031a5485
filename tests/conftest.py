import pytest

from portal.sms.backends import locmem


@pytest.fixture(autouse=True)
def sms_outbox():
    """The in-memory SMS outbox, emptied for every test (like django.core.mail.outbox)."""
    locmem.outbox.clear()
    yield locmem.outbox
    locmem.outbox.clear()


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Caches outlive a test's rolled-back transaction (no signals fire), so start clean."""
    from django.core.cache import cache

    from authkeys import auth
    from messaging import blacklist, policy

    cache.clear()
    auth.forget_local()
    blacklist.forget()
    policy.forget()


STAFF_MOBILE = "+919876500001"


@pytest.fixture
def staff():
    """A staff superuser whose admin-login codes are texted to STAFF_MOBILE."""
    from accounts.otp import sms_device_for
    from tests.factories import UserFactory

    user = UserFactory(company=None, is_staff=True, is_superuser=True, email="ops@portal.example")
    device = sms_device_for(user)
    device.number = STAFF_MOBILE
    device.save()
    return user


@pytest.fixture
def admin_client(client, staff, sms_outbox):
    """Logged in through the real OTP admin login (password, then the texted code). Shadows
    pytest-django's admin_client, which would skip the OTP step."""
    from django.urls import reverse

    from accounts.otp import sms_device_for
    from tests.factories import PASSWORD
    from tests.helpers import last_code

    device = sms_device_for(staff)
    login_url = reverse("admin:login")
    credentials = {"username": staff.email, "password": PASSWORD, "otp_device": device.persistent_id}
    client.post(login_url, {**credentials, "otp_challenge": "1"})
    response = client.post(
        login_url,
        {**credentials, "otp_token": last_code(sms_outbox, STAFF_MOBILE), "next": reverse("admin:index")},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    return client


# --- Real Redis broker for the worker tests (tests/celery_worker.py) ---------------------------


@pytest.fixture(scope="module")
def broker():  # type: ignore[no-untyped-def]
    """A client of the real Redis broker, for the module's worker tests."""
    from tests.celery_worker import connect_broker

    client = connect_broker()
    yield client
    client.close()


@pytest.fixture(scope="module")
def celery_queue(request: pytest.FixtureRequest, broker):  # type: ignore[no-untyped-def]
    """A queue of the module's own (named after it), deleted with whatever kombu left for it."""
    from tests.celery_worker import drop_queue, new_queue

    queue = new_queue("test-" + request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_"))
    yield queue
    drop_queue(broker, queue)
