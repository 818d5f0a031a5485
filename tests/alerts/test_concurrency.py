"""The hourly cap and "alert once" hold when several processes' flushes race (threads with their
own database connections, committed data; PostgreSQL row locks, SQLite's write lock)."""

import threading

import pytest
from django.db import connection

from alerts import services
from alerts.models import Alert, AlertWindow
from messaging.models import FailedRequest
from tests.factories import CompanyFactory

THREADS = 8


def _race(target, args_list):
    barrier = threading.Barrier(len(args_list))
    errors = []

    def run(*args):
        try:
            barrier.wait(timeout=10)
            target(*args)
        except Exception as exc:  # reported below: a thread's exception would otherwise vanish
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=args) for args in args_list]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors


def _refusal(company, ip, code="418"):
    return FailedRequest.objects.create(
        company=company,
        code=code,
        reason="IP not whitelisted",
        dialect="msg91",
        endpoint="/api/sendhttp.php",
        method="GET",
        client_ip=ip,
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_flushes_never_overshoot_the_cap(settings):
    settings.ALERTS_MAX_PER_COMPANY_PER_HOUR = 6  # immediate alerts may use 6 - 3 (digest reserve)
    company = CompanyFactory()
    rows = [_refusal(company, f"198.51.100.{n}") for n in range(THREADS)]
    _race(lambda row: services.note_refusals(rows=[row]), [(row,) for row in rows])
    delivered = Alert.objects.filter(company=company).exclude(status="suppressed")
    assert delivered.count() == 3
    assert Alert.objects.filter(company=company).count() == THREADS * 2
    window = AlertWindow.objects.get(company=company)  # one window, however many openers raced
    assert window.refusals == THREADS
    assert window.alerted_groups + window.suppressed_groups == THREADS


@pytest.mark.django_db(transaction=True)
def test_concurrent_flushes_of_one_key_and_ip_alert_once(settings):
    company = CompanyFactory()
    rows = [_refusal(company, "198.51.100.1") for _ in range(THREADS)]
    _race(lambda row: services.note_refusals(rows=[row]), [(row,) for row in rows])
    assert sorted(Alert.objects.filter(company=company).values_list("channel", flat=True)) == ["email", "sms"]
    window = AlertWindow.objects.get(company=company)
    assert (window.refusals, window.alerted_groups) == (THREADS, 1)


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_send_once(mailoutbox):
    company = CompanyFactory()
    alert = Alert.objects.create(
        company=company, kind="security_change", channel="email", dedupe_key="security:1", subject="Changed"
    )
    outcomes = []
    _race(lambda: outcomes.append(services.deliver_alert(alert_id=alert.pk).outcome), [()] * THREADS)
    assert sorted(outcomes) == ["sent"] + ["skipped"] * (THREADS - 1)
    assert len(mailoutbox) == 1
