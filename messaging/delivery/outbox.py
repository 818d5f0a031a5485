"""The delivery outbox: the Message row drives delivery, Celery only carries its id.

State machine of Message.delivery (next_attempt_at is, in every state, "when the sweeper may act
on this row next"; NULL means "derive it from created_at / scheduled_at"):

    PENDING ──enqueue()/sweep──▶ ENQUEUED ──deliver: claim──▶ SENDING ──all chunks sent──▶ SUBMITTED
      ▲  ╲                          ▲  ▲                        │ │
      │   ╲ scheduled_at > now      │  └── DeliveryError: ──────┘ │ lease (next_attempt_at)
      │    ▼                        │      release, backoff       │ expired: the sweeper
      │  SCHEDULED ──due: sweep─────┘                             │ re-enqueues it
      │                                                           ▼
      └── broker unreachable when publishing                   (ENQUEUED)
    any unsent state past its deadline when claimed (or waiting past expires_at when swept) ──▶ EXPIRED

PENDING    committed, not (known to be) in the broker. next_attempt_at NULL: due
           SMS_OUTBOX_STALE_SECONDS after created_at (on_commit normally enqueues it long before);
           set to now after a failed publish, so the next sweep retries it.
SCHEDULED  waits for scheduled_at (next_attempt_at = scheduled_at, or NULL: scheduled_at is used).
ENQUEUED   a deliver_message task was published; if it has not claimed the row within
           SMS_OUTBOX_STALE_SECONDS (task lost, worker dead) the sweeper publishes another one.
SENDING    claimed by one worker: delivery_attempts was incremented in the claiming transaction and
           its value is the claim's fencing token; next_attempt_at is the lease deadline
           (SMS_DELIVERY_LEASE_SECONDS), renewed after every chunk. A crashed worker's lease expires
           and the sweeper re-enqueues the row; the next claim sends only recipients still unsent.
SUBMITTED  every recipient was handed to the gateway (or refused by it). Terminal.
EXPIRED    gave up: still unsent at the message's deadline (deadline()): its expires_at (the
           client's GatewayAPI `expiration` / Infobip `validityPeriod`, capped at the default),
           else SMS_DELIVERY_VALIDITY_SECONDS (default 48 h, Infobip's default validity period)
           after created_at/scheduled_at; unsent recipients are EXPIRED. Terminal. A claim checks
           the deadline before sending; the sweeper also expires waiting (not SENDING) messages
           whose expires_at has passed, so their status is right without a worker.

"Never sends twice": a claim is exclusive (row lock + state check in one transaction), a task that
finds the row SUBMITTED, EXPIRED or SENDING under a live lease does nothing, and recipients are
marked (ACCEPTED/SCHEDULED → ENROUTE, …) in a commit after each chunk, so a later claim only sends
what was not handed over. The one window left is a crash between the gateway accepting a chunk
and the commit of that chunk's statuses: at most one chunk can be handed over again, with the
same per-recipient message_uid (the gateway's idempotency key). "Never loses": every unsent state
has a next_attempt_at after which the sweeper re-publishes, until it is SUBMITTED or EXPIRED.
"""

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from messaging import delivery, sealing
from messaging.models import Message, Recipient
from messaging.signals import recipient_statuses_changed

logger = logging.getLogger(__name__)

Delivery = Message.Delivery
Status = Recipient.Status

#: Recipient statuses that have not been handed to the gateway yet.
UNSENT = (Status.ACCEPTED, Status.SCHEDULED)
#: Message states the sweeper looks after.
ACTIVE = (Delivery.PENDING, Delivery.SCHEDULED, Delivery.ENQUEUED, Delivery.SENDING)
#: Statuses a backend may report for a recipient it was given.
HANDED_OVER = frozenset(Status) - frozenset(UNSENT)

NO_OUTCOME_ERROR = "The gateway returned no outcome for this number"
EXPIRED_ERROR = "Not submitted within the validity period"


def _locked(queryset: QuerySet[Message]) -> QuerySet[Message]:
    """SELECT … FOR NO KEY UPDATE SKIP LOCKED where the database has it (PostgreSQL); SQLite has
    no row locks and serialises writers (its transactions here are IMMEDIATE)."""
    features = connection.features
    return queryset.select_for_update(
        skip_locked=features.has_select_for_update_skip_locked,
        no_key=features.has_select_for_no_key_update,
    )


def _lease(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.SMS_DELIVERY_LEASE_SECONDS)


def retry_delay(attempts: int) -> timedelta:
    """How long the sweeper leaves a message whose attempt failed: SMS_OUTBOX_STALE_SECONDS,
    doubling with every attempt, at most SMS_DELIVERY_MAX_BACKOFF_SECONDS. (The task's own Celery
    retries come much sooner; this is the backstop once they are exhausted.)"""
    seconds = settings.SMS_OUTBOX_STALE_SECONDS * 2 ** min(max(attempts - 1, 0), 20)
    return timedelta(seconds=min(seconds, settings.SMS_DELIVERY_MAX_BACKOFF_SECONDS))


