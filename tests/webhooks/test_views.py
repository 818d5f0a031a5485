"""Settings → Webhooks pages: the OTP gate, owner/admin only for changes, the secret shown once,
SSRF messages on the form, HTMX switches, test event, delivery log and resend."""

import re

import pytest
from django.urls import reverse
from standardwebhooks import Webhook

from accounts.models import User
from authkeys.models import SecurityEvent
from tests.factories import PASSWORD, CompanyFactory, UserFactory
from tests.helpers import pass_otp_gate
from webhooks import delivery, services, signing
from webhooks.models import Delivery, Endpoint, EndpointSecret

pytestmark = pytest.mark.django_db

Kind = SecurityEvent.Kind
HTMX = {"HX-Request": "true"}
SECRET_RE = re.compile(r"whsec_[A-Za-z0-9+/=]{44}")
PUBLIC_URL = "https://93.184.215.14/hooks"


def _verified(client, sms_outbox, **kwargs) -> User:  # type: ignore[no-untyped-def]
    user = UserFactory(**kwargs)
    client.login(email=user.email, password=PASSWORD)
    pass_otp_gate(client, user, sms_outbox)
    return user


@pytest.fixture
def owner(client, sms_outbox) -> User:  # type: ignore[no-untyped-def]
    return _verified(client, sms_outbox)


@pytest.fixture
def endpoint(owner) -> Endpoint:  # type: ignore[no-untyped-def]
    return services.endpoint_create(company=owner.company, actor=owner, url=PUBLIC_URL)[0]


def _state(company) -> dict:  # type: ignore[no-untyped-def]
    return {
        "endpoints": list(Endpoint.objects.filter(company=company).order_by("pk").values()),
        "secrets": list(EndpointSecret.objects.filter(endpoint__company=company).order_by("pk").values()),
        "deliveries": list(Delivery.objects.filter(endpoint__company=company).order_by("pk").values()),
        "events": SecurityEvent.objects.filter(company=company).count(),
    }


CHANGES = [
    ("webhooks:create", False, {"url": "https://93.184.215.15/x", "event_types": ["message.status.sms"]}),
    ("webhooks:edit", True, {"url": "https://93.184.215.15/x", "event_types": ["message.status.sms"]}),
    ("webhooks:toggle", True, {"active": "0"}),
    ("webhooks:rotate", True, {"grace_seconds": "0"}),
    ("webhooks:delete", True, {}),
    ("webhooks:test", True, {}),
]


# --- The gate and roles -----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "with_pk", "data"), CHANGES)
def test_changes_need_the_otp_gate_and_change_nothing_without_it(client, name, with_pk, data) -> None:
    user = UserFactory()
    target = services.endpoint_create(company=user.company, actor=user, url=PUBLIC_URL)[0]
    client.login(email=user.email, password=PASSWORD)  # logged in, not verified
    before = _state(user.company)
    url = reverse(name, args=[target.pk] if with_pk else [])

    response = client.post(url, data)

    assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:otp_gate"))
    assert _state(user.company) == before
    response = client.get(reverse("webhooks:index"))
    assert response["Location"].startswith(reverse("accounts:otp_gate"))
    response = client.post(url, data, headers=HTMX)
    assert response.status_code == 204 and response["HX-Redirect"].startswith(reverse("accounts:otp_gate"))


@pytest.mark.parametrize(("name", "with_pk", "data"), CHANGES)
def test_members_may_look_but_not_change(client, sms_outbox, name, with_pk, data) -> None:
    member = _verified(client, sms_outbox, role=User.Role.MEMBER)
    target = services.endpoint_create(company=member.company, actor=None, url=PUBLIC_URL)[0]
    before = _state(member.company)

    response = client.post(reverse(name, args=[target.pk] if with_pk else []), data)

    assert response.status_code == 403
    assert _state(member.company) == before
    page = client.get(reverse("webhooks:index"))
    assert page.status_code == 200 and PUBLIC_URL in page.content.decode()
    assert reverse("webhooks:create") not in page.content.decode()
    assert client.get(reverse("webhooks:log", args=[target.pk])).status_code == 200


