import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import Company, ContactChange, User
from tests.factories import PASSWORD, UserFactory
from tests.helpers import last_code, pass_otp_gate

pytestmark = pytest.mark.django_db


def _logged_in(client, **user_kwargs):
    user = UserFactory(**user_kwargs)
    client.login(email=user.email, password=PASSWORD)
    return user


def _verified(client, sms_outbox, **user_kwargs):
    user = _logged_in(client, **user_kwargs)
    pass_otp_gate(client, user, sms_outbox)
    sms_outbox.clear()
    return user


def test_company_page_shows_the_company(client):
    user = _logged_in(client)
    page = client.get(reverse("accounts:company")).content.decode()
    assert user.company.name in page
    assert user.company.registered_mobile in page


def test_change_registered_mobile_with_code_sent_to_new_number_and_old_notified(
    client, sms_outbox, django_capture_on_commit_callbacks
):
    user = _verified(client, sms_outbox)
    old = user.company.registered_mobile
    response = client.post(
        reverse("accounts:contact_change_start", args=["mobile"]),
        {"kind": "mobile", "new_value": "98765 77777"},
    )
    change = ContactChange.objects.get()
    assert response.url == reverse("accounts:contact_change_confirm", args=[change.pk])
    assert [m.to for m in sms_outbox] == ["+919876577777"]
    code = last_code(sms_outbox)
    assert code not in change.token_digest

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("accounts:contact_change_confirm", args=[change.pk]), {"code": code})
    assert response.status_code == 302
    user.company.refresh_from_db()
    assert user.company.registered_mobile == "+919876577777"
    notices = [m for m in sms_outbox if m.to == old]
    assert len(notices) == 1 and "changed" in notices[0].body and not notices[0].sensitive
    change.refresh_from_db()
    assert change.old_contact_notified_at is not None


def test_change_registered_email_with_code_sent_to_new_address(
    client, sms_outbox, django_capture_on_commit_callbacks
):
    user = _verified(client, sms_outbox)
    old = user.company.registered_email
    client.post(
        reverse("accounts:contact_change_start", args=["email"]),
        {"kind": "email", "new_value": "New@X.example"},
    )
    change = ContactChange.objects.get()
    assert mail.outbox[-1].to == ["new@x.example"]
    code = next(word for word in mail.outbox[-1].body.split() if word.isdigit() and len(word) == 6)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("accounts:contact_change_confirm", args=[change.pk]), {"code": code})
    user.company.refresh_from_db()
    assert user.company.registered_email == "new@x.example"
    assert mail.outbox[-1].to == [old]
    assert "was changed" in mail.outbox[-1].body


