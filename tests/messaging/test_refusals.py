"""The refusal buffer (messaging/refusals.py): Failed Logs rows and Recent IP counts written in
batches, never raising, bounded."""

import logging
import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alerts.receivers import on_refusals_recorded
from authkeys import auth
from authkeys.models import AuthKey, RecentIP
from messaging import refusals
from messaging.models import FailedRequest
from messaging.signals import refusals_recorded
from tests.factories import CompanyFactory, make_key

pytestmark = pytest.mark.django_db

URL = "/api/sendhttp.php"
BAD_IP = "198.51.100.9"


@pytest.fixture(autouse=True)
def _batched(settings):
    settings.AUTHKEY_LOCAL_CACHE_SECONDS = 0
    auth._local.clear()
    settings.FAILED_REQUEST_BATCH_SIZE = 100
    settings.FAILED_REQUEST_FLUSH_SECONDS = 0  # no timer thread: the tests flush explicitly
    refusals.flush()
    refusals._last_used.clear()
    yield
    refusals.flush()


@pytest.fixture
def company():
    return CompanyFactory(sms_balance=100)


@pytest.fixture
def ip_key(company):
    return make_key(company=company, ip_security=True)  # an empty allow-list: 418 from anywhere


def _send(client, secret, ip=BAD_IP, text="Hello"):
    return client.get(
        URL,
        {"authkey": secret, "mobiles": "919876543210", "message": text, "sender": "ACMEIN"},
        REMOTE_ADDR=ip,
    )


def test_refusals_are_buffered_until_flushed(client, ip_key):
    for _ in range(3):
        assert "418" in _send(client, ip_key[1]).content.decode()
    assert FailedRequest.objects.count() == 0 and not RecentIP.objects.exists()
    assert refusals.pending() == (3, 1)
    assert refusals.flush() == 4
    assert refusals.pending() == (0, 0)
    assert (
        list(FailedRequest.objects.values_list("code", "authkey_id", "client_ip"))
        == [("418", ip_key[0].pk, BAD_IP)] * 3
    )


def test_recent_ip_counts_are_aggregated_into_one_write_per_ip(client, ip_key, django_assert_num_queries):
    for _ in range(5):
        _send(client, ip_key[1])
    _send(client, ip_key[1], ip="198.51.100.10")
    # savepoint + bulk insert + release; per new IP: UPDATE, then savepoint + INSERT + release
    # (the flush's own statements: the alerts receiver of refusals_recorded runs its own)
    refusals_recorded.disconnect(on_refusals_recorded)
    try:
        with django_assert_num_queries(3 + 2 * 4):
            refusals.flush()
    finally:
        refusals_recorded.connect(on_refusals_recorded)
    counts = dict(RecentIP.objects.values_list("ip", "request_count"))
    assert counts == {BAD_IP: 5, "198.51.100.10": 1}
    assert set(RecentIP.objects.values_list("last_code", flat=True)) == {"418"}
    for _ in range(2):
        _send(client, ip_key[1])
    refusals.flush()
    assert RecentIP.objects.get(ip=BAD_IP).request_count == 7


def test_a_full_batch_is_written_by_the_request_that_fills_it(client, ip_key, settings, monkeypatch):
    monkeypatch.setattr(refusals, "_in_transaction", lambda: False)  # as in a view, outside the test's
    settings.FAILED_REQUEST_BATCH_SIZE = 3  # 2 rows + 1 Recent IP group
    _send(client, ip_key[1])
    assert refusals.pending() == (1, 1) and not FailedRequest.objects.exists()
    _send(client, ip_key[1])  # its row fills the batch; its Recent IP count starts the next one
    assert refusals.pending() == (0, 1)
    assert FailedRequest.objects.count() == 2 and RecentIP.objects.get().request_count == 1


def test_no_batch_is_written_inside_another_transaction(client, ip_key, settings):
    # pytest-django's test transaction stands for a caller's atomic block: a rollback there must
    # not take other requests' rows with it, so the batch waits for the timer or flush().
    settings.FAILED_REQUEST_BATCH_SIZE = 2
    _send(client, ip_key[1])
    assert refusals.pending() == (1, 1) and not FailedRequest.objects.exists()


def test_unknown_keys_are_buffered_without_a_company(client):
    _send(client, "not-a-key")
    assert refusals.pending() == (1, 0)
    refusals.flush()
    failed = FailedRequest.objects.get()
    assert failed.company_id is None and failed.code == "207"


def test_successes_count_recent_ips_and_mark_the_key_once_per_minute(client, company):
    key, secret = make_key(company=company, ip_security=False)
    assert _send(client, secret, text="one").status_code == 200
    assert AuthKey.objects.get(pk=key.pk).last_used_at is not None
    with CaptureQueriesContext(connection) as queries:
        assert _send(client, secret, text="two").status_code == 200
    written = [
        q["sql"] for q in queries.captured_queries if "recentip" in q["sql"] or "authkeys_authkey" in q["sql"]
    ]
    assert written == []  # no Recent IP nor last-used write on the hot path
    refusals.flush()
    recent = RecentIP.objects.get()
    assert recent.request_count == 2 and recent.last_outcome == RecentIP.Outcome.ACCEPTED


