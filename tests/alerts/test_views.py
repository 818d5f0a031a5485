"""The Alerts page (company-scoped, OTP gate, filters, keyset pages) and the staff admin."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from alerts import views
from alerts.models import Alert
from tests.factories import PASSWORD, CompanyFactory, UserFactory
from tests.helpers import pass_otp_gate

pytestmark = pytest.mark.django_db

URL = reverse("alerts:index")


def _verified(client, sms_outbox, **kwargs) -> User:
    user = UserFactory(**kwargs)
    client.login(email=user.email, password=PASSWORD)
    pass_otp_gate(client, user, sms_outbox)
    return user


def _alert(company, subject="Refused", **kwargs):
    defaults = {
        "kind": Alert.Kind.IP_REFUSED,
        "channel": Alert.Channel.EMAIL,
        "dedupe_key": f"test:{subject}:{Alert.objects.count()}",
        "status": Alert.Status.SENT,
        "details": {},
    }
    return Alert.objects.create(company=company, subject=subject, **{**defaults, **kwargs})


def test_the_page_needs_a_verified_session(client):
    user = UserFactory()
    _alert(user.company, subject="Secret-ish subject")
    client.login(email=user.email, password=PASSWORD)
    response = client.get(URL)
    assert response.status_code == 302 and response.url.startswith(reverse("accounts:otp_gate"))


def test_the_page_needs_a_company(client, staff):
    client.force_login(staff)
    assert client.get(URL).status_code == 403


def test_the_page_needs_login(client):
    response = client.get(URL)
    assert response.status_code == 302 and response.url.startswith(reverse("accounts:login"))


@pytest.mark.parametrize("role", [User.Role.OWNER, User.Role.ADMIN, User.Role.MEMBER])
def test_every_member_sees_their_own_company_alerts_only(client, sms_outbox, role):
    user = _verified(client, sms_outbox, role=role)
    _alert(user.company, subject="Ours: IP 198.51.100.7 refused")
    _alert(CompanyFactory(), subject="Theirs: IP 203.0.113.99 refused")
    response = client.get(URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Ours: IP 198.51.100.7 refused" in page and "203.0.113.99" not in page
    assert f'href="{URL}"' in page  # the nav link


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"kind": "security_change"}, {"Key created"}),
        ({"kind": "ip_refused_418"}, {"Refused from 198.51.100.7", "Held back"}),
        ({"status": "suppressed"}, {"Held back"}),
        ({"status": "failed"}, set()),
        ({}, {"Key created", "Refused from 198.51.100.7", "Held back"}),
    ],
)
def test_filters(client, sms_outbox, query, expected):
    user = _verified(client, sms_outbox)
    Alert.objects.filter(company=user.company).delete()  # whatever signing up produced
    _alert(user.company, subject="Key created", kind=Alert.Kind.SECURITY_CHANGE)
    _alert(user.company, subject="Refused from 198.51.100.7")
    _alert(user.company, subject="Held back", status=Alert.Status.SUPPRESSED)
    page = client.get(URL, query).content.decode()
    shown = {s for s in ("Key created", "Refused from 198.51.100.7", "Held back") if s in page}
    assert shown == expected


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"kind": "nonsense"}, "Select a valid choice"),
        ({"status": "lost"}, "Select a valid choice"),
        ({"before": "yesterday|x"}, "The page cursor is not valid"),
    ],
)
def test_invalid_filters_say_what_is_wrong(client, sms_outbox, query, message):
    _verified(client, sms_outbox)
    response = client.get(URL, query)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_keyset_pages(client, sms_outbox, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 3)
    user = _verified(client, sms_outbox)
    Alert.objects.filter(company=user.company).delete()
    now = timezone.now()
    for n in range(7):
        _alert(user.company, subject=f"Alert number {n}", created_at=now - timedelta(minutes=n))
    seen = []
    response = client.get(URL)
    while True:
        page = response.content.decode()
        seen += [n for n in range(7) if f"Alert number {n}<" in page]
        cursor = response.context["next_cursor"]
        if not cursor:
            break
        response = client.get(URL, {"before": cursor})
    assert seen == list(range(7))


# --- Admin ---------------------------------------------------------------------------------


def test_admin_lists_alerts_read_only(admin_client):
    alert = _alert(CompanyFactory(), subject="Refused from 198.51.100.7")
    changelist = reverse("admin:alerts_alert_changelist")
    assert "Refused from 198.51.100.7" in admin_client.get(changelist, {"q": "Refused"}).content.decode()
    change = reverse("admin:alerts_alert_change", args=[alert.pk])
    assert admin_client.get(change).status_code == 200
    admin_client.post(change, {"status": "pending", "subject": "edited"})
    alert.refresh_from_db()
    assert (alert.status, alert.subject) == ("sent", "Refused from 198.51.100.7")
    assert admin_client.get(reverse("admin:alerts_alert_add")).status_code == 403
    assert admin_client.get(reverse("admin:alerts_alertwindow_changelist")).status_code == 200


def test_admin_resend_action_goes_through_the_service(
    admin_client, mailoutbox, django_capture_on_commit_callbacks
):
    company = CompanyFactory()
    failed = _alert(company, subject="Failed one", status=Alert.Status.FAILED, attempts=5, last_error="boom")
    pending = _alert(company, subject="Pending one", status=Alert.Status.PENDING)
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:alerts_alert_changelist"),
            {"action": "resend", "_selected_action": [failed.pk, pending.pk]},
            follow=True,
        )
    page = response.content.decode()
    assert "1 alert(s) queued again." in page and "1 alert(s) skipped" in page
    failed.refresh_from_db()
    pending.refresh_from_db()
    assert (failed.status, failed.attempts, failed.last_error) == ("sent", 1, "")
    assert pending.status == "pending"
    assert [m.subject for m in mailoutbox] == ["Failed one"]
    assert mailoutbox[0].to == [company.registered_email]
