"""The coalescing publisher of delivery tasks (messaging/delivery/publisher.py)."""

import threading
import time

import pytest

from messaging.delivery import publisher
from messaging.models import Message
from tests.messaging.test_delivery import make_message

WAIT = 10.0


def _wait(condition, what):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_ids_queued_while_publishing_go_out_together_each_exactly_once():
    batches: list[list[int]] = []
    release = threading.Event()

    def publish(batch: list[int]) -> None:
        if not batches:
            release.wait(WAIT)  # the first publish is slow: the rest queue up meanwhile
        batches.append(batch)

    coalescer = publisher.Coalescer(publish, max_batch=40)
    coalescer.submit(0)
    _wait(lambda: coalescer._queue.empty(), "the thread to take the first id")
    for message_id in range(1, 101):
        coalescer.submit(message_id)
    release.set()
    _wait(lambda: sum(len(b) for b in batches) == 101, "every id to be published")
    assert sorted(i for batch in batches for i in batch) == list(range(101))
    assert batches[0] == [0]
    assert [len(b) for b in batches[1:]] == [40, 40, 20]


def test_a_failing_publish_does_not_stop_the_thread():
    seen: list[list[int]] = []

    def publish(batch: list[int]) -> None:
        seen.append(batch)
        if len(seen) == 1:
            raise RuntimeError("boom")

    coalescer = publisher.Coalescer(publish, max_batch=10)
    coalescer.submit(1)
    _wait(lambda: len(seen) == 1, "the failing publish")
    coalescer.submit(2)
    _wait(lambda: len(seen) == 2, "the next publish")
    assert seen == [[1], [2]]


def test_eager_mode_publishes_inline(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.SMS_PUBLISH_COALESCE = True
    assert not publisher.coalescing()
    settings.CELERY_TASK_ALWAYS_EAGER = False
    assert publisher.coalescing()
    settings.SMS_PUBLISH_COALESCE = False
    assert not publisher.coalescing()


@pytest.mark.django_db
def test_a_batch_the_broker_refuses_is_left_pending_for_the_sweeper(settings):
    from portal.celery import app
    from tests.celery_worker import switch_broker

    messages = [make_message(delivery=Message.Delivery.ENQUEUED) for _ in range(3)]
    other = make_message(delivery=Message.Delivery.SUBMITTED)
    with switch_broker(settings, "redis://127.0.0.1:6390/0", "nobody-listens"):  # nothing listens there
        assert app.conf.broker_url.endswith(":6390/0")
        publisher.publish_batch([m.pk for m in messages] + [other.pk])
    states = dict(Message.objects.values_list("pk", "delivery"))
    assert [states[m.pk] for m in messages] == [Message.Delivery.PENDING] * 3
    assert states[other.pk] == Message.Delivery.SUBMITTED  # not ENQUEUED: left alone
