"""Delivery against a REAL local HTTP receiver: success, 410 disables, 3xx is a failure and is not
followed, 429/503 Retry-After, backoff with jitter and its bound, timeouts, the drain budget,
the sweeper, resend and purge."""

import random
import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from django.core.exceptions import ValidationError

from authkeys.models import SecurityEvent
from tests.factories import CompanyFactory
from tests.webhooks.receiver import Receiver, Reply
from webhooks import delivery, services
from webhooks.models import Delivery, Endpoint
from webhooks.tasks import drain_endpoint, sweep_webhooks

pytestmark = pytest.mark.django_db

Status = Delivery.Status
NOW = datetime(2030, 1, 15, 9, 0, tzinfo=UTC)


def _endpoint(url: str) -> Endpoint:
    return services.endpoint_create(company=CompanyFactory(), actor=None, url=url)[0]


def _queue(endpoint: Endpoint, n: int = 1) -> list[Delivery]:
    rows = [services.send_test_event(endpoint=endpoint) for _ in range(n)]
    Delivery.objects.filter(pk__in=[r.pk for r in rows]).update(next_retry_at=NOW)
    return rows


def _get(row: Delivery) -> Delivery:
    return Delivery.objects.get(pk=row.pk)


def test_a_2xx_answer_delivers(receiver) -> None:
    endpoint = _endpoint(receiver.url)
    receiver.reply(Reply(204))
    [row] = _queue(endpoint)

    result = delivery.drain(endpoint.pk, now=NOW)

    assert result == {"sent": 1, "delivered": 1, "retry": 0, "failed": 0, "more": False}
    row = _get(row)
    assert (row.status, row.attempts, row.last_status_code, row.last_error) == (Status.DELIVERED, 1, 204, "")
    assert row.latency_ms is not None and row.last_attempt_at == NOW and row.next_retry_at is None
    assert delivery.drain(endpoint.pk, now=NOW)["sent"] == 0  # idempotent: nothing sent twice
    assert len(receiver.requests) == 1


def test_a_long_reply_is_not_downloaded_and_the_next_event_still_goes_out(receiver) -> None:
    endpoint = _endpoint(receiver.url)
    receiver.reply(Reply(200, body=b"x" * 1_000_000), Reply(200))
    _queue(endpoint, 2)

    assert delivery.drain(endpoint.pk, now=NOW)["delivered"] == 2
    assert len(receiver.requests) == 2


def test_410_disables_the_endpoint_and_gives_up_its_queue(receiver) -> None:
    endpoint = _endpoint(receiver.url)
    receiver.reply(Reply(410))
    first, second, third = _queue(endpoint, 3)

    result = delivery.drain(endpoint.pk, now=NOW)

    assert result["disabled"] is True and result["failed"] == 1
    assert len(receiver.requests) == 1
    endpoint.refresh_from_db()
    assert endpoint.active is False
    assert "410 Gone" in endpoint.disabled_reason
    assert _get(first).status == Status.FAILED and _get(first).last_status_code == 410
    for row in (second, third):
        assert _get(row).status == Status.FAILED
        assert _get(row).attempts == 0
        assert _get(row).last_error.startswith("Endpoint disabled: The receiver answered 410 Gone")
    event = SecurityEvent.objects.get(kind=SecurityEvent.Kind.WEBHOOK_DISABLED)
    assert event.company_id == endpoint.company_id and event.actor_user is None
    # A disabled endpoint gets no new events.
    with pytest.raises(ValidationError):
        services.send_test_event(endpoint=endpoint)


