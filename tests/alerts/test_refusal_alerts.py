"""Alerts on refused API requests (seed 000/001), driven through the real API.

418: the first refusal per (key, IP) in a window alerts at once by email and SMS; the rest of the
window goes into one digest per channel; the per-company hourly cap holds whatever the load.
Other codes: an email naming the code and its description, grouped the same way.
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from alerts import services
from alerts.models import Alert, AlertWindow
from authkeys import auth
from messaging import refusals
from messaging.catalogue import CATALOGUE, Code
from messaging.models import FailedRequest
from tests.factories import CompanyFactory, make_key

pytestmark = pytest.mark.django_db

URL = "/api/sendhttp.php"
BAD_IP = "198.51.100.9"
START = datetime(2026, 11, 23, 10, 0, 7, tzinfo=UTC)
REFUSAL_KINDS = [Alert.Kind.IP_REFUSED, Alert.Kind.IP_REFUSED_DIGEST]


@pytest.fixture(autouse=True)
def _batched(settings):
    """The production shape of refusal recording: batches of 100 (flushed by the request that
    fills one; no timer thread), so the receiver sees batches, not single rows."""
    settings.AUTHKEY_LOCAL_CACHE_SECONDS = 0
    auth._local.clear()
    settings.FAILED_REQUEST_BATCH_SIZE = 100
    settings.FAILED_REQUEST_FLUSH_SECONDS = 0
    settings.ALERTS_WINDOW_SECONDS = 600
    settings.ALERTS_MAX_PER_COMPANY_PER_HOUR = 20
    refusals.flush()
    yield
    refusals.flush()


@pytest.fixture
def company():
    return CompanyFactory(sms_balance=100)


@pytest.fixture
def new_key(mailoutbox, django_capture_on_commit_callbacks):
    """make_key with its security-change email delivered and out of the way."""

    def new_key(company, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            made = make_key(company=company, **kwargs)
        mailoutbox.clear()
        return made

    return new_key


def _send(client, secret, ip=BAD_IP, **params):
    query = {"authkey": secret, "mobiles": "919876543210", "message": "Hello", "sender": "ACMEIN", **params}
    return client.get(URL, query, REMOTE_ADDR=ip)


def _refusal_alerts(company, **filters):
    return Alert.objects.filter(company=company).exclude(kind=Alert.Kind.SECURITY_CHANGE).filter(**filters)


def _to(outbox_entries, address):
    return [entry for entry in outbox_entries if address in entry.to]


def test_a_flood_of_418s_yields_one_immediate_alert_and_one_digest_per_channel(
    client, company, new_key, mailoutbox, sms_outbox, django_capture_on_commit_callbacks
):
    authkey, secret = new_key(company, name="Shop backend", ip_security=True)  # empty list: 418
    total = 5000
    with time_machine.travel(START, tick=False) as clock:
        # The first refusal: alerted at once (as soon as its batch is written).
        with django_capture_on_commit_callbacks(execute=True):
            assert "418" in _send(client, secret).content.decode()
            refusals.flush()
        assert [m.subject for m in mailoutbox] == [
            f"Refused: IP {BAD_IP} is not whitelisted for API key Shop backend (error 418)"
        ]
        assert mailoutbox[0].to == [company.registered_email]
        assert BAD_IP in mailoutbox[0].body and authkey.display_prefix in mailoutbox[0].body
        [sms] = sms_outbox
        assert sms.to == company.registered_mobile and BAD_IP in sms.body and "418" in sms.body

        # 4,999 more within the same ten minutes (the clock moves 0.119 s per request).
        with django_capture_on_commit_callbacks(execute=True):
            for i in range(1, total):
                clock.move_to(START + timedelta(seconds=i * 0.119))
                response = _send(client, secret)
                assert response.status_code == 200 and "418" in response.content.decode()
                if i % 100 == 0:  # what the flush thread does (the test's transaction keeps requests from it)
                    refusals.flush()
            refusals.flush()
        assert FailedRequest.objects.filter(company=company, code="418").count() == total
        assert len(mailoutbox) == 1 and len(sms_outbox) == 1  # nothing more while the window is open
        window = AlertWindow.objects.get(company=company)
        assert (window.refusals, window.alerted_groups, window.suppressed_groups) == (total, 1, 0)

        # A sweep before the window closes sends nothing; after, one digest per channel.
        clock.move_to(START + timedelta(seconds=599))
        with django_capture_on_commit_callbacks(execute=True):
            services.sweep()
        assert len(mailoutbox) == 1 and len(sms_outbox) == 1
        clock.move_to(START + timedelta(seconds=661))
        with django_capture_on_commit_callbacks(execute=True):
            services.sweep()
            services.sweep()  # idempotent
    assert len(mailoutbox) == 2 and len(sms_outbox) == 2
    digest = mailoutbox[1]
    assert digest.subject == "Digest: 4999 more requests refused with error 418 (IP not whitelisted)"
    assert f"{BAD_IP}: {total} requests" in digest.body and "Shop backend" in digest.body
    assert str(total) in sms_outbox[1].body and BAD_IP in sms_outbox[1].body
    per_channel = {
        (kind, channel): count
        for kind, channel, count in [
            (a.kind, a.channel, _refusal_alerts(company, kind=a.kind, channel=a.channel).count())
            for a in _refusal_alerts(company)
        ]
    }
    assert per_channel == {
        (Alert.Kind.IP_REFUSED, "email"): 1,
        (Alert.Kind.IP_REFUSED, "sms"): 1,
        (Alert.Kind.IP_REFUSED_DIGEST, "email"): 1,
        (Alert.Kind.IP_REFUSED_DIGEST, "sms"): 1,
    }
    assert set(_refusal_alerts(company).values_list("status", flat=True)) == {"sent"}
    assert _refusal_alerts(company, kind=Alert.Kind.IP_REFUSED_DIGEST).first().refusal_count == total - 1


def test_a_new_window_alerts_again_after_the_old_one_closed(
    client, company, new_key, mailoutbox, sms_outbox, django_capture_on_commit_callbacks
):
    _, secret = new_key(company, ip_security=True)
    with time_machine.travel(START, tick=False) as clock, django_capture_on_commit_callbacks(execute=True):
        _send(client, secret)
        refusals.flush()
        clock.move_to(START + timedelta(seconds=601))
        _send(client, secret)
        refusals.flush()
    assert _refusal_alerts(company, kind=Alert.Kind.IP_REFUSED, status="sent").count() == 4
    assert AlertWindow.objects.filter(company=company).count() == 2
    # The first window had nothing beyond its first refusal: no digest.
    with time_machine.travel(START + timedelta(seconds=1300), tick=False):
        assert services.sweep()["digest_nothing"] == 2
    assert not _refusal_alerts(company, kind=Alert.Kind.IP_REFUSED_DIGEST).exists()


def test_each_key_and_ip_pair_alerts_once_per_window(
    client, company, new_key, django_capture_on_commit_callbacks
):
    _, secret_a = new_key(company, name="A", ip_security=True)
    _, secret_b = new_key(company, name="B", ip_security=True)
    with time_machine.travel(START, tick=False), django_capture_on_commit_callbacks(execute=True):
        for secret in (secret_a, secret_b):
            for ip in ("198.51.100.1", "198.51.100.2"):
                for _ in range(3):
                    _send(client, secret, ip=ip)
        refusals.flush()
    immediate = _refusal_alerts(company, kind=Alert.Kind.IP_REFUSED)
    assert immediate.count() == 8  # 4 pairs, email + SMS each
    assert {a.details["ip"] for a in immediate} == {"198.51.100.1", "198.51.100.2"}
    assert {a.details["key_name"] for a in immediate} == {"A", "B"}


def _max_in_any_hour(times):
    times = sorted(times)
    return max(
        (sum(1 for t in times if start <= t < start + timedelta(hours=1)) for start in times), default=0
    )


def test_the_hourly_cap_holds_with_many_distinct_key_and_ip_pairs(
    client, company, new_key, settings, mailoutbox, sms_outbox, django_capture_on_commit_callbacks
):
    settings.ALERTS_MAX_PER_COMPANY_PER_HOUR = cap = 10
    secrets = [new_key(company, name=f"K{n}", ip_security=True)[1] for n in range(5)]
    mailoutbox.clear()
    with time_machine.travel(START, tick=False) as clock:
        # Window 1: 5 keys and 10 IPs, each pair several times.
        with django_capture_on_commit_callbacks(execute=True):
            for round_ in range(3):
                for k, secret in enumerate(secrets):
                    for n in range(10):
                        clock.move_to(START + timedelta(seconds=round_ * 60 + k * 10 + n))
                        _send(client, secret, ip=f"203.0.113.{n + 1}")
            refusals.flush()
        delivered = _refusal_alerts(company).exclude(status="suppressed")
        # Immediate alerts leave room for the digests (3 slots with this cap).
        assert delivered.count() == cap - services.digest_reserve() == 7
        assert _refusal_alerts(company, status="suppressed").count() == 50 * 2 - 7
        window = AlertWindow.objects.get(company=company)
        assert (window.alerted_groups, window.suppressed_groups, window.refusals) == (4, 46, 150)

        # The window closes: its digest (email + SMS) fits in the cap and counts the suppressed.
        clock.move_to(START + timedelta(seconds=601))
        with django_capture_on_commit_callbacks(execute=True):
            assert services.sweep()["digest_sent"] == 1
        digest = _refusal_alerts(company, kind=Alert.Kind.IP_REFUSED_DIGEST, channel="email").get()
        assert digest.suppressed_count == 46 and digest.refusal_count == 150 - 4
        assert "46 immediate alerts were held back" in mailoutbox[-1].body

        # Window 2, same hour: everything is suppressed; its digest waits for room.
        with django_capture_on_commit_callbacks(execute=True):
            for n in range(20):
                clock.move_to(START + timedelta(seconds=700 + n))
                _send(client, secrets[n % 5], ip=f"192.0.2.{n + 1}")
            refusals.flush()
        clock.move_to(START + timedelta(seconds=1400))
        with django_capture_on_commit_callbacks(execute=True):
            assert services.sweep()["digest_deferred"] == 1
            clock.move_to(START + timedelta(seconds=1400 + 1800))
            assert services.sweep()["digest_deferred"] == 1
            clock.move_to(START + timedelta(hours=1, seconds=300))  # the first alerts have aged out
            assert services.sweep()["digest_sent"] == 1
    times = list(_refusal_alerts(company).exclude(status="suppressed").values_list("created_at", flat=True))
    assert len(times) == 11 and _max_in_any_hour(times) <= cap
    sent = len(_to(mailoutbox, company.registered_email)) + len(
        [m for m in sms_outbox if m.to == company.registered_mobile]
    )
    assert sent == 11
    second = _refusal_alerts(company, kind=Alert.Kind.IP_REFUSED_DIGEST, channel="email").latest("created_at")
    assert second.refusal_count == 20 and second.suppressed_count == 20


def test_other_refusals_email_the_code_and_its_description(
    client, company, new_key, mailoutbox, sms_outbox, django_capture_on_commit_callbacks
):
    company.sms_balance = 0
    company.save()
    _, secret = new_key(company, name="Billing", ip_security=False)
    with time_machine.travel(START, tick=False) as clock:
        with django_capture_on_commit_callbacks(execute=True):
            for n in range(5):
                clock.move_to(START + timedelta(seconds=n))
                assert "301" in _send(client, secret).content.decode()  # no balance
            assert "101" in _send(client, secret, mobiles="").content.decode()  # missing mobile
            refusals.flush()
        description = CATALOGUE[Code.INSUFFICIENT_BALANCE].description
        subjects = sorted(m.subject for m in mailoutbox)
        assert subjects == [
            f"API request refused: error 101 · {CATALOGUE[Code.MISSING_MOBILE].description}",
            f"API request refused: error 301 · {description}",
        ]
        body = next(m.body for m in mailoutbox if "301" in m.subject)
        assert "Error code:   301" in body and f"Description:  {description}" in body and "Billing" in body
        assert not sms_outbox  # other codes alert by email only
        clock.move_to(START + timedelta(seconds=700))
        with django_capture_on_commit_callbacks(execute=True):
            services.sweep()
    digest = mailoutbox[-1]
    assert digest.subject == "Digest: 4 more API requests refused"
    assert f"301 · {description}: 5" in digest.body


def test_refusals_without_a_company_alert_nobody(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _send(client, "not-a-key")
        refusals.flush()
    assert FailedRequest.objects.get().code == "207"
    assert not Alert.objects.exists() and not AlertWindow.objects.exists()


def test_a_failing_receiver_never_breaks_the_flush(client, company, new_key, monkeypatch, caplog):
    _, secret = new_key(company, ip_security=True)

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(services, "note_refusals", broken)
    _send(client, secret)
    assert refusals.flush() == 2  # the row and its Recent IP count
    assert FailedRequest.objects.filter(company=company).count() == 1
    assert "alerts: could not process 1 refusals: RuntimeError" in caplog.text


def test_the_receiver_costs_a_few_queries_per_flush_whatever_the_batch(
    client, company, new_key, django_assert_num_queries, django_capture_on_commit_callbacks
):
    _, secret = new_key(company, ip_security=True)
    with django_capture_on_commit_callbacks(execute=True):
        _send(client, secret)
        refusals.flush()  # the first: opens the window, alerts
    for _ in range(99):
        _send(client, secret)
    # The flush's own 4 (savepoint, batch insert, release, Recent IP update) and the receiver's 5
    # (savepoint, the open window, the dedupe lookup, the window's counter, release).
    with django_assert_num_queries(9):
        refusals.flush()
    assert AlertWindow.objects.get(company=company).refusals == 100


def test_a_cap_of_zero_switches_refusal_alerts_off_but_not_security_alerts(
    client, company, settings, mailoutbox, sms_outbox, django_capture_on_commit_callbacks
):
    settings.ALERTS_MAX_PER_COMPANY_PER_HOUR = 0
    with time_machine.travel(START, tick=False) as clock, django_capture_on_commit_callbacks(execute=True):
        _, secret = make_key(company=company, ip_security=True)
        for _ in range(3):
            _send(client, secret)
        refusals.flush()
        clock.move_to(START + timedelta(seconds=700))
        assert services.sweep()["digest_nothing"] == 1
    assert [m.subject.split(":")[0] for m in mailoutbox] == ["Security change"] and not sms_outbox
    assert set(_refusal_alerts(company).values_list("status", flat=True)) == {"suppressed"}
    assert AlertWindow.objects.get(company=company).digested_at is not None