def test_notifying_the_old_contact_twice_sends_once(client, sms_outbox, django_capture_on_commit_callbacks):
    from accounts.tasks import notify_old_contact

    user = _verified(client, sms_outbox)
    client.post(
        reverse("accounts:contact_change_start", args=["mobile"]),
        {"kind": "mobile", "new_value": "+919876577777"},
    )
    change = ContactChange.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("accounts:contact_change_confirm", args=[change.pk]), {"code": last_code(sms_outbox)}
        )
    before = len(sms_outbox)
    assert notify_old_contact.delay(change.pk).get() is False
    assert len(sms_outbox) == before
    assert user.company.pk


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("mobile", "12", "is not a valid number"),
        ("mobile", "+91 11 2345 6789", "is not a mobile number"),
        ("email", "nope", "valid email"),
    ],
)
def test_bad_new_contact_is_refused(client, sms_outbox, kind, value, message):
    user = _verified(client, sms_outbox)
    response = client.post(
        reverse("accounts:contact_change_start", args=[kind]), {"kind": kind, "new_value": value}
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert ContactChange.objects.count() == 0
    assert sms_outbox == [] and mail.outbox == []
    assert Company.objects.get(pk=user.company.pk).registered_mobile == user.company.registered_mobile


def test_new_contact_taken_by_another_company_is_refused(client, sms_outbox):
    other = UserFactory().company
    _verified(client, sms_outbox)
    response = client.post(
        reverse("accounts:contact_change_start", args=["mobile"]),
        {"kind": "mobile", "new_value": other.registered_mobile},
    )
    assert "already registered" in response.content.decode()
    assert ContactChange.objects.count() == 0


def test_wrong_codes_close_the_change_after_five_tries(client, sms_outbox):
    user = _verified(client, sms_outbox)
    old = user.company.registered_mobile
    client.post(
        reverse("accounts:contact_change_start", args=["mobile"]),
        {"kind": "mobile", "new_value": "+919876577777"},
    )
    change = ContactChange.objects.get()
    code = last_code(sms_outbox)
    wrong = "000000" if code != "000000" else "111111"
    url = reverse("accounts:contact_change_confirm", args=[change.pk])
    for _ in range(ContactChange.MAX_FAILURES):
        response = client.post(url, {"code": wrong})
        assert response.status_code == 400
    response = client.post(url, {"code": code})
    assert "no longer open" in response.content.decode()
    user.company.refresh_from_db()
    assert user.company.registered_mobile == old


def test_contact_change_requires_a_verified_session(client, sms_outbox):
    user = _logged_in(client)
    response = client.post(
        reverse("accounts:contact_change_start", args=["mobile"]),
        {"kind": "mobile", "new_value": "+919876577777"},
    )
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:otp_gate"))
    assert ContactChange.objects.count() == 0
    assert sms_outbox == []
    assert user.company.registered_mobile != "+919876577777"


@pytest.mark.parametrize("role", [User.Role.MEMBER])
def test_members_cannot_change_security_settings(client, sms_outbox, role):
    user = _verified(client, sms_outbox, role=role)
    name = user.company.name
    response = client.post(
        reverse("accounts:contact_change_start", args=["mobile"]),
        {"kind": "mobile", "new_value": "+919876577777"},
    )
    assert response.status_code == 403
    response = client.post(reverse("accounts:company_rename"), {"name": "Hijacked"})
    assert response.status_code == 403
    user.company.refresh_from_db()
    assert user.company.name == name
    assert ContactChange.objects.count() == 0
    assert sms_outbox == []


@pytest.mark.parametrize("role", [User.Role.OWNER, User.Role.ADMIN])
def test_owners_and_admins_can_rename(client, role):
    user = _logged_in(client, role=role)
    client.post(reverse("accounts:company_rename"), {"name": "Renamed Co"})
    user.company.refresh_from_db()
    assert user.company.name == "Renamed Co"


def test_rename_rejects_an_empty_name(client):
    user = _logged_in(client)
    response = client.post(reverse("accounts:company_rename"), {"name": ""}, follow=True)
    assert "required" in response.content.decode()
    assert Company.objects.get(pk=user.company.pk).name == user.company.name


def test_another_companys_contact_change_is_404_and_untouched(client, sms_outbox):
    victim = UserFactory()
    victim_client = type(client)()
    victim_client.login(email=victim.email, password=PASSWORD)
    pass_otp_gate(victim_client, victim, sms_outbox)
    victim_client.post(
        reverse("accounts:contact_change_start", args=["mobile"]),
        {"kind": "mobile", "new_value": "+919876588888"},
    )
    change = ContactChange.objects.get()
    code = last_code(sms_outbox, "+919876588888")

    _verified(client, sms_outbox)
    url = reverse("accounts:contact_change_confirm", args=[change.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, {"code": code}).status_code == 404
    victim.company.refresh_from_db()
    assert victim.company.registered_mobile != "+919876588888"
    change.refresh_from_db()
    assert change.confirmed_at is None and change.failure_count == 0


def test_team_page_lists_only_own_members(client):
    user = _logged_in(client)
    stranger = UserFactory()
    page = client.get(reverse("accounts:team")).content.decode()
    assert user.email in page
    assert stranger.email not in page and stranger.company.name not in page


def test_staff_user_without_company_gets_403_on_company_pages(client):
    _logged_in(client, company=None, is_staff=True)
    assert client.get(reverse("accounts:company")).status_code == 403
