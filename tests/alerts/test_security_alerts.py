"""Security-change alerts: one email per SecurityEvent, never suppressed, never duplicated."""

from datetime import timedelta

import pytest
from django.db.models.signals import post_save

from alerts import services, tasks
from alerts.models import Alert
from authkeys import services as authkey_services
from authkeys.models import SecurityEvent
from tests.factories import CompanyFactory, UserFactory, make_key

pytestmark = pytest.mark.django_db

OFFICE = "203.0.113.10"


@pytest.fixture
def owner():
    return UserFactory(role="owner", email="owner@acme.example")


def _security_mail(mailoutbox):
    return [m for m in mailoutbox if m.subject.startswith("Security change")]


def test_every_kind_of_security_change_emails_the_registered_address(
    owner, mailoutbox, django_capture_on_commit_callbacks
):
    company = owner.company
    with django_capture_on_commit_callbacks(execute=True):
        authkey, _ = make_key(company=company, name="Shop", actor=owner, ip_security=True)
        allowed = authkey_services.key_ip_add(
            authkey=authkey, actor=owner, entry=OFFICE, actor_ip="192.0.2.5"
        )
        authkey_services.additional_security_set(
            company=company, actor=owner, enabled=True, actor_ip="192.0.2.5"
        )
        authkey_services.additional_security_set(company=company, actor=owner, enabled=False)
        authkey_services.key_ip_delete(allowed=allowed, actor=owner)
        authkey_services.authkey_regenerate(authkey=authkey, actor=owner)
        authkey_services.authkey_set_enabled(authkey=authkey, actor=owner, enabled=False)
    kinds = list(SecurityEvent.objects.filter(company=company).order_by("pk").values_list("kind", flat=True))
    assert kinds == [
        "key_created",
        "ip_added",
        "additional_security_on",
        "additional_security_off",
        "ip_deleted",
        "key_regenerated",
        "key_disabled",
    ]
    mails = _security_mail(mailoutbox)
    assert len(mails) == len(kinds)
    assert all(m.to == [company.registered_email] for m in mails)
    assert [m.subject for m in mails][:3] == [
        "Security change: Key created · Shop",
        f"Security change: IP added · Shop: {OFFICE}",
        "Security change: Additional Security enabled · Company",
    ]
    ip_added = mails[1].body
    assert "By:       owner@acme.example" in ip_added
    assert "From IP:  192.0.2.5" in ip_added
    assert f"ip: — → {OFFICE}" in ip_added
    assert "additional security: off → on" in mails[2].body
    assert set(Alert.objects.filter(kind="security_change").values_list("status", flat=True)) == {"sent"}


