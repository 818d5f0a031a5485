"""Delivery of accepted messages: backends, the outbox state machine, the sweeper (eager Celery).

The real broker and worker are in test_delivery_worker.py.
"""

import io
import json
import uuid
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any, ClassVar
from unittest import mock

import pytest
import time_machine
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from kombu.exceptions import OperationalError

from messaging import delivery
from messaging.delivery import DeliveryError, Outcome, locmem, outbox, simulator
from messaging.delivery.base import BaseBackend
from messaging.models import Message, Recipient
from messaging.tasks import deliver_message, simulate_reports, sweep_outbox
from portal.celery import app
from tests.factories import CompanyFactory

pytestmark = pytest.mark.django_db

Delivery = Message.Delivery
Status = Recipient.Status


# --- Helpers and test backends -----------------------------------------------------------------


def make_message(
    msisdns: Sequence[str] = ("919876543210", "919876543211"),
    *,
    status: str = Status.ACCEPTED,
    **fields: Any,
) -> Message:
    """A committed-looking accepted message, as the pipeline writes it."""
    message = Message.objects.create(
        company=fields.pop("company", None) or CompanyFactory(),
        dialect="native",
        endpoint="/test",
        text=fields.pop("text", "Hello from the tests"),
        encoding="gsm7",
        parts=1,
        recipient_count=len(msisdns),
        credits=len(msisdns),
        **fields,
    )
    Recipient.objects.bulk_create(
        [Recipient(message=message, msisdn=m, message_uid=str(uuid.uuid4()), status=status) for m in msisdns],
        batch_size=1000,
    )
    return message


def reload(message: Message) -> Message:
    return Message.objects.get(pk=message.pk)


def statuses(message: Message) -> list[tuple[str, str, str]]:
    return list(message.recipients.order_by("pk").values_list("msisdn", "status", "error"))


def sent_numbers() -> list[str]:
    return [msisdn for _, msisdn, _ in locmem.outbox]


class RecordingBackend(locmem.Backend):
    chunks: ClassVar[list[int]] = []

    def send(self, message: Message, recipients: Sequence[Recipient]) -> list[Outcome]:
        type(self).chunks.append(len(recipients))
        return super().send(message, recipients)


class FlakyBackend(locmem.Backend):
    """Raises DeliveryError on the calls numbered in `fail_on` (1-based), then behaves."""

    calls: ClassVar[int] = 0
    fail_on: ClassVar[set[int]] = set()

    def send(self, message: Message, recipients: Sequence[Recipient]) -> list[Outcome]:
        type(self).calls += 1
        if type(self).calls in type(self).fail_on:
            raise DeliveryError("gateway unavailable (test)")
        return super().send(message, recipients)


class HalfSilentBackend(BaseBackend):
    """Answers for the first recipient only, with a status a backend must not report."""

    def send(self, message: Message, recipients: Sequence[Recipient]) -> list[Outcome]:
        return [Outcome(recipients[0].pk, Status.ACCEPTED, "")]


class TakeoverBackend(locmem.Backend):
    """While it sends, another worker's claim replaces this one (this worker's lease lapsed)."""

    def send(self, message: Message, recipients: Sequence[Recipient]) -> list[Outcome]:
        Message.objects.filter(pk=message.pk).update(delivery_attempts=message.delivery_attempts + 1)
        return super().send(message, recipients)


@pytest.fixture(autouse=True)
def delivery_outbox() -> Iterator[list[tuple[str, str, str]]]:
    locmem.outbox.clear()
    RecordingBackend.chunks = []
    FlakyBackend.calls = 0
    FlakyBackend.fail_on = set()
    yield locmem.outbox
    locmem.outbox.clear()


@pytest.fixture
def backend(settings: Any) -> Any:
    def use(cls: type) -> None:
        settings.SMS_DELIVERY_BACKEND = f"{cls.__module__}.{cls.__qualname__}"

    return use


