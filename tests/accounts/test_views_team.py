import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import User
from tests.factories import PASSWORD, UserFactory
from tests.helpers import pass_otp_gate

pytestmark = pytest.mark.django_db

Role = User.Role


def _verified(client, sms_outbox, **kwargs) -> User:
    user = UserFactory(**kwargs)
    client.login(email=user.email, password=PASSWORD)
    pass_otp_gate(client, user, sms_outbox)
    return user


def _change(client, member, action, **data):
    return client.post(reverse("accounts:member_change", args=[member.pk, action]), data)


def test_owner_adds_a_member_who_gets_a_set_password_link(
    client, sms_outbox, django_capture_on_commit_callbacks
):
    owner = _verified(client, sms_outbox)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("accounts:team"),
            {"email": "New.Hire@X.example", "full_name": "New Hire", "role": "member"},
        )
    assert response.status_code == 302
    member = User.objects.get(email="new.hire@x.example")
    assert member.company == owner.company and member.role == Role.MEMBER
    assert not member.has_usable_password()
    assert mail.outbox[-1].to == ["new.hire@x.example"]
    link = next(line for line in mail.outbox[-1].body.splitlines() if "/password-reset/" in line)
    response = Client().get(link.split("testserver", 1)[1], follow=True)
    assert response.context["validlink"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"email": "bad", "role": "member"}, "valid email"),
        ({"email": "a@x.example", "role": "god"}, "Select a valid choice"),
        ({"email": "{taken}", "role": "member"}, "already exists"),
    ],
)
def test_add_user_bad_input(client, sms_outbox, data, message):
    owner = _verified(client, sms_outbox)
    data = {k: v.format(taken=owner.email) for k, v in data.items()}
    before = User.objects.count()
    response = client.post(reverse("accounts:team"), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert User.objects.count() == before


def test_admin_cannot_create_an_owner(client, sms_outbox):
    _verified(client, sms_outbox, role=Role.ADMIN)
    before = User.objects.count()
    response = client.post(reverse("accounts:team"), {"email": "boss@x.example", "role": "owner"})
    assert "Only an owner" in response.content.decode()
    assert User.objects.count() == before


def test_member_cannot_add_users(client, sms_outbox):
    _verified(client, sms_outbox, role=Role.MEMBER)
    before = User.objects.count()
    response = client.post(reverse("accounts:team"), {"email": "x@x.example", "role": "member"})
    assert response.status_code == 403
    assert User.objects.count() == before


def test_adding_users_needs_a_verified_session(client):
    owner = UserFactory()
    client.login(email=owner.email, password=PASSWORD)
    response = client.post(reverse("accounts:team"), {"email": "x@x.example", "role": "member"})
    assert response.status_code == 302 and response.url.startswith(reverse("accounts:otp_gate"))
    assert not User.objects.filter(email="x@x.example").exists()


def test_role_change_over_htmx_returns_the_row(client, sms_outbox):
    owner = _verified(client, sms_outbox)
    member = UserFactory(company=owner.company, role=Role.MEMBER)
    response = client.post(
        reverse("accounts:member_change", args=[member.pk, "role"]),
        {"role": "admin"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert body.strip().startswith(f'<tr id="member-{member.pk}"')
    assert "<html" not in body
    member.refresh_from_db()
    assert member.role == Role.ADMIN


def test_last_owner_cannot_be_demoted_or_removed(client, sms_outbox):
    owner = _verified(client, sms_outbox)
    response = client.post(
        reverse("accounts:member_change", args=[owner.pk, "role"]),
        {"role": "member"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 422  # htmx swaps 422 (see htmx-config in base.html)
    assert "at least one owner" in response.content.decode()
    owner.refresh_from_db()
    assert owner.role == Role.OWNER


def test_admin_cannot_touch_an_owner(client, sms_outbox):
    admin = _verified(client, sms_outbox, role=Role.ADMIN)
    owner = UserFactory(company=admin.company, role=Role.OWNER)
    _change(client, owner, "role", role="member")
    _change(client, owner, "remove")
    owner.refresh_from_db()
    assert owner.role == Role.OWNER and owner.is_active


def test_remove_deactivates_and_cannot_remove_self(client, sms_outbox):
    owner = _verified(client, sms_outbox)
    member = UserFactory(company=owner.company, role=Role.MEMBER)
    _change(client, member, "remove")
    member.refresh_from_db()
    assert not member.is_active
    _change(client, owner, "remove")
    owner.refresh_from_db()
    assert owner.is_active


def test_members_of_another_company_are_404_and_untouched(client, sms_outbox):
    _verified(client, sms_outbox)
    stranger = UserFactory(role=Role.MEMBER)
    assert _change(client, stranger, "role", role="admin").status_code == 404
    assert _change(client, stranger, "remove").status_code == 404
    stranger.refresh_from_db()
    assert stranger.role == Role.MEMBER and stranger.is_active


def test_member_cannot_change_roles(client, sms_outbox):
    member = _verified(client, sms_outbox, role=Role.MEMBER)
    other = UserFactory(company=member.company, role=Role.MEMBER)
    assert _change(client, other, "role", role="owner").status_code == 403
    other.refresh_from_db()
    assert other.role == Role.MEMBER


def test_removed_user_cannot_log_in(client, sms_outbox):
    owner = _verified(client, sms_outbox)
    member = UserFactory(company=owner.company, role=Role.MEMBER)
    _change(client, member, "remove")
    assert not Client().login(email=member.email, password=PASSWORD)