def _claimed(message_id: int, token: int) -> QuerySet[Message]:
    return Message.objects.filter(pk=message_id, delivery=Delivery.SENDING, delivery_attempts=token)


def deadline(message: Message) -> datetime:
    """When the message expires if not submitted: its own expires_at (the client's expiration or
    validity period, already capped at the default), else SMS_DELIVERY_VALIDITY_SECONDS after
    its schedule time or acceptance."""
    if message.expires_at is not None:
        return message.expires_at
    validity = timedelta(seconds=settings.SMS_DELIVERY_VALIDITY_SECONDS)
    return (message.scheduled_at or message.created_at) + validity


def _expire(message_ids: list[int], now: datetime) -> None:
    """Unsent recipients → EXPIRED and the messages → EXPIRED (inside the caller's transaction,
    with the rows locked)."""
    if Recipient.objects.filter(message_id__in=message_ids, status__in=UNSENT).update(
        status=Status.EXPIRED, error=EXPIRED_ERROR, status_at=now
    ):
        for message_id in message_ids:  # a receiver finds each message's changed rows by status_at
            recipient_statuses_changed.send(Recipient, message_id=message_id, changed_at=now)
    Message.objects.filter(pk__in=message_ids).update(delivery=Delivery.EXPIRED, next_attempt_at=None)
    _redact(Message.objects.filter(pk__in=message_ids))


def _redact(messages: QuerySet[Message]) -> None:
    """Clear the sealed real text of finished messages (an OTP SMS keeps its code, sealed, only
    until it is handed over): one UPDATE, matching nothing for most."""
    messages.exclude(sealed_text="").update(sealed_text="")


def expire_overdue(now: datetime) -> int:
    """Expire messages whose own expires_at has passed while they wait (PENDING, SCHEDULED,
    ENQUEUED: not while a worker holds them SENDING), so their recipients read EXPIRED on time
    even when no worker comes by. The sweeper calls it; a worker's claim checks the deadline too,
    so nothing is ever handed to the gateway after it."""
    waiting = (Delivery.PENDING, Delivery.SCHEDULED, Delivery.ENQUEUED)
    with transaction.atomic():
        ids = list(
            _locked(Message.objects.filter(delivery__in=waiting, expires_at__lte=now))
            .order_by()
            .values_list("pk", flat=True)[: settings.SMS_OUTBOX_SWEEP_BATCH]
        )
        if ids:
            _expire(ids, now)
    if ids:
        logger.warning("outbox sweep: %s messages expired before they could be submitted", len(ids))
    return len(ids)


def _claim(message_id: int) -> tuple[Message, int] | str:
    """Claim the message for this worker, or say why not."""
    now = timezone.now()
    with transaction.atomic():
        try:
            message = _locked(Message.objects.filter(pk=message_id)).get()
        except Message.DoesNotExist:
            return "skipped: missing or locked by another worker"
        if message.delivery in (Delivery.SUBMITTED, Delivery.EXPIRED):
            return f"skipped: {message.delivery}"
        if message.delivery == Delivery.SENDING and message.next_attempt_at and message.next_attempt_at > now:
            return "skipped: claimed by another worker"
        if message.scheduled_at and message.scheduled_at > now:
            if message.delivery != Delivery.SCHEDULED or message.next_attempt_at != message.scheduled_at:
                message.delivery = Delivery.SCHEDULED
                message.next_attempt_at = message.scheduled_at
                message.save(update_fields=["delivery", "next_attempt_at"])
            return "skipped: scheduled"
        if deadline(message) <= now:
            _expire([message_id], now)
            logger.warning("message %s expired before it could be submitted", message_id)
            return "expired"
        message.delivery = Delivery.SENDING
        message.delivery_attempts += 1
        message.next_attempt_at = _lease(now)
        message.save(update_fields=["delivery", "delivery_attempts", "next_attempt_at"])
    return message, message.delivery_attempts


def _record(message_id: int, chunk: list[Recipient], outcomes: list[delivery.Outcome]) -> None:
    """Store the outcomes of one chunk: one UPDATE per distinct (status, error), usually one."""
    now = timezone.now()
    ids = {r.pk for r in chunk}
    groups: defaultdict[tuple[str, str], list[int]] = defaultdict(list)
    for outcome in outcomes:
        if outcome.recipient_id in ids:
            status = outcome.status if outcome.status in HANDED_OVER else Status.FAILED
            groups[status, outcome.error[:120]].append(outcome.recipient_id)
            ids.discard(outcome.recipient_id)
    if ids:
        groups[Status.FAILED, NO_OUTCOME_ERROR].extend(ids)
    unsent = Recipient.objects.filter(status__in=UNSENT)
    changed = 0
    for (status, error), pks in groups.items():
        changed += unsent.filter(pk__in=pks).update(status=status, error=error, status_at=now)
    if changed:
        recipient_statuses_changed.send(Recipient, message_id=message_id, changed_at=now)