@pytest.fixture
def eager_retries() -> Iterator[None]:
    """Let eager Celery run a task's retries in place. With eager propagation on (the test
    settings), Celery raises the first Retry instead of retrying."""
    saved = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False
    yield
    app.conf.task_eager_propagates = saved


@pytest.fixture
def frozen() -> Iterator[Any]:
    with time_machine.travel(timezone.now(), tick=False) as clock:
        yield clock


# --- Settings and backends -----------------------------------------------------------------------


def test_backend_comes_from_settings(settings: Any) -> None:
    assert isinstance(delivery.get_backend(), locmem.Backend)  # the test settings' choice
    settings.SMS_DELIVERY_BACKEND = "messaging.delivery.simulator.Backend"
    assert isinstance(delivery.get_backend(), simulator.Backend)
    assert isinstance(delivery.get_backend("messaging.delivery.console.Backend"), delivery.BaseBackend)


def test_the_sweeper_is_on_the_beat_schedule() -> None:
    [entry] = [e for e in app.conf.beat_schedule.values() if e["task"] == "messaging.tasks.sweep_outbox"]
    assert entry["schedule"] == 30.0
    assert sweep_outbox.name in app.tasks


def test_console_backend_prints_one_line_per_recipient() -> None:
    message = make_message(["919876543210", "15551234567"], text="two\nlines", sender="ACME")
    stream = io.StringIO()
    recipients = list(message.recipients.order_by("pk"))

    outcomes = delivery.get_backend("messaging.delivery.console.Backend", stream=stream).send(
        message, recipients
    )

    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert (
        lines[1]
        == f"SMS {message.request_id} {recipients[1].message_uid} from ACME to +15551234567: two\\nlines"
    )
    assert outcomes == [Outcome(r.pk, Status.ENROUTE) for r in recipients]


# --- enqueue → worker → backend ----------------------------------------------------------------


