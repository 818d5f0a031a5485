"""Delivery of alerts: claimed once, retried with a doubling backoff up to a bound, swept."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from alerts import services, tasks
from alerts.models import Alert, AlertWindow
from tests.alerts import backends
from tests.factories import CompanyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _attempts(settings):
    """Three attempts in all. Eager tasks retry inline the way a worker would (Celery re-applies a
    retried eager task unless it propagates the Retry)."""
    from celery import current_app

    settings.ALERTS_MAX_ATTEMPTS = 3
    backends.attempts.clear()
    backends.failures_left["count"] = 0
    propagates = current_app.conf.task_eager_propagates
    current_app.conf.task_eager_propagates = False
    yield
    current_app.conf.task_eager_propagates = propagates
    backends.attempts.clear()


def _alert(company=None, **kwargs):
    company = company or CompanyFactory()
    defaults = {
        "kind": Alert.Kind.IP_REFUSED,
        "channel": Alert.Channel.SMS,
        "dedupe_key": f"test:{Alert.objects.count()}",
        "subject": "Refused",
        "details": {"ip": "198.51.100.9", "key_name": "Shop", "at": "now", "window_minutes": 10},
    }
    return Alert.objects.create(company=company, **{**defaults, **kwargs})


@pytest.mark.parametrize(
    ("attempts", "delay"), [(1, 30), (2, 60), (3, 120), (7, 1920), (8, 3600), (20, 3600)]
)
def test_the_retry_delay_doubles_up_to_a_ceiling(attempts, delay):
    assert services.retry_delay(attempts) == delay


def test_retries_are_bounded_and_recorded(settings, sms_outbox):
    settings.SMS_BACKEND = "tests.alerts.backends.DownSmsBackend"
    alert = _alert()
    assert tasks.send_alert.delay(alert.pk).get() == "failed"
    alert.refresh_from_db()
    assert (alert.status, alert.attempts) == ("failed", 3)
    assert alert.last_error == "SmsDeliveryError: gateway answered 503"
    assert len(backends.attempts) == 3 and not sms_outbox
    # Running the task again does nothing: a failed alert is only resent by staff.
    assert tasks.send_alert.delay(alert.pk).get() == "skipped"
    assert len(backends.attempts) == 3


def test_email_failures_are_retried_too(settings, mailoutbox):
    settings.MAILERS = {"default": {"BACKEND": "tests.alerts.backends.DownEmailBackend"}}
    alert = _alert(channel=Alert.Channel.EMAIL)
    tasks.send_alert.delay(alert.pk)
    alert.refresh_from_db()
    assert (alert.status, alert.attempts) == ("failed", 3)
    assert alert.last_error == "SMTPException: 421 service not available"
    assert backends.attempts == [alert.company.registered_email] * 3


def test_a_transient_failure_is_retried_until_it_goes_out(settings, sms_outbox):
    settings.SMS_BACKEND = "tests.alerts.backends.FlakySmsBackend"
    backends.failures_left["count"] = 2
    alert = _alert()
    assert tasks.send_alert.delay(alert.pk).get() == "sent"
    alert.refresh_from_db()
    assert (alert.status, alert.attempts, alert.last_error) == ("sent", 3, "")
    [sms] = sms_outbox
    assert sms.to == alert.company.registered_mobile and "198.51.100.9" in sms.body


def test_a_failed_attempt_waits_for_its_backoff(settings):
    settings.SMS_BACKEND = "tests.alerts.backends.DownSmsBackend"
    alert = _alert()
    now = timezone.now()
    delivery = services.deliver_alert(alert_id=alert.pk, now=now)
    assert delivery == services.Delivery("retry", retry_in=30)
    alert.refresh_from_db()
    assert (alert.status, alert.attempts, alert.next_attempt_at) == (
        "pending",
        1,
        now + timedelta(seconds=30),
    )


def test_the_sweep_fails_interrupted_sends_and_republishes_lost_ones(sms_outbox, settings):
    settings.ALERTS_STALE_SECONDS = 300
    now = timezone.now()
    interrupted = _alert(status="sending", attempts=1, claimed_at=now - timedelta(seconds=301))
    busy = _alert(status="sending", attempts=1, claimed_at=now - timedelta(seconds=10))
    lost = _alert(created_at=now - timedelta(seconds=400))
    fresh = _alert(created_at=now - timedelta(seconds=10))
    backing_off = _alert(
        created_at=now - timedelta(seconds=900), attempts=1, next_attempt_at=now - timedelta(seconds=60)
    )
    outcome = services.sweep(now=now)
    assert (outcome["interrupted"], outcome["republished"]) == (1, 1)
    statuses = {a.pk: a.status for a in Alert.objects.all()}
    assert statuses == {
        interrupted.pk: "failed",
        busy.pk: "sending",
        lost.pk: "sent",
        fresh.pk: "pending",
        backing_off.pk: "pending",
    }
    assert "never sent twice" in Alert.objects.get(pk=interrupted.pk).last_error
    assert len(sms_outbox) == 1


def test_resend_puts_a_failed_alert_back_and_sends_it(sms_outbox, django_capture_on_commit_callbacks):
    alert = _alert(status="failed", attempts=3, last_error="boom")
    pending = _alert(status="pending")
    with django_capture_on_commit_callbacks(execute=True):
        assert services.alert_resend(alert_id=alert.pk) is True
        assert services.alert_resend(alert_id=pending.pk) is False
    alert.refresh_from_db()
    assert (alert.status, alert.attempts, alert.last_error) == ("sent", 1, "")
    assert len(sms_outbox) == 1


def test_purge_deletes_only_old_rows_in_batches(django_assert_max_num_queries):
    now = timezone.now()
    company = CompanyFactory()
    old = [_alert(company, created_at=now - timedelta(days=40, minutes=n)) for n in range(5)]
    new = [_alert(company, created_at=now - timedelta(days=20)), _alert(company, created_at=now)]
    old_window = AlertWindow.objects.create(
        company=company,
        family="ip_refused",
        opened_at=now - timedelta(days=41),
        closes_at=now - timedelta(days=41) + timedelta(minutes=10),
        is_open=False,
    )
    new_window = AlertWindow.objects.create(
        company=company, family="ip_refused", opened_at=now, closes_at=now + timedelta(minutes=10)
    )
    assert services.purge_alerts(older_than=now - timedelta(days=30), batch_size=2) == 6
    assert set(Alert.objects.values_list("pk", flat=True)) == {a.pk for a in new}
    assert list(AlertWindow.objects.values_list("pk", flat=True)) == [new_window.pk]
    assert not any(Alert.objects.filter(pk=a.pk).exists() for a in old) and old_window.pk
    assert services.purge_alerts(older_than=now - timedelta(days=30), batch_size=2) == 0


def test_purge_refuses_a_batch_size_below_one():
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        services.purge_alerts(older_than=timezone.now(), batch_size=0)


def test_alert_times_follow_the_clock():
    with time_machine.travel("2026-01-01 00:00:00+00:00", tick=False):
        assert _alert().created_at.year == 2026
