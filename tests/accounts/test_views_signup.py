import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import Company, User
from tests.factories import PASSWORD, CompanyFactory, UserFactory

pytestmark = pytest.mark.django_db

GOOD = {
    "company_name": "Acme Retail",
    "registered_mobile": "+91 98765 11111",
    "registered_email": "Alerts@Acme.example",
    "full_name": "Asha Owner",
    "email": "Asha@Acme.example",
    "password1": "tangerine-orbit-4471",
    "password2": "tangerine-orbit-4471",
}


def test_sign_up_creates_company_and_owner_and_logs_in(client):
    response = client.post(reverse("accounts:signup"), GOOD)
    assert response.status_code == 302
    assert response.url == reverse("portal:dashboard")
    company = Company.objects.get()
    assert company.registered_mobile == "+919876511111"
    assert company.registered_email == "alerts@acme.example"
    assert company.status == Company.Status.ACTIVE
    owner = User.objects.get()
    assert owner.email == "asha@acme.example"
    assert owner.company == company and owner.role == User.Role.OWNER
    assert client.get(reverse("portal:dashboard")).context["user"] == owner


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"registered_mobile": "12345"}, "registered_mobile", "is not a valid number"),
        ({"registered_mobile": "+91 11 2345 6789"}, "registered_mobile", "is not a mobile number"),
        ({"registered_mobile": "abc"}, "registered_mobile", "is not a phone number"),
        ({"registered_email": "not-an-email"}, "registered_email", "valid email"),
        ({"email": "nope@"}, "email", "valid email"),
        ({"password2": "something-else-9911"}, "password2", "do not match"),
        ({"password1": "short", "password2": "short"}, "password1", "too short"),
        ({"password1": "password123", "password2": "password123"}, "password1", "too common"),
        ({"company_name": "   "}, "company_name", "required"),
    ],
)
def test_sign_up_rejects_bad_input_with_a_clear_message_and_creates_nothing(client, changes, field, message):
    response = client.post(reverse("accounts:signup"), {**GOOD, **changes})
    assert response.status_code == 200
    errors = " ".join(response.context["form"].errors.get(field, []))
    assert message in errors
    assert Company.objects.count() == 0
    assert User.objects.count() == 0


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"registered_mobile": "+919876522222"}, "registered_mobile", "registered mobile already exists"),
        ({"registered_email": "taken@x.example"}, "registered_email", "registered email already exists"),
        ({"email": "TAKEN-USER@x.example"}, "email", "already exists"),
    ],
)
def test_sign_up_rejects_duplicates(client, changes, field, message):
    existing = CompanyFactory(registered_mobile="+919876522222", registered_email="taken@x.example")
    UserFactory(company=existing, email="taken-user@x.example")
    response = client.post(reverse("accounts:signup"), {**GOOD, **changes})
    assert message in " ".join(response.context["form"].errors[field])
    assert Company.objects.count() == 1
    assert User.objects.count() == 1


def test_login_with_email_case_insensitive(client):
    user = UserFactory(email="mixed@case.example")
    response = client.post(
        reverse("accounts:login"), {"username": "MIXED@case.example", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_login_with_wrong_password_says_so(client):
    UserFactory(email="someone@x.example")
    response = client.post(reverse("accounts:login"), {"username": "someone@x.example", "password": "wrong"})
    assert response.status_code == 200
    assert "do not match an account" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_pages_require_login(client):
    response = client.get(reverse("portal:dashboard"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


def test_logout_needs_post_and_ends_the_session(client):
    user = UserFactory()
    client.force_login(user)
    client.post(reverse("accounts:logout"))
    assert "_auth_user_id" not in client.session


def test_password_reset_emails_a_working_link(client):
    user = UserFactory(email="forgot@x.example")
    response = client.post(reverse("accounts:password_reset"), {"email": "forgot@x.example"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = next(line for line in mail.outbox[0].body.splitlines() if "/password-reset/" in line)
    path = link.split("testserver", 1)[1]
    response = client.get(path, follow=True)
    form_url = response.redirect_chain[-1][0]
    response = client.post(
        form_url, {"new_password1": "quartz-lantern-8812", "new_password2": "quartz-lantern-8812"}
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("quartz-lantern-8812")


def test_password_reset_for_unknown_email_sends_nothing_and_reveals_nothing(client):
    response = client.post(reverse("accounts:password_reset"), {"email": "ghost@x.example"})
    assert response.status_code == 302
    assert mail.outbox == []
