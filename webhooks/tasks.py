"""Celery tasks of webhook delivery. Payloads are endpoint ids only (JSON); the Delivery rows are
the source of truth (webhooks/delivery.py), so a task run twice or lost does no harm."""

from typing import Any

from celery import shared_task

from webhooks import delivery


@shared_task
def drain_endpoint(endpoint_id: int) -> dict[str, Any]:
    """Send the endpoint's due events; hand over to a fresh task when there are more."""
    result = delivery.drain(endpoint_id)
    if result.get("more"):
        delivery.enqueue_drain(endpoint_id)
    return result


@shared_task
def sweep_webhooks() -> dict[str, int]:
    """Periodic (CELERY_BEAT_SCHEDULE): retries that are due, leases that ran out."""
    return delivery.sweep()