def test_a_flush_error_is_logged_and_never_raised(client, ip_key, caplog, monkeypatch):
    _send(client, ip_key[1])

    def broken(*args, **kwargs):
        raise RuntimeError("database is gone")

    monkeypatch.setattr(refusals, "_insert_rows", broken)
    with caplog.at_level(logging.ERROR, logger="messaging.refusals"):
        assert refusals.flush() == 0
    assert "could not write 1 refusals and 1 Recent IP counts: RuntimeError" in caplog.text
    assert "database is gone" not in caplog.text
    assert refusals.pending() == (0, 0)  # dropped, not retried forever
    assert not FailedRequest.objects.exists() and not RecentIP.objects.exists()


def test_the_buffer_is_bounded_and_drops_are_reported(client, ip_key, settings, caplog):
    settings.FAILED_REQUEST_BUFFER_MAX = 2
    for _ in range(5):
        assert "418" in _send(client, ip_key[1]).content.decode()  # the reply is unaffected
    assert refusals.pending() == (2, 1)
    with caplog.at_level(logging.WARNING, logger="messaging.refusals"):
        refusals.flush()
    assert "3 refusals or Recent IP counts were not recorded" in caplog.text
    assert FailedRequest.objects.count() == 2
    assert RecentIP.objects.get().request_count == 5  # counting an existing group is free


def test_batch_size_one_is_synchronous(client, ip_key, settings):
    settings.FAILED_REQUEST_BATCH_SIZE = 1
    _send(client, ip_key[1])
    assert refusals.pending() == (0, 0)
    assert FailedRequest.objects.get().code == "418"
    assert RecentIP.objects.get().request_count == 1


@pytest.mark.django_db(transaction=True)
def test_the_flush_thread_writes_within_the_interval(client, settings):
    settings.FAILED_REQUEST_FLUSH_SECONDS = 0.05
    written = threading.Event()

    def on_flush(**kwargs: object) -> None:
        written.set()

    refusals_recorded.connect(on_flush, weak=False)
    try:
        _send(client, "not-a-key")  # no company: nothing the thread's own connection cannot see
        assert written.wait(5), "the flush thread did not write within 5 s"
    finally:
        refusals_recorded.disconnect(on_flush)
    assert FailedRequest.objects.get().code == "207"
    assert refusals.pending() == (0, 0)
    settings.FAILED_REQUEST_FLUSH_SECONDS = 0  # the thread closes its connection and ends
    refusals._wake.set()
    refusals._timer.join(timeout=5)
    assert not refusals._timer.is_alive()


def test_the_buffered_row_covers_every_failed_logs_column_but_the_key():
    # The flush writes RefusalRow tuples as they are (COPY on PostgreSQL): a column added to
    # FailedRequest must be added to RefusalRow, or rows would silently lack it.
    model_fields = {f.name for f in FailedRequest._meta.concrete_fields if not f.primary_key}
    assert set(refusals._COPY_FIELDS) == model_fields
    assert len(refusals._COPY_FIELDS) == len(refusals.RefusalRow._fields)


def test_every_field_of_a_flushed_row_is_stored_as_buffered(ip_key):
    from datetime import UTC, datetime

    at = datetime(2026, 11, 2, 10, 30, 15, 123456, tzinfo=UTC)
    refusals.record_refusal(
        company_id=ip_key[0].company_id,
        authkey_id=ip_key[0].pk,
        key_prefix="smsp_AbCd",
        code="418",
        reason="tab\there, newline\nthere, back\\slash, “quotes”",
        dialect="msg91",
        endpoint="/api/sendhttp.php",
        method="POST",
        client_ip="2001:db8::7",
        created_at=at,
    )
    refusals.record_refusal(
        company_id=None,
        code="207",
        reason="",
        dialect="infobip",
        endpoint="/sms/3/messages",
        method="GET",
        client_ip=None,
    )
    assert refusals.flush() == 2
    stored = {row["code"]: row for row in FailedRequest.objects.values()}
    assert {k: v for k, v in stored["418"].items() if k != "id"} == {
        "company_id": ip_key[0].company_id,
        "authkey_id": ip_key[0].pk,
        "key_prefix": "smsp_AbCd",
        "code": "418",
        "reason": "tab\there, newline\nthere, back\\slash, “quotes”",
        "dialect": "msg91",
        "endpoint": "/api/sendhttp.php",
        "method": "POST",
        "client_ip": "2001:db8::7",
        "created_at": at,
    }
    unknown = stored["207"]
    assert (unknown["company_id"], unknown["authkey_id"], unknown["client_ip"], unknown["key_prefix"]) == (
        None,
        None,
        None,
        "",
    )
    assert unknown["created_at"] is not None