def test_a_committed_message_is_delivered_through_locmem(django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        message = make_message(["919876543210", "919876543211", "447700900123"], text="Your order shipped")
        transaction.on_commit(lambda: delivery.enqueue(message.pk))
        assert locmem.outbox == []  # nothing leaves before the commit

    assert locmem.outbox == [
        (message.request_id, "919876543210", "Your order shipped"),
        (message.request_id, "919876543211", "Your order shipped"),
        (message.request_id, "447700900123", "Your order shipped"),
    ]
    message = reload(message)
    assert (message.delivery, message.delivery_attempts, message.next_attempt_at) == (
        Delivery.SUBMITTED,
        1,
        None,
    )
    assert {status for _, status, _ in statuses(message)} == {Status.ENROUTE}


def test_enqueue_marks_enqueued_and_publishes_the_id_only(frozen: Any) -> None:
    message = make_message()
    with mock.patch.object(deliver_message, "apply_async") as apply_async:
        assert delivery.enqueue(message.pk) is None

    [call] = apply_async.call_args_list
    assert call.args == ((message.pk,),)
    assert json.loads(json.dumps(call.args[0])) == [message.pk]  # the JSON payload: the id, nothing else
    message = reload(message)
    assert message.delivery == Delivery.ENQUEUED
    assert message.next_attempt_at == timezone.now() + timedelta(seconds=60)


def test_enqueue_leaves_a_message_that_is_no_longer_pending_alone() -> None:
    message = make_message(delivery=Delivery.SUBMITTED)
    with mock.patch.object(deliver_message, "apply_async") as apply_async:
        delivery.enqueue(message.pk)
    apply_async.assert_not_called()
    assert reload(message).delivery == Delivery.SUBMITTED


def test_the_fast_path_inserts_enqueued_and_only_publishes(django_assert_num_queries: Any) -> None:
    message = make_message(**delivery.enqueued_fields())
    assert message.delivery == Delivery.ENQUEUED
    with mock.patch.object(deliver_message, "apply_async") as apply_async, django_assert_num_queries(0):
        assert delivery.publish(message.pk) is True
    apply_async.assert_called_once()
    later = timezone.now() + timedelta(hours=1)
    assert delivery.enqueued_fields(later) == {"delivery": Delivery.SCHEDULED, "next_attempt_at": later}


# --- Idempotency ---------------------------------------------------------------------------------


def test_a_redelivered_task_never_sends_twice() -> None:
    message = make_message()
    delivery.enqueue(message.pk)
    assert len(locmem.outbox) == 2

    assert deliver_message.delay(message.pk).get() == "skipped: submitted"
    assert deliver_message(message.pk) == "skipped: submitted"

    assert len(locmem.outbox) == 2
    assert reload(message).delivery_attempts == 1


def test_a_task_for_a_message_claimed_by_a_live_worker_does_nothing() -> None:
    lease = timezone.now() + timedelta(minutes=4)
    message = make_message(delivery=Delivery.SENDING, delivery_attempts=1, next_attempt_at=lease)

    assert deliver_message(message.pk) == "skipped: claimed by another worker"

    assert locmem.outbox == []
    assert (reload(message).delivery, reload(message).delivery_attempts) == (Delivery.SENDING, 1)


def test_a_crashed_workers_claim_expires_and_only_unsent_recipients_are_sent(frozen: Any) -> None:
    """A worker died after handing over two recipients: its lease lapses, the sweeper re-enqueues,
    the next claim sends only the two that were never handed over."""
    message = make_message(
        ["919800000001", "919800000002", "919800000003", "919800000004"],
        delivery=Delivery.SENDING,
        delivery_attempts=1,
        next_attempt_at=timezone.now() + timedelta(seconds=300),
    )
    first_two = list(message.recipients.order_by("pk").values_list("pk", flat=True)[:2])
    Recipient.objects.filter(pk__in=first_two).update(status=Status.ENROUTE)

    assert sweep_outbox() == {"due": 0, "published": 0}  # the lease still runs
    frozen.shift(301)
    assert sweep_outbox() == {"due": 1, "published": 1}

    assert sent_numbers() == ["919800000003", "919800000004"]
    message = reload(message)
    assert (message.delivery, message.delivery_attempts) == (Delivery.SUBMITTED, 2)


def test_a_worker_that_lost_its_claim_stops_after_the_chunk_in_hand(settings: Any, backend: Any) -> None:
    settings.SMS_DELIVERY_CHUNK_SIZE = 2
    backend(TakeoverBackend)
    message = make_message(["919800000001", "919800000002", "919800000003"])

    assert deliver_message(message.pk) == "stopped: claim lost"

    assert sent_numbers() == ["919800000001", "919800000002"]  # recorded: they were handed over
    assert [s for _, s, _ in statuses(message)] == [Status.ENROUTE, Status.ENROUTE, Status.ACCEPTED]
    assert reload(message).delivery == Delivery.SENDING  # the new claim's holder finishes it


def test_a_missing_or_invalid_outcome_is_recorded_as_failed(backend: Any) -> None:
    backend(HalfSilentBackend)
    message = make_message(["919800000001", "919800000002"])

    deliver_message(message.pk)

    assert statuses(message) == [
        ("919800000001", Status.FAILED, ""),
        ("919800000002", Status.FAILED, outbox.NO_OUTCOME_ERROR),
    ]
    assert reload(message).delivery == Delivery.SUBMITTED


# --- Scheduled messages and the sweeper ----------------------------------------------------------


def test_a_scheduled_message_is_not_sent_until_due_then_the_sweeper_sends_it(frozen: Any) -> None:
    send_at = timezone.now() + timedelta(hours=2)
    message = make_message(scheduled_at=send_at)

    delivery.enqueue(message.pk)  # the pipeline calls it for every committed message

    message = reload(message)
    assert (message.delivery, message.next_attempt_at) == (Delivery.SCHEDULED, send_at)
    assert deliver_message(message.pk) == "skipped: scheduled"  # a stray task sends nothing early
    frozen.move_to(send_at - timedelta(seconds=1))
    assert sweep_outbox()["due"] == 0
    assert locmem.outbox == []

    frozen.move_to(send_at)
    assert sweep_outbox() == {"due": 1, "published": 1}

    assert len(locmem.outbox) == 2
    assert reload(message).delivery == Delivery.SUBMITTED


def test_a_message_the_pipeline_stored_as_scheduled_is_swept_when_due(frozen: Any) -> None:
    """The pipeline may store SCHEDULED itself (recipients SCHEDULED, no next_attempt_at)."""
    send_at = timezone.now() + timedelta(minutes=10)
    message = make_message(scheduled_at=send_at, delivery=Delivery.SCHEDULED, status=Status.SCHEDULED)

    assert sweep_outbox()["due"] == 0
    frozen.move_to(send_at)
    assert sweep_outbox()["published"] == 1

    assert {s for _, s, _ in statuses(message)} == {Status.ENROUTE}
    assert len(locmem.outbox) == 2


def test_a_stale_enqueued_message_is_re_enqueued_by_the_sweeper(frozen: Any) -> None:
    """The task was published but lost (broker flushed, worker gone): the row still says ENQUEUED."""
    message = make_message()
    with mock.patch.object(deliver_message, "apply_async"):  # published into the void
        delivery.enqueue(message.pk)
    assert reload(message).delivery == Delivery.ENQUEUED

    frozen.shift(59)
    assert sweep_outbox()["due"] == 0
    frozen.shift(1)
    assert sweep_outbox() == {"due": 1, "published": 1}

    assert len(locmem.outbox) == 2
    assert reload(message).delivery == Delivery.SUBMITTED


def test_a_pending_message_whose_enqueue_never_ran_is_swept_once_stale(frozen: Any) -> None:
    """Committed, then the process died before its on_commit callback."""
    stale = make_message(created_at=timezone.now() - timedelta(seconds=61))
    fresh = make_message()  # on_commit is about to enqueue it: leave it alone

    assert sweep_outbox() == {"due": 1, "published": 1}

    assert reload(stale).delivery == Delivery.SUBMITTED
    assert reload(fresh).delivery == Delivery.PENDING


def test_the_sweeper_handles_a_bounded_batch_per_run(settings: Any, frozen: Any) -> None:
    settings.SMS_OUTBOX_SWEEP_BATCH = 2
    old = timezone.now() - timedelta(minutes=5)
    messages = [make_message(["919800000001"], created_at=old) for _ in range(3)]

    assert sweep_outbox() == {"due": 2, "published": 2}
    assert sweep_outbox() == {"due": 1, "published": 1}
    assert {reload(m).delivery for m in messages} == {Delivery.SUBMITTED}


# --- Broker outage -------------------------------------------------------------------------------

BROKER_DOWN = OperationalError("Error 111 connecting to 127.0.0.1:6390. Connection refused.")


def test_enqueue_survives_a_broker_outage_and_the_sweeper_delivers_later(
    django_capture_on_commit_callbacks: Any, frozen: Any, caplog: Any
) -> None:
    with (
        mock.patch.object(deliver_message, "apply_async", side_effect=BROKER_DOWN),
        django_capture_on_commit_callbacks(execute=True),
        transaction.atomic(),
    ):
        message = make_message()
        transaction.on_commit(lambda: delivery.enqueue(message.pk))  # raises nothing

    assert "left for the outbox sweeper" in caplog.text
    message = reload(message)
    assert (message.delivery, message.next_attempt_at) == (Delivery.PENDING, timezone.now())
    assert locmem.outbox == []

    with mock.patch.object(deliver_message, "apply_async", side_effect=BROKER_DOWN):
        result = sweep_outbox()  # still down: the sweeper gives up at once, loses nothing
    assert result["published"] == 0
    assert reload(message).delivery == Delivery.PENDING

    assert sweep_outbox() == {"due": 1, "published": 1}  # the broker is back
    assert len(locmem.outbox) == 2
    assert reload(message).delivery == Delivery.SUBMITTED


def test_the_sweeper_stops_at_the_first_broker_failure_and_keeps_the_rest_pending(frozen: Any) -> None:
    old = timezone.now() - timedelta(minutes=5)
    messages = [make_message(["919800000001"], created_at=old) for _ in range(3)]

    with mock.patch.object(deliver_message, "apply_async", side_effect=BROKER_DOWN) as apply_async:
        result = sweep_outbox()

    assert apply_async.call_count == 1
    assert (result["due"], result["published"]) == (3, 0)
    assert {(reload(m).delivery, reload(m).next_attempt_at) for m in messages} == {
        (Delivery.PENDING, timezone.now())
    }


# --- The simulator ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("msisdn", "on_submission", "final", "error"),
    [
        ("919876543210", Status.ENROUTE, Status.DELIVERED, ""),
        ("919876543213", Status.ENROUTE, Status.DELIVERED, ""),
        ("919876543216", Status.ENROUTE, Status.DELIVERED, ""),
        ("919876543217", Status.ENROUTE, Status.UNDELIVERABLE, "Absent subscriber"),
        ("919876543218", Status.ENROUTE, Status.EXPIRED, "Validity period expired"),
        ("919876543219", Status.ENROUTE, Status.FAILED, "Network failure"),
        ("919876543299", Status.REJECTED, Status.REJECTED, "Rejected by the network"),
    ],
)
def test_simulator_reports_are_decided_by_the_number(
    backend: Any, settings: Any, msisdn: str, on_submission: str, final: str, error: str
) -> None:
    backend(simulator.Backend)
    settings.SMS_SIMULATOR_REPORT_DELAY = 2.0
    message = make_message([msisdn, "919800000005"])

    with mock.patch.object(simulate_reports, "apply_async") as later:
        deliver_message(message.pk)

    later.assert_called_once_with((message.pk,), countdown=2.0)
    assert statuses(message)[0][1] == on_submission
    assert simulator.final_status(msisdn) == (final, error)

    simulate_reports(message.pk)  # what the worker runs after the countdown

    assert statuses(message) == [(msisdn, final, error), ("919800000005", Status.DELIVERED, "")]
    simulate_reports(message.pk)  # a redelivered report changes nothing
    assert statuses(message)[0] == (msisdn, final, error)