def test_a_redirect_is_a_failure_and_is_not_followed(receiver) -> None:
    with Receiver() as elsewhere:
        endpoint = _endpoint(receiver.url)
        receiver.reply(Reply(302, {"Location": elsewhere.url}))
        first, second = _queue(endpoint, 2)

        result = delivery.drain(endpoint.pk, now=NOW, rng=random.Random(7))

        assert elsewhere.requests == []
    assert len(receiver.requests) == 1
    assert result["paused"].startswith("HTTP 302: redirect to http://127.0.0.1:")
    first = _get(first)
    assert first.status == Status.PENDING and first.attempts == 1 and first.last_status_code == 302
    assert "not followed" in first.last_error
    # The endpoint is paused: the rest of the batch waits for the same time without spending an attempt.
    second = _get(second)
    assert (second.status, second.attempts, second.next_retry_at) == (Status.PENDING, 0, first.next_retry_at)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_in_seconds_is_honoured(receiver, status: int) -> None:
    endpoint = _endpoint(receiver.url)
    receiver.reply(Reply(status, {"Retry-After": "120"}))
    [row] = _queue(endpoint)

    delivery.drain(endpoint.pk, now=NOW)

    row = _get(row)
    assert row.status == Status.PENDING and row.last_status_code == status
    assert row.next_retry_at == NOW + timedelta(seconds=120)
    assert row.last_error == f"HTTP {status}, Retry-After 120 s"


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_as_an_http_date_is_honoured(receiver, status: int) -> None:
    endpoint = _endpoint(receiver.url)
    receiver.reply(Reply(status, {"Retry-After": format_datetime(NOW + timedelta(minutes=7), usegmt=True)}))
    [row] = _queue(endpoint)

    delivery.drain(endpoint.pk, now=NOW)

    assert _get(row).next_retry_at == NOW + timedelta(minutes=7)


def test_retry_after_is_capped(receiver, settings) -> None:
    settings.WEBHOOK_RETRY_AFTER_MAX_SECONDS = 600
    endpoint = _endpoint(receiver.url)
    receiver.reply(Reply(429, {"Retry-After": "86400"}))
    [row] = _queue(endpoint)

    delivery.drain(endpoint.pk, now=NOW)

    assert _get(row).next_retry_at == NOW + timedelta(seconds=600)


def test_an_unreadable_retry_after_falls_back_to_the_backoff(receiver, settings) -> None:
    settings.WEBHOOK_BACKOFF_BASE_SECONDS = 100
    endpoint = _endpoint(receiver.url)
    receiver.reply(Reply(503, {"Retry-After": "soon"}))
    [row] = _queue(endpoint)

    delivery.drain(endpoint.pk, now=NOW)

    assert NOW + timedelta(seconds=50) <= _get(row).next_retry_at <= NOW + timedelta(seconds=100)


def test_failures_back_off_exponentially_with_jitter_until_the_bound(receiver, settings) -> None:
    settings.WEBHOOK_MAX_ATTEMPTS = 5
    settings.WEBHOOK_BACKOFF_BASE_SECONDS = 10
    settings.WEBHOOK_BACKOFF_MAX_SECONDS = 50
    endpoint = _endpoint(receiver.url)
    receiver.default = Reply(500)
    [row] = _queue(endpoint)
    now = NOW
    delays = []
    for attempt in range(1, 5):
        delivery.drain(endpoint.pk, now=now, rng=random.Random(attempt))
        current = _get(row)
        assert (current.status, current.attempts, current.last_error) == (Status.PENDING, attempt, "HTTP 500")
        delays.append((current.next_retry_at - now).total_seconds())
        # Not due before its time.
        assert delivery.drain(endpoint.pk, now=current.next_retry_at - timedelta(seconds=1))["sent"] == 0
        now = current.next_retry_at
    # Exponential (10, 20, 40, then capped at 50), each a random 50-100 % of that.
    for delay, ceiling in zip(delays, [10, 20, 40, 50], strict=True):
        assert ceiling / 2 <= delay <= ceiling
    assert len(set(delays)) == 4

    delivery.drain(endpoint.pk, now=now)

    final = _get(row)
    assert final.status == Status.FAILED and final.attempts == 5 and final.next_retry_at is None
    assert final.last_error == "gave up after 5 attempts; last: HTTP 500"
    assert len(receiver.requests) == 5
    assert delivery.drain(endpoint.pk, now=now + timedelta(days=1))["sent"] == 0


def test_a_4xx_concerns_one_event_and_the_drain_goes_on(receiver) -> None:
    endpoint = _endpoint(receiver.url)
    receiver.reply(Reply(400), Reply(200))
    first, second = _queue(endpoint, 2)

    result = delivery.drain(endpoint.pk, now=NOW)

    assert (result["retry"], result["delivered"]) == (1, 1)
    assert _get(first).status == Status.PENDING and _get(first).last_error == "HTTP 400"
    assert _get(second).status == Status.DELIVERED


