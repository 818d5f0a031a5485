"""Celery tasks of customer-message delivery. Payloads are message ids only (JSON), never text or
secrets; the database row is the source of truth (messaging/delivery/outbox.py)."""

from celery import shared_task
from django.utils import timezone

from messaging import onestatement, sessions
from messaging.delivery import outbox, simulator
from messaging.delivery.base import DeliveryError


@shared_task(
    autoretry_for=(DeliveryError,),
    retry_backoff=True,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=5,
)
def deliver_message(message_id: int) -> str:
    """Send one message. Idempotent: a redelivered or duplicate task never sends twice."""
    return outbox.deliver(message_id)


@shared_task
def deliver_messages(message_ids: list[int]) -> dict[str, int]:
    """Send several messages (published together by messaging/delivery/publisher.py). Each is
    claimed on its own, as by deliver_message; one whose backend fails is handed to
    deliver_message, whose retries and backoff then apply to it alone."""
    outcomes: dict[str, int] = {}
    for message_id in message_ids:
        try:
            outcome = outbox.deliver(message_id)
        except DeliveryError:
            deliver_message.apply_async((message_id,), countdown=5)
            outcome = "retrying"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


@shared_task
def sweep_outbox() -> dict[str, object]:
    """Periodic (CELERY_BEAT_SCHEDULE): re-enqueue stuck and due messages; drop expired
    duplicate-window claims (PostgreSQL, messaging/onestatement.py)."""
    result = outbox.sweep()
    purged = onestatement.purge_guards(now=timezone.now())
    if purged:
        result["duplicate_claims_purged"] = purged
    return result


@shared_task
def simulate_reports(message_id: int) -> int:
    """The simulator backend's delivery reports (messaging/delivery/simulator.py)."""
    return simulator.apply_reports(message_id)


@shared_task
def purge_expired_credentials() -> dict[str, int]:
    """Periodic (CELERY_BEAT_SCHEDULE): delete expired IBSSO sessions and OAuth access tokens."""
    return sessions.purge_expired()
