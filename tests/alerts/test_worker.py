"""Alerts through the REAL Redis broker and a REAL Celery worker process (tests/celery_worker.py).

A security change commits its alert row and publishes the send task on commit; the worker sends
the email once. Publishing the task twice more (and firing the receiver again) sends nothing
more. An SMS alert whose gateway is down is retried by the worker up to the bound, then failed.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db.models.signals import post_save

from alerts.models import Alert
from alerts.tasks import send_alert
from authkeys.models import Rule, SecurityEvent
from portal import dev_outbox
from portal.celery import app
from tests.celery_worker import (
    BROKER_URL,
    Worker,
    start_worker,
    wait_for,
)
from tests.factories import CompanyFactory, make_key

pytestmark = [pytest.mark.celery_worker]


@pytest.fixture(scope="module")
def outbox_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("alerts-worker") / "dev_outbox.jsonl"


@pytest.fixture(scope="module")
def worker(
    django_db_setup: None,
    django_db_blocker: Any,
    celery_queue: str,
    outbox_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Worker]:
    """Email goes to the dev outbox file this test reads; SMS to a gateway that is down; retries
    come at once (no backoff) and stop after three attempts."""
    yield from start_worker(
        django_db_blocker=django_db_blocker,
        queue=celery_queue,
        log_dir=tmp_path_factory.mktemp("alerts-worker-log"),
        extra_env={
            "EMAIL_BACKEND": "portal.mail.DevOutboxEmailBackend",
            "SMS_BACKEND": "portal.sms.backends.disabled.SmsBackend",
            "DEV_OUTBOX_PATH": str(outbox_path),
            "ALERTS_MAX_ATTEMPTS": "3",
            "ALERTS_RETRY_BACKOFF_SECONDS": "0",
        },
    )


@pytest.fixture
def publish_to_redis(celery_queue: str, settings: Any) -> Iterator[None]:
    """`.delay()` in this process publishes to Redis on this run's queue (as in
    tests/portal/test_celery_worker.py), then it is undone."""
    overrides = {
        "broker_url": BROKER_URL,
        "broker_transport_options": {},
        "task_always_eager": False,
        "task_default_queue": celery_queue,
    }
    saved = {key: app.conf[key] for key in overrides}

    def reset_pools() -> None:
        app._pool = None
        app.__dict__.pop("amqp", None)

    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = BROKER_URL
    app.conf.update(overrides)
    reset_pools()
    try:
        yield
    finally:
        reset_pools()
        app.conf.update(saved)


@pytest.fixture
def worker_outbox(outbox_path: Path, settings: Any):  # type: ignore[no-untyped-def]
    outbox_path.write_text("")
    settings.DEV_OUTBOX_PATH = outbox_path
    return lambda: dev_outbox.recent(limit=200)


def test_a_security_alert_is_sent_once_by_a_real_worker_even_if_the_task_runs_again(
    transactional_db: None, worker: Worker, publish_to_redis: None, worker_outbox: Any
) -> None:
    company = CompanyFactory()
    # An earlier transactional test may have flushed the migration-seeded built-in rule.
    rule, _ = Rule.objects.get_or_create(company=None, name="All services", defaults={"all_services": True})
    make_key(company=company, name="Worker key", rule=rule)  # commits: the alert's task goes to Redis
    alert = Alert.objects.get(company=company, kind="security_change")
    wait_for(lambda: Alert.objects.get(pk=alert.pk).status == "sent", "the alert to be sent", worker)
    skipped_before = worker.log().count(": 'skipped'")
    send_alert.delay(alert.pk)
    send_alert.delay(alert.pk)
    post_save.send(sender=SecurityEvent, instance=alert.security_event, created=True)
    wait_for(lambda: worker.log().count(": 'skipped'") >= skipped_before + 2, "both repeats to run", worker)
    emails = [e for e in worker_outbox() if e["channel"] == "email" and e["to"] == company.registered_email]
    assert [e["subject"] for e in emails] == ["Security change: Key created · Worker key"]
    alert.refresh_from_db()
    assert (alert.status, alert.attempts) == ("sent", 1)
    assert Alert.objects.filter(company=company).count() == 1


def test_the_worker_retries_a_failing_sms_up_to_the_bound(
    transactional_db: None, worker: Worker, publish_to_redis: None
) -> None:
    company = CompanyFactory()
    alert = Alert.objects.create(
        company=company,
        kind="ip_refused_418",
        channel="sms",
        dedupe_key="worker-test:sms",
        subject="Refused",
        details={"ip": "198.51.100.9", "key_name": "Shop"},
    )
    send_alert.delay(alert.pk)
    wait_for(lambda: Alert.objects.get(pk=alert.pk).status == "failed", "the alert to fail", worker)
    alert.refresh_from_db()
    assert alert.attempts == 3
    assert alert.last_error.startswith("SmsDeliveryError: No SMS gateway is configured")