@pytest.mark.parametrize(("name", "with_pk", "data"), [c for c in CHANGES if c[1]])
def test_another_companys_endpoint_is_404(client, owner, name, with_pk, data) -> None:
    theirs = services.endpoint_create(company=CompanyFactory(), actor=None, url=PUBLIC_URL)[0]
    before = _state(theirs.company)
    assert client.post(reverse(name, args=[theirs.pk]), data).status_code == 404
    assert client.get(reverse("webhooks:log", args=[theirs.pk])).status_code == 404
    assert _state(theirs.company) == before


# --- Create: the secret once -------------------------------------------------------------------------


def test_create_shows_the_secret_once_and_audits(client, owner) -> None:
    response = client.post(
        reverse("webhooks:create"),
        {"url": PUBLIC_URL, "description": "Shop", "event_types": ["message.status.sms"]},
    )

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    [secret] = SECRET_RE.findall(html)
    assert "will not be shown again" in html and "Why the secret is 32 bytes" in html
    endpoint = Endpoint.objects.get(company=owner.company)
    assert (endpoint.url, endpoint.description, endpoint.event_types) == (
        PUBLIC_URL,
        "Shop",
        ["message.status.sms"],
    )
    row = EndpointSecret.objects.get(endpoint=endpoint)
    assert signing.secret_text(signing.derive_key(endpoint.pk, row.salt)) == secret
    event = SecurityEvent.objects.get(company=owner.company, kind=Kind.WEBHOOK_CREATED)
    assert event.actor_user == owner and event.after["url"] == PUBLIC_URL
    assert secret not in str(event.after)
    # Never again: not on the list, the log or the edit page.
    for url in (reverse("webhooks:index"), reverse("webhooks:log", args=[endpoint.pk])):
        assert not SECRET_RE.search(client.get(url).content.decode())
    assert not SECRET_RE.search(client.get(reverse("webhooks:edit", args=[endpoint.pk])).content.decode())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"url": "http://169.254.169.254/latest/meta-data/", "event_types": ["message.status.sms"]},
            "link-local",
        ),
        (
            {"url": "http://user:pw@93.184.215.14/", "event_types": ["message.status.sms"]},
            "user name or password",
        ),
        ({"url": "http://2130706433/", "event_types": ["message.status.sms"]}, "four decimal numbers"),
        ({"url": "ftp://93.184.215.14/", "event_types": ["message.status.sms"]}, "Only http:// and https://"),
        ({"url": "", "event_types": ["message.status.sms"]}, "Enter the URL"),
        ({"url": PUBLIC_URL, "event_types": []}, "Choose at least one event type"),
        ({"url": PUBLIC_URL, "event_types": ["message.status.rcs"]}, "is not one of the available choices"),
    ],
)
def test_create_refuses_with_a_message_and_changes_nothing(client, owner, data, message) -> None:
    before = _state(owner.company)
    response = client.post(reverse("webhooks:create"), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert _state(owner.company) == before


# --- Edit, switch, rotate, delete ----------------------------------------------------------------------


def test_edit_saves_and_audits(client, owner, endpoint) -> None:
    response = client.post(
        reverse("webhooks:edit", args=[endpoint.pk]),
        {"url": "https://93.184.215.15/new?token=abc", "event_types": ["message.status.sms"]},
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.url == "https://93.184.215.15/new?token=abc"
    event = SecurityEvent.objects.get(kind=Kind.WEBHOOK_CHANGED)
    assert event.after["url"] == "https://93.184.215.15/new?…"  # the query may hold a token


def test_the_htmx_switch_returns_the_row_and_disabling_gives_up_the_queue(client, owner, endpoint) -> None:
    queued = services.send_test_event(endpoint=endpoint)

    response = client.post(reverse("webhooks:toggle", args=[endpoint.pk]), {"active": "0"}, headers=HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(f'<tr id="endpoint-{endpoint.pk}"') and "Disabled" in html
    endpoint.refresh_from_db()
    assert endpoint.active is False and endpoint.disabled_reason == "Disabled by a user"
    assert Delivery.objects.get(pk=queued.pk).status == Delivery.Status.FAILED
    response = client.post(reverse("webhooks:toggle", args=[endpoint.pk]), {"active": "1"}, headers=HTMX)
    assert "Active" in response.content.decode()
    assert [e.kind for e in SecurityEvent.objects.filter(company=owner.company).order_by("pk")] == [
        Kind.WEBHOOK_CREATED,
        Kind.WEBHOOK_DISABLED,
        Kind.WEBHOOK_ENABLED,
    ]
    assert client.post(reverse("webhooks:toggle", args=[endpoint.pk]), {"active": "x"}).status_code == 400


def test_rotate_shows_the_new_secret_once_and_keeps_the_old_one_for_the_grace_period(
    client, owner, receiver
) -> None:
    endpoint, old = services.endpoint_create(company=owner.company, actor=owner, url=receiver.url)

    response = client.post(reverse("webhooks:rotate", args=[endpoint.pk]), {"grace_seconds": str(24 * 3600)})

    assert response.status_code == 200
    [new] = SECRET_RE.findall(response.content.decode())
    assert new != old and "keeps signing alongside" in response.content.decode()
    services.send_test_event(endpoint=endpoint)
    delivery.drain(endpoint.pk)
    [request] = receiver.requests
    for secret in (new, old):
        Webhook(secret).verify(request.body, request.headers)
    assert SecurityEvent.objects.filter(kind=Kind.WEBHOOK_SECRET_ROTATED).count() == 1
    assert (
        client.post(reverse("webhooks:rotate", args=[endpoint.pk]), {"grace_seconds": "5"}).status_code == 400
    )


def test_delete_removes_the_endpoint_and_audits(client, owner, endpoint) -> None:
    assert client.get(reverse("webhooks:delete", args=[endpoint.pk])).status_code == 200
    assert client.post(reverse("webhooks:delete", args=[endpoint.pk])).status_code == 302
    assert not Endpoint.objects.exists()
    assert SecurityEvent.objects.get(kind=Kind.WEBHOOK_DELETED).before["url"] == PUBLIC_URL


# --- Test event, log, resend ---------------------------------------------------------------------------


def test_send_test_event_and_the_delivery_log(
    client, owner, receiver, django_capture_on_commit_callbacks
) -> None:
    endpoint, _ = services.endpoint_create(company=owner.company, actor=owner, url=receiver.url)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("webhooks:test", args=[endpoint.pk]), headers=HTMX)

    assert response.status_code == 200 and "Test event queued" in response.content.decode()
    [request] = receiver.requests
    assert b'"reference":"webhook-test"' in request.body
    page = client.get(reverse("webhooks:log", args=[endpoint.pk])).content.decode()
    assert "Delivered" in page and ">200<" in page and " ms" in page and "test" in page


def test_resend_from_the_log(client, owner, receiver, django_capture_on_commit_callbacks) -> None:
    endpoint, _ = services.endpoint_create(company=owner.company, actor=owner, url=receiver.url)
    row = services.send_test_event(endpoint=endpoint)
    delivery.drain(endpoint.pk)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("webhooks:resend", args=[row.pk]), headers=HTMX)

    assert response.status_code == 200
    assert response.content.decode().lstrip().startswith(f'<tr id="delivery-{row.pk}"')
    assert len(receiver.requests) == 2
    pending = services.send_test_event(endpoint=endpoint)
    response = client.post(reverse("webhooks:resend", args=[pending.pk]), headers=HTMX)
    assert response.status_code == 422 and "still queued" in response.content.decode()


def test_the_nav_link_leads_to_the_webhooks_page(client, owner) -> None:
    page = client.get(reverse("portal:dashboard")).content.decode()
    assert f'href="{reverse("webhooks:index")}"' in page
    assert client.get(reverse("webhooks:index")).status_code == 200
