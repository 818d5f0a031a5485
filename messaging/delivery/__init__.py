"""Delivery of accepted customer messages, in the manner of Django's email backends.

The backend is named by the SMS_DELIVERY_BACKEND setting (messaging.delivery.simulator.Backend by
default; .locmem for tests, .console for development). Delivery is driven from the database: the
Message row is the outbox (see messaging/delivery/outbox.py for the state machine), a Celery task
carrying only the message id does the sending, and a periodic sweeper re-enqueues whatever is
stuck, so a broker outage delays but never loses an accepted message.

The pipeline, after committing a Message (delivery=PENDING) and its Recipients:

    transaction.on_commit(lambda: delivery.enqueue(message.pk))

enqueue() never raises: if the broker is unreachable it logs a warning and leaves the row to the
sweeper.
"""

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.db.models import F, Q
from django.utils import timezone
from django.utils.module_loading import import_string
from kombu.exceptions import OperationalError as BrokerOperationalError

from messaging.delivery.base import BaseBackend, DeliveryError, Outcome
from messaging.models import Message

__all__ = [
    "BaseBackend",
    "DeliveryError",
    "Outcome",
    "enqueue",
    "enqueued_fields",
    "get_backend",
    "publish",
]

logger = logging.getLogger(__name__)

Delivery = Message.Delivery

#: Errors that mean "the broker did not take the task".
BROKER_ERRORS: tuple[type[BaseException], ...] = (BrokerOperationalError, OSError)

#: One immediate reconnection (a pooled connection to a restarted Redis is stale once), then give
#: up: the request must not wait for the broker (Celery's default policy would block ~0.6-6 s per
#: request during an outage), the sweeper retries.
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}


def get_backend(path: str | None = None, **kwargs: Any) -> BaseBackend:
    """An instance of the backend named by `path` or settings.SMS_DELIVERY_BACKEND."""
    backend_class = import_string(path or settings.SMS_DELIVERY_BACKEND)
    return backend_class(**kwargs)


def stale_after() -> timedelta:
    return timedelta(seconds=settings.SMS_OUTBOX_STALE_SECONDS)


def enqueued_fields(scheduled_at: datetime | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Outbox fields for a Message created already handed over (the fast path, see publish()):
    ENQUEUED and due for the sweeper after SMS_OUTBOX_STALE_SECONDS, or SCHEDULED and due at
    `scheduled_at` if that is in the future."""
    now = now or timezone.now()
    if scheduled_at is not None and scheduled_at > now:
        return {"delivery": Delivery.SCHEDULED, "next_attempt_at": scheduled_at}
    return {"delivery": Delivery.ENQUEUED, "next_attempt_at": now + stale_after()}


def enqueue(message_id: int) -> None:
    """Hand a committed PENDING message to the delivery worker. Call it on commit; never raises.

    PENDING → ENQUEUED (one conditional UPDATE), then the task is published; if the message is
    scheduled for later, PENDING → SCHEDULED instead and the sweeper enqueues it when due. A message
    that is no longer PENDING (the sweeper or a worker got there first) is left alone.
    """
    now = timezone.now()
    pending = Message.objects.filter(pk=message_id, delivery=Delivery.PENDING)
    try:
        marked = pending.filter(Q(scheduled_at__isnull=True) | Q(scheduled_at__lte=now)).update(
            delivery=Delivery.ENQUEUED, next_attempt_at=now + stale_after()
        )
        if not marked:
            pending.filter(scheduled_at__gt=now).update(
                delivery=Delivery.SCHEDULED, next_attempt_at=F("scheduled_at")
            )
            return
    except DatabaseError:
        # Committed and PENDING: the sweeper picks it up once it is stale.
        logger.exception("could not mark message %s enqueued; left for the outbox sweeper", message_id)
        return
    publish(message_id)


def send_task(message_id: int) -> None:
    """Publish messaging.tasks.deliver_message(message_id); raises BROKER_ERRORS if the broker is
    unreachable (and, in eager mode, whatever the task raised)."""
    from messaging.tasks import deliver_message

    deliver_message.apply_async((message_id,), retry=True, retry_policy=PUBLISH_RETRY_POLICY)


def publish(message_id: int) -> bool:
    """Publish the delivery task for a message already marked ENQUEUED. Never raises.

    On its own it is the fast path for a pipeline that inserts the Message with
    **enqueued_fields(): no database write after the commit. If the broker is unreachable the
    message goes back to PENDING, due for the next sweep; returns whether the broker took the task.
    """
    try:
        send_task(message_id)
    except BROKER_ERRORS as exc:
        logger.warning("broker unreachable, message %s left for the outbox sweeper: %s", message_id, exc)
        try:
            Message.objects.filter(pk=message_id, delivery=Delivery.ENQUEUED).update(
                delivery=Delivery.PENDING, next_attempt_at=timezone.now()
            )
        except DatabaseError:
            logger.exception("could not mark message %s pending", message_id)
        return False
    except Exception:
        # Eager mode (tests, CELERY_TASK_ALWAYS_EAGER): the task ran here and failed; the row says
        # what is left to do and the sweeper will come back to it.
        logger.exception("delivery of message %s failed", message_id)
        return False
    return True
