"""Coalesced publishing of delivery tasks for the API's accept path.

A request commits its Message already ENQUEUED (no write after the commit); then its delivery task
must reach the broker. Publishing one Celery task per message costs kombu's message building and
a broker round trip on every request (about a sixth of the accept path, bench/api.sh). Instead,
`publish_soon(message_id)` hands the id to this process's publisher thread, which publishes one
`deliver_messages(ids)` task for everything queued in the meantime (at most
`SMS_PUBLISH_BATCH` ids per task). After the first id arrives the thread lingers
`SMS_PUBLISH_LINGER_MS` (as Kafka producers' linger.ms) so that the requests of that moment share
one publish: a publish costs about as much CPU as the rest of an accept (kombu builds the message,
and each hand-over between the request and the thread costs a wake-up and a GIL switch), so one per
request would halve the send rate (bench/api.sh, case c). A message's hand-over to the broker is
delayed by at most the linger; 0 publishes at once.

Nothing can be lost by this: the row is ENQUEUED with `next_attempt_at` = commit time +
SMS_OUTBOX_STALE_SECONDS, so if the process dies before its thread publishes, or the broker is
down, the outbox sweeper publishes the message again (as for any lost task). A graceful exit
(atexit) publishes what is still queued. A batch the broker
refuses is put back to PENDING for the next sweep, as `delivery.publish` does for one message.

With CELERY_TASK_ALWAYS_EAGER (tests) or SMS_PUBLISH_COALESCE off, `publish_soon` publishes
inline, one task per message, as before.
"""

import atexit
import logging
import os
import queue
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError, connections
from django.utils import timezone

logger = logging.getLogger(__name__)

PublishBatch = Callable[[list[int]], None]


class Coalescer:
    """A daemon thread that calls `publish(batch)` with everything submitted since its last call
    (at most `max_batch` ids per call). Ids wait in the queue until they are published, so
    `drain()` (at interpreter exit) publishes whatever the thread has not taken yet. `publish`
    must not raise; if it does, the error is logged and the batch left to the sweeper."""

    def __init__(
        self,
        publish: PublishBatch,
        *,
        max_batch: int,
        linger_seconds: float = 0.0,
        linger: Callable[[float], object] = time.sleep,
    ) -> None:
        self._publish = publish
        self._max_batch = max(1, max_batch)
        self._linger_seconds = max(0.0, linger_seconds)
        self._linger = linger  # how the thread waits for company: time.sleep (tests pass an event)
        self._queue: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._submitted = threading.Event()
        self._thread = threading.Thread(target=self._run, name="delivery-publisher", daemon=True)
        self._thread.start()

    def submit(self, message_id: int) -> None:
        self._queue.put(message_id)
        self._submitted.set()

    def _run(self) -> None:
        while True:
            self._submitted.wait()
            if self._linger_seconds and self._max_batch > 1:
                # Sleep rather than wait on the queue: one wake-up per batch, not one per id.
                self._linger(self._linger_seconds)
            self._submitted.clear()  # an id submitted from here on is drained now or wakes us again
            self.drain()

    def drain(self) -> int:
        """Publish everything queued, in batches; returns how many ids were taken. Safe to call
        from another thread: each id is taken, and so published, once."""
        taken = 0
        while True:
            batch: list[int] = []
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if not batch:
                return taken
            taken += len(batch)
            try:
                self._publish(batch)
            except Exception as exc:  # never let the thread die: the sweeper covers the batch
                logger.error("could not publish %d delivery tasks: %s", len(batch), type(exc).__name__)


def publish_batch(message_ids: list[int]) -> None:
    """Publish one deliver_messages task; if the broker refuses, back to PENDING for the sweeper."""
    from messaging.delivery import BROKER_ERRORS, PUBLISH_RETRY_POLICY
    from messaging.models import Message
    from messaging.tasks import deliver_messages

    try:
        deliver_messages.apply_async((message_ids,), retry=True, retry_policy=PUBLISH_RETRY_POLICY)
    except BROKER_ERRORS as exc:
        logger.warning(
            "broker unreachable, %d messages left for the outbox sweeper: %s", len(message_ids), exc
        )
        try:
            Message.objects.filter(pk__in=message_ids, delivery=Message.Delivery.ENQUEUED).update(
                delivery=Message.Delivery.PENDING, next_attempt_at=timezone.now()
            )
        except DatabaseError:
            logger.exception("could not mark %d messages pending", len(message_ids))


def _publish_from_thread(message_ids: list[int]) -> None:
    """The publisher thread's call. The thread touches the database only when the broker refuses
    a batch; its connection is closed again afterwards rather than held open between outages."""
    try:
        publish_batch(message_ids)
    finally:
        connections.close_all()  # this thread's connections only (they are thread-local)


_coalescer: Coalescer | None = None
_coalescer_pid = 0
_lock = threading.Lock()


def _get_coalescer() -> Coalescer:
    global _coalescer, _coalescer_pid
    pid = os.getpid()
    if _coalescer is None or _coalescer_pid != pid:  # a forked worker starts its own thread
        with _lock:
            if _coalescer is None or _coalescer_pid != pid:
                _coalescer = Coalescer(
                    _publish_from_thread,
                    max_batch=settings.SMS_PUBLISH_BATCH,
                    linger_seconds=settings.SMS_PUBLISH_LINGER_MS / 1000,
                )
                _coalescer_pid = pid
    return _coalescer


def _drain_at_exit() -> None:
    """A worker's graceful shutdown (gunicorn runs atexit) publishes what its thread still holds
    queued, rather than leaving it to the sweeper's next pass."""
    if _coalescer is not None and _coalescer_pid == os.getpid():
        _coalescer.drain()


atexit.register(_drain_at_exit)


def coalescing() -> bool:
    return bool(settings.SMS_PUBLISH_COALESCE) and not getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False)


def publish_soon(message_id: int) -> None:
    """Have the delivery task of a committed ENQUEUED message published. Never raises."""
    if not coalescing():
        from messaging.delivery import publish

        publish(message_id)
        return
    try:
        _get_coalescer().submit(message_id)
    except Exception as exc:  # the row is ENQUEUED: the sweeper publishes it
        logger.error("could not queue message %s for publishing: %s", message_id, type(exc).__name__)
