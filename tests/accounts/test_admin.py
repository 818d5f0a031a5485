import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Company
from accounts.otp import sms_device_for
from tests.factories import PASSWORD, CompanyFactory, UserFactory
from tests.helpers import last_code

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    user = UserFactory(company=None, is_staff=True, is_superuser=True, email="ops@portal.example")
    device = sms_device_for(user)
    device.number = "+919876500001"
    device.save()
    return user


def _admin_login(client: Client, staff, sms_outbox) -> None:
    device = sms_device_for(staff)
    login_url = reverse("admin:login")
    # First the challenge (sends the SMS), then the login with the code.
    client.post(
        login_url,
        {
            "username": staff.email,
            "password": PASSWORD,
            "otp_device": device.persistent_id,
            "otp_challenge": "1",
        },
    )
    response = client.post(
        login_url,
        {
            "username": staff.email,
            "password": PASSWORD,
            "otp_device": device.persistent_id,
            "otp_token": last_code(sms_outbox, "+919876500001"),
            "next": reverse("admin:index"),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]


def test_admin_password_alone_is_not_enough(client, staff):
    client.login(email=staff.email, password=PASSWORD)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert reverse("admin:login") in response.url


def test_admin_with_sms_otp(client, staff, sms_outbox):
    _admin_login(client, staff, sms_outbox)
    assert client.get(reverse("admin:index")).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "admin:accounts_company_changelist",
        "admin:accounts_user_changelist",
        "admin:accounts_smsdevice_changelist",
        "admin:accounts_contactchange_changelist",
        "admin:otp_totp_totpdevice_changelist",
    ],
)
def test_admin_changelists_render_with_search(client, staff, sms_outbox, path):
    UserFactory()
    _admin_login(client, staff, sms_outbox)
    assert client.get(reverse(path), {"q": "x"}).status_code == 200


def test_sms_device_admin_never_shows_the_code_digest(client, staff, sms_outbox):
    _admin_login(client, staff, sms_outbox)
    device = sms_device_for(staff)
    device.refresh_from_db()
    page = client.get(reverse("admin:accounts_smsdevice_change", args=[device.pk])).content.decode()
    assert "token_digest" not in page
    assert device.token_digest == "" or device.token_digest not in page


def test_admin_status_action(client, staff, sms_outbox):
    company = CompanyFactory()
    _admin_login(client, staff, sms_outbox)
    client.post(
        reverse("admin:accounts_company_changelist"),
        {"action": "set_status_banned", "_selected_action": [company.pk]},
    )
    company.refresh_from_db()
    assert company.status == Company.Status.BANNED


def test_admin_balance_action_credits_and_refuses_negative_balances(client, staff, sms_outbox):
    company = CompanyFactory(sms_balance=10)
    _admin_login(client, staff, sms_outbox)
    url = reverse("admin:accounts_company_changelist")
    response = client.post(url, {"action": "credit_balance", "_selected_action": [company.pk]})
    assert b"Add or remove SMS credits" in response.content
    client.post(
        url, {"action": "credit_balance", "_selected_action": [company.pk], "apply": "1", "amount": "25"}
    )
    company.refresh_from_db()
    assert company.sms_balance == 35
    response = client.post(
        url,
        {"action": "credit_balance", "_selected_action": [company.pk], "apply": "1", "amount": "-100"},
        follow=True,
    )
    assert "cannot go below zero" in response.content.decode()
    company.refresh_from_db()
    assert company.sms_balance == 35


def test_company_admin_does_not_let_staff_edit_balance_directly(client, staff, sms_outbox):
    company = CompanyFactory(sms_balance=10)
    _admin_login(client, staff, sms_outbox)
    page = client.get(reverse("admin:accounts_company_change", args=[company.pk])).content.decode()
    assert 'name="sms_balance"' not in page
