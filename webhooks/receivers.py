"""Delivery-status changes made in messaging become webhook events here (outbox rows written in
the same transaction; drain tasks enqueued after the commit)."""

from datetime import datetime
from typing import Any

from django.dispatch import receiver

from messaging.signals import recipient_statuses_changed
from webhooks import services


@receiver(recipient_statuses_changed)
def on_recipient_statuses_changed(
    sender: Any, *, message_id: int, changed_at: datetime, **kwargs: Any
) -> None:
    services.record_status_events(message_id=message_id, changed_at=changed_at)