def test_simulator_end_to_end_in_eager_mode(backend: Any) -> None:
    backend(simulator.Backend)
    numbers = [f"91987654321{d}" for d in range(10)]
    message = make_message(numbers)

    delivery.enqueue(message.pk)

    assert [(m, s) for m, s, _ in statuses(message)] == [(m, simulator.final_status(m)[0]) for m in numbers]
    assert Recipient.objects.filter(message=message, status_at__gt=message.created_at).count() == 10


# --- Backend failures: bounded retries ------------------------------------------------------------


@pytest.mark.usefixtures("eager_retries")
def test_a_backend_failure_is_retried_with_backoff_until_it_succeeds(backend: Any) -> None:
    backend(FlakyBackend)
    FlakyBackend.fail_on = {1, 2}
    message = make_message()

    delivery.enqueue(message.pk)

    assert FlakyBackend.calls == 3
    assert len(locmem.outbox) == 2
    message = reload(message)
    assert (message.delivery, message.delivery_attempts) == (Delivery.SUBMITTED, 3)


@pytest.mark.usefixtures("eager_retries")
def test_retries_are_bounded_then_the_sweeper_backs_off(backend: Any, frozen: Any) -> None:
    backend(FlakyBackend)
    FlakyBackend.fail_on = set(range(1, 100))
    message = make_message()

    result = deliver_message.delay(message.pk)  # eager: the task and its 5 retries run here

    assert result.state == "FAILURE"
    assert isinstance(result.result, DeliveryError)

    assert FlakyBackend.calls == 6  # 1 + max_retries=5
    message = reload(message)
    assert (message.delivery, message.delivery_attempts) == (Delivery.ENQUEUED, 6)
    assert message.next_attempt_at == timezone.now() + outbox.retry_delay(6)
    assert outbox.retry_delay(6) == timedelta(seconds=60 * 2**5)
    assert outbox.retry_delay(60) == timedelta(hours=1)
    assert {s for _, s, _ in statuses(message)} == {Status.ACCEPTED}

    assert sweep_outbox()["due"] == 0  # no hot loop against a failing gateway
    frozen.shift(outbox.retry_delay(6).total_seconds())
    FlakyBackend.fail_on = set()
    assert sweep_outbox() == {"due": 1, "published": 1}
    assert reload(message).delivery == Delivery.SUBMITTED
    assert len(locmem.outbox) == 2


