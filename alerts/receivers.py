"""Where alerts come from: refusal batches written by messaging and SecurityEvent rows written by
authkeys (those apps never import this one). Receivers never raise into the sender."""

import logging
from typing import Any

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from alerts import services
from authkeys.models import SecurityEvent
from messaging.signals import refusals_recorded

logger = logging.getLogger(__name__)


@receiver(refusals_recorded)
def on_refusals_recorded(sender: Any, *, rows: Any, **kwargs: Any) -> None:
    try:
        services.note_refusals(rows=rows)
    except Exception as exc:  # a refusal batch is already written: alerts are best-effort here
        logger.error("alerts: could not process %d refusals: %s", len(rows), type(exc).__name__)


@receiver(post_save, sender=SecurityEvent)
def on_security_event(sender: Any, *, instance: SecurityEvent, created: bool, **kwargs: Any) -> None:
    """In the transaction that records the event: the alert row exists if and only if the event
    does; its send task is published on commit."""
    if not created or kwargs.get("raw"):
        return
    try:
        with transaction.atomic():  # a savepoint: a failure here never breaks the caller's transaction
            services.security_alert_for_event(event=instance)
    except Exception as exc:
        logger.error("alerts: no alert for security event %s: %s", instance.pk, type(exc).__name__)
