"""The coalescing publisher of delivery tasks (messaging/delivery/publisher.py)."""

import threading

import pytest

from messaging.delivery import publisher
from messaging.models import Message
from tests.messaging.test_delivery import make_message

WAIT = 10.0


class Recorder:
    """The publish callback: records batches and lets the test wait for them (bounded)."""

    def __init__(self, *, hold_first: bool = False, fail_first: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.changed = threading.Condition()
        self.first_taken = threading.Event()
        self.release = threading.Event()
        self.hold_first, self.fail_first = hold_first, fail_first

    def __call__(self, batch: list[int]) -> None:
        first = not self.first_taken.is_set()
        self.first_taken.set()
        if first and self.hold_first:
            self.release.wait(WAIT)  # the first publish is slow: the rest queue up meanwhile
        with self.changed:
            self.batches.append(batch)
            self.changed.notify_all()
        if first and self.fail_first:
            raise RuntimeError("boom")

    def wait_for(self, published: int) -> None:
        with self.changed:
            done = self.changed.wait_for(lambda: sum(map(len, self.batches)) >= published, timeout=WAIT)
        assert done, f"only {self.batches} were published, expected {published} ids"


def test_ids_queued_while_publishing_go_out_together_each_exactly_once():
    recorder = Recorder(hold_first=True)
    coalescer = publisher.Coalescer(recorder, max_batch=40)
    coalescer.submit(0)
    assert recorder.first_taken.wait(WAIT)  # the thread holds the first id
    for message_id in range(1, 101):
        coalescer.submit(message_id)
    recorder.release.set()
    recorder.wait_for(101)
    assert sorted(i for batch in recorder.batches for i in batch) == list(range(101))
    assert recorder.batches[0] == [0]
    assert [len(b) for b in recorder.batches[1:]] == [40, 40, 20]


def test_a_failing_publish_does_not_stop_the_thread():
    recorder = Recorder(fail_first=True)
    coalescer = publisher.Coalescer(recorder, max_batch=10)
    coalescer.submit(1)
    recorder.wait_for(1)
    coalescer.submit(2)
    recorder.wait_for(2)
    assert recorder.batches == [[1], [2]]


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


def test_the_thread_lingers_after_the_first_id_so_that_ids_of_that_moment_share_one_publish():
    recorder = Recorder()
    lingering, linger_over = threading.Event(), threading.Event()

    def linger(seconds: float) -> None:  # stands in for time.sleep: the test decides when it ends
        assert seconds == 0.05
        lingering.set()
        assert linger_over.wait(WAIT)

    coalescer = publisher.Coalescer(recorder, max_batch=100, linger_seconds=0.05, linger=linger)
    coalescer.submit(1)
    assert lingering.wait(WAIT)
    for message_id in range(2, 6):
        coalescer.submit(message_id)
    assert recorder.batches == []  # nothing is published while the thread lingers
    linger_over.set()
    recorder.wait_for(5)
    assert recorder.batches == [[1, 2, 3, 4, 5]]


def test_no_linger_publishes_without_waiting():
    recorder = Recorder()

    def linger(seconds: float) -> None:
        raise AssertionError("a coalescer without linger never waits")

    coalescer = publisher.Coalescer(recorder, max_batch=100, linger_seconds=0, linger=linger)
    coalescer.submit(7)
    recorder.wait_for(1)
    assert recorder.batches == [[7]]


def test_drain_publishes_what_the_thread_has_not_taken_each_id_once():
    recorder = Recorder()
    lingering, linger_over = threading.Event(), threading.Event()

    def linger(seconds: float) -> None:
        lingering.set()
        assert linger_over.wait(WAIT)

    coalescer = publisher.Coalescer(recorder, max_batch=2, linger_seconds=1.0, linger=linger)
    for message_id in range(1, 6):
        coalescer.submit(message_id)
    assert lingering.wait(WAIT)  # the thread is lingering: everything is still queued
    assert coalescer.drain() == 5  # as at interpreter exit
    assert recorder.batches == [[1, 2], [3, 4], [5]]
    linger_over.set()
    coalescer.submit(6)
    recorder.wait_for(6)
    assert sorted(i for batch in recorder.batches for i in batch) == [1, 2, 3, 4, 5, 6]