def test_a_security_alert_never_carries_a_secret(owner, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        authkey, secret = make_key(company=owner.company, actor=owner)
        new_secret = authkey_services.authkey_regenerate(authkey=authkey, actor=owner)
        event = authkey_services.record_event(
            company=owner.company,
            kind=SecurityEvent.Kind.KEY_UPDATED,
            actor=owner,
            target="test",
            before={"webhook_secret": "s3cr3t-value", "name": "a"},
            after={"token": "t0ken-value", "name": "b"},
        )
    everything = " ".join(m.subject + m.body for m in mailoutbox)
    for leaked in (secret, new_secret, "s3cr3t-value", "t0ken-value"):
        assert leaked not in everything
    alert = Alert.objects.get(security_event=event)
    assert "s3cr3t" not in str(alert.details) and "t0ken" not in str(alert.details)
    assert alert.details["changes"] == [["name", "a", "b"]]


def test_exactly_once_when_the_task_and_the_receiver_run_twice(
    owner, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        make_key(company=owner.company, actor=owner)
    event = SecurityEvent.objects.get(kind="key_created")
    alert = Alert.objects.get(dedupe_key=f"security:{event.pk}")
    assert len(_security_mail(mailoutbox)) == 1
    # The receiver fires again (e.g. a replayed save) and the task runs twice more.
    with django_capture_on_commit_callbacks(execute=True):
        post_save.send(sender=SecurityEvent, instance=event, created=True)
        post_save.send(sender=SecurityEvent, instance=event, created=True)
    assert tasks.send_alert.delay(alert.pk).get() == "skipped"
    assert tasks.send_alert.apply(args=[alert.pk]).get() == "skipped"
    assert services.deliver_alert(alert_id=alert.pk).outcome == "skipped"
    assert Alert.objects.filter(security_event=event).count() == 1
    assert len(_security_mail(mailoutbox)) == 1
    alert.refresh_from_db()
    assert (alert.status, alert.attempts) == ("sent", 1)


def test_two_tasks_queued_before_either_runs_send_once(owner, mailoutbox):
    make_key(company=owner.company, actor=owner)  # on_commit not run: the alert is pending
    alert = Alert.objects.get(kind="security_change")
    assert alert.status == "pending" and not mailoutbox
    outcomes = [tasks.send_alert.delay(alert.pk).get(), tasks.send_alert.delay(alert.pk).get()]
    assert outcomes == ["sent", "skipped"]
    assert len(mailoutbox) == 1


def test_security_alerts_are_never_suppressed_by_the_cap(
    owner, settings, mailoutbox, django_capture_on_commit_callbacks
):
    settings.ALERTS_MAX_PER_COMPANY_PER_HOUR = 0
    with django_capture_on_commit_callbacks(execute=True):
        authkey, _ = make_key(company=owner.company, actor=owner)
        for n in range(5):
            authkey_services.key_ip_add(authkey=authkey, actor=owner, entry=f"198.51.100.{n}")
    assert len(_security_mail(mailoutbox)) == 6
    assert not Alert.objects.exclude(status="sent").exists()


def test_contact_changes_made_in_accounts_alert_too(django_capture_on_commit_callbacks, mailoutbox):
    from accounts.services import company_security_changed

    company = CompanyFactory()
    with django_capture_on_commit_callbacks(execute=True):
        company_security_changed.send(
            sender=None,
            company=company,
            actor=None,
            kind="email",
            before="a@x.example",
            after="b@x.example",
            ip=None,
        )
    [mail] = _security_mail(mailoutbox)
    assert "Registered contact changed" in mail.subject
    assert "email: a@x.example → b@x.example" in mail.body
    assert "SMS Portal staff or an automated process" in mail.body


def test_the_sweep_creates_the_alert_of_a_change_whose_alert_row_failed_once(
    owner, mailoutbox, monkeypatch, settings, django_capture_on_commit_callbacks
):
    settings.ALERTS_STALE_SECONDS = 300

    def broken(**kwargs):
        raise RuntimeError("alerts table unavailable")

    with monkeypatch.context() as patched:
        patched.setattr(services, "security_alert_for_event", broken)
        with django_capture_on_commit_callbacks(execute=True):
            make_key(company=owner.company, actor=owner, name="Shop")
    event = SecurityEvent.objects.get(kind="key_created")
    assert not Alert.objects.exists() and not _security_mail(mailoutbox)  # the change stood, unalerted

    just_now = event.created_at + timedelta(seconds=10)  # the receiver may still be at work: wait
    assert "security_backfilled" not in services.sweep(now=just_now)
    later = event.created_at + timedelta(seconds=301)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.sweep(now=later)["security_backfilled"] == 1
    alert = Alert.objects.get()
    assert (alert.security_event, alert.dedupe_key) == (event, f"security:{event.pk}")
    assert [m.subject for m in _security_mail(mailoutbox)] == ["Security change: Key created · Shop"]
    with django_capture_on_commit_callbacks(execute=True):
        assert "security_backfilled" not in services.sweep(now=later)  # once
    assert len(_security_mail(mailoutbox)) == 1


def test_the_sweep_leaves_changes_older_than_a_day_alone(owner, monkeypatch, settings):
    monkeypatch.setattr(services, "security_alert_for_event", lambda **kwargs: None)
    make_key(company=owner.company, actor=owner)
    monkeypatch.undo()
    event = SecurityEvent.objects.get()
    outcome = services.sweep(now=event.created_at + timedelta(days=1, seconds=1))
    assert "security_backfilled" not in outcome
    assert not Alert.objects.exists()