@pytest.mark.usefixtures("eager_retries")
def test_a_failure_in_a_later_chunk_resends_only_the_rest(backend: Any, settings: Any) -> None:
    settings.SMS_DELIVERY_CHUNK_SIZE = 2
    backend(FlakyBackend)
    FlakyBackend.fail_on = {2}  # the second chunk fails once
    numbers = [f"9198000000{i:02d}" for i in range(5)]
    message = make_message(numbers)

    delivery.enqueue(message.pk)  # fails, retried (eagerly), then completes

    assert sent_numbers() == numbers  # each number exactly once
    assert reload(message).delivery_attempts == 2


def test_a_failing_task_never_reaches_the_request(backend: Any) -> None:
    backend(FlakyBackend)
    FlakyBackend.fail_on = set(range(1, 100))
    message = make_message()

    delivery.enqueue(message.pk)  # eager mode runs the task here; its failure is logged, not raised

    message = reload(message)
    assert message.delivery == Delivery.ENQUEUED
    assert message.next_attempt_at is not None  # the sweeper comes back to it


def test_a_message_never_submitted_within_its_validity_expires(frozen: Any) -> None:
    created = timezone.now() - timedelta(hours=48, seconds=1)
    message = make_message(created_at=created)

    assert sweep_outbox()["due"] == 1

    assert locmem.outbox == []
    assert reload(message).delivery == Delivery.EXPIRED
    assert {(s, e) for _, s, e in statuses(message)} == {(Status.EXPIRED, outbox.EXPIRED_ERROR)}
    assert sweep_outbox()["due"] == 0