def test_a_timeout_is_bounded_and_retried(receiver, settings) -> None:
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.3
    endpoint = _endpoint(receiver.url)
    receiver.reply(Reply(200, delay=2.0))
    [row] = _queue(endpoint)

    delivery.drain(endpoint.pk, now=NOW)

    row = _get(row)
    assert row.status == Status.PENDING and row.last_status_code is None
    assert row.last_error == "timed out after 0.3 s"


def test_a_refused_connection_is_retried(settings) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    endpoint = _endpoint(f"http://127.0.0.1:{port}/")
    [row] = _queue(endpoint)

    delivery.drain(endpoint.pk, now=NOW)

    row = _get(row)
    assert row.status == Status.PENDING and row.attempts == 1
    assert row.last_error == "could not connect"


def test_a_drain_sends_a_bounded_number_then_hands_over(receiver, settings) -> None:
    settings.WEBHOOK_DRAIN_BATCH = 2
    settings.WEBHOOK_DRAIN_MAX_EVENTS = 3
    endpoint = _endpoint(receiver.url)
    _queue(endpoint, 5)

    result = delivery.drain(endpoint.pk, now=NOW)
    assert (result["sent"], result["more"]) == (3, True)

    # The task re-enqueues itself while there is more (eager Celery in the tests).
    Delivery.objects.update(next_retry_at=datetime(2000, 1, 1, tzinfo=UTC))
    drain_endpoint(endpoint.pk)
    assert Delivery.objects.filter(status=Status.DELIVERED).count() == 5
    assert len(receiver.requests) == 5


def test_the_sweeper_releases_expired_leases_and_drains_due_endpoints(receiver) -> None:
    endpoint = _endpoint(receiver.url)
    stuck, due = _queue(endpoint, 2)
    past = datetime(2000, 1, 1, tzinfo=UTC)
    Delivery.objects.filter(pk=stuck.pk).update(status=Status.SENDING, next_retry_at=past)  # a dead worker
    Delivery.objects.filter(pk=due.pk).update(next_retry_at=past)

    assert sweep_webhooks() == {"released": 1, "endpoints": 1}

    assert {_get(stuck).status, _get(due).status} == {Status.DELIVERED}
    assert len(receiver.requests) == 2


def test_a_disabled_endpoint_sends_nothing_and_gives_up_its_queue(receiver) -> None:
    endpoint = _endpoint(receiver.url)
    [row] = _queue(endpoint)
    Endpoint.objects.filter(pk=endpoint.pk).update(active=False, disabled_reason="Disabled by a user")

    assert delivery.drain(endpoint.pk, now=NOW)["skipped"] == "endpoint disabled"

    assert receiver.requests == []
    assert _get(row).status == Status.FAILED


def test_resend_queues_a_delivered_or_failed_event_again_with_the_same_id(receiver) -> None:
    endpoint = _endpoint(receiver.url)
    receiver.reply(Reply(400))
    row = services.send_test_event(endpoint=endpoint)
    delivery.drain(endpoint.pk)
    Delivery.objects.filter(pk=row.pk).update(status=Status.FAILED)

    services.delivery_resend(delivery=row)
    delivery.drain(endpoint.pk)

    row = _get(row)
    assert (row.status, row.attempts) == (Status.DELIVERED, 1)
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == str(row.event_id)
    with pytest.raises(ValidationError, match="still queued"):
        services.delivery_resend(delivery=services.send_test_event(endpoint=endpoint))


def test_purge_deliveries_deletes_old_rows_in_batches_and_keeps_in_flight_ones(
    receiver, django_assert_max_num_queries
) -> None:
    endpoint = _endpoint(receiver.url)
    rows = _queue(endpoint, 7)
    old = datetime(2001, 1, 1, tzinfo=UTC)
    Delivery.objects.filter(pk__in=[r.pk for r in rows[:6]]).update(created_at=old)
    Delivery.objects.filter(pk=rows[0].pk).update(status=Status.SENDING)

    with django_assert_max_num_queries(4 * 2 + 1):
        deleted = services.purge_deliveries(older_than=datetime(2001, 6, 1, tzinfo=UTC), batch_size=2)

    assert deleted == 5
    assert set(Delivery.objects.values_list("pk", flat=True)) == {rows[0].pk, rows[6].pk}
    assert services.purge_deliveries(older_than=timedelta(days=1)) >= 0