def deliver(message_id: int) -> str:
    """Claim the message, hand its unsent recipients to the backend in chunks, mark it SUBMITTED.

    Raises DeliveryError (after releasing the claim) when the backend cannot take a chunk, for the
    task to retry. Returns a short description of what happened (task result, logs, tests).
    """
    claim = _claim(message_id)
    if isinstance(claim, str):
        return claim
    message, token = claim
    if message.sealed_text:
        # In memory only, for the backend: the row keeps the masked text.
        message.text = sealing.unseal(message.sealed_text)
    backend = delivery.get_backend()
    unsent = (
        Recipient.objects.filter(message_id=message_id, status__in=UNSENT)
        .order_by("pk")
        .only("pk", "msisdn", "message_uid")
    )
    size = settings.SMS_DELIVERY_CHUNK_SIZE
    last_pk = 0
    sent = 0
    while True:
        chunk = list(unsent.filter(pk__gt=last_pk)[:size])
        if not chunk:
            if not _claimed(message_id, token).update(delivery=Delivery.SUBMITTED, next_attempt_at=None):
                return "stopped: claim lost"
            break
        last_pk = chunk[-1].pk
        try:
            outcomes = backend.send(message, chunk)
        except Exception:
            released = _claimed(message_id, token).update(
                delivery=Delivery.ENQUEUED, next_attempt_at=timezone.now() + retry_delay(token)
            )
            logger.warning(
                "attempt %s of message %s failed after %s recipients (claim released: %s)",
                token,
                message_id,
                sent,
                bool(released),
                exc_info=True,
            )
            raise
        sent += len(chunk)
        final = len(chunk) < size
        # The claim is checked (fencing token) and renewed, or, after a short chunk (the last
        # one), the message is marked SUBMITTED in the same commit as the statuses.
        changes: dict[str, Any] = (
            {"delivery": Delivery.SUBMITTED, "next_attempt_at": None}
            if final
            else {"next_attempt_at": _lease(timezone.now())}
        )
        with transaction.atomic():
            _record(message_id, chunk, outcomes)
            held = _claimed(message_id, token).update(**changes)
        if not held:
            # The lease ran out and another worker took over: it sends only what is still unsent.
            logger.warning("message %s: claim %s lost after %s recipients; stopping", message_id, token, sent)
            return "stopped: claim lost"
        if final:
            break
    if message.sealed_text:
        _redact(Message.objects.filter(pk=message_id, delivery=Delivery.SUBMITTED))
    backend.submitted(message)
    return f"submitted: {sent} recipients"


def due(now: datetime) -> QuerySet[Message]:
    """Messages the sweeper should (re-)enqueue now."""
    stale_before = now - delivery.stale_after()
    derived = Q(scheduled_at__lte=now) | Q(scheduled_at__isnull=True, created_at__lte=stale_before)
    return (
        Message.objects.filter(delivery__in=ACTIVE)
        .filter(Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True) & derived)
        # No ORDER BY: it keeps the query on the partial outbox index; every swept row moves
        # SMS_OUTBOX_STALE_SECONDS into the future, so a backlog drains batch by batch.
        .order_by()
    )


def sweep(now: datetime | None = None) -> dict[str, Any]:
    """Re-enqueue up to SMS_OUTBOX_SWEEP_BATCH due messages (stale PENDING/ENQUEUED, due
    SCHEDULED, SENDING with an expired lease). Stops at the first broker failure, putting the
    rest back to PENDING (due at the next sweep)."""
    now = now or timezone.now()
    expired = expire_overdue(now)
    with transaction.atomic():
        ids = list(_locked(due(now)).values_list("pk", flat=True)[: settings.SMS_OUTBOX_SWEEP_BATCH])
        if ids:
            Message.objects.filter(pk__in=ids).update(
                delivery=Delivery.ENQUEUED, next_attempt_at=now + delivery.stale_after()
            )
    published = 0
    for index, message_id in enumerate(ids):
        try:
            delivery.send_task(message_id)
        except delivery.BROKER_ERRORS as exc:
            rest = ids[index:]
            Message.objects.filter(pk__in=rest, delivery=Delivery.ENQUEUED).update(
                delivery=Delivery.PENDING, next_attempt_at=timezone.now()
            )
            logger.warning("outbox sweep: broker unreachable, %s messages left pending: %s", len(rest), exc)
            return {"due": len(ids), "published": published, "broker_error": str(exc), **_expired(expired)}
        except Exception:
            logger.exception("outbox sweep: delivery of message %s failed", message_id)  # eager mode
        else:
            published += 1
    if ids:
        logger.info("outbox sweep: %s of %s due messages enqueued", published, len(ids))
    return {"due": len(ids), "published": published, **_expired(expired)}


def _expired(count: int) -> dict[str, int]:
    """The sweep result mentions expiries only when there were some."""
    return {"expired": count} if count else {}