# --- Volume --------------------------------------------------------------------------------------


def test_2500_recipients_are_sent_in_chunks_with_a_bounded_number_of_queries(
    backend: Any, django_assert_max_num_queries: Any
) -> None:
    backend(RecordingBackend)
    message = make_message([f"91980{i:07d}" for i in range(2500)])

    # Claim: 2 queries; each chunk: SELECT, UPDATE recipients, the webhooks receiver's endpoint
    # lookup (recipient_statuses_changed), UPDATE message (lease, or SUBMITTED with the last chunk);
    # in tests every transaction adds SAVEPOINT and RELEASE.
    with django_assert_max_num_queries(2 + 3 * 4 + 2 * 4):
        result = deliver_message(message.pk)

    assert result == "submitted: 2500 recipients"
    assert RecordingBackend.chunks == [1000, 1000, 500]
    assert len(set(sent_numbers())) == 2500
    assert Recipient.objects.filter(message=message, status=Status.ENROUTE).count() == 2500


def test_simulated_reports_for_2500_recipients_take_a_handful_of_queries(
    django_assert_max_num_queries: Any,
) -> None:
    message = make_message([f"91980{i:07d}" for i in range(2500)], status=Status.ENROUTE)

    with django_assert_max_num_queries(7):
        assert simulate_reports(message.pk) == 2500

    counts = dict(message.recipients.values_list("status").annotate(n=Count("pk")).order_by())
    assert counts == {
        Status.DELIVERED: 1750,
        Status.UNDELIVERABLE: 250,
        Status.EXPIRED: 250,
        Status.FAILED: 250,
    }
