"""Webhook endpoints, their signing secrets and the delivery log (the outbox of events).

No secret is stored: an EndpointSecret holds a random salt, and the secret is derived from it
with WEBHOOK_SECRET_KEY (webhooks/signing.py). A database dump alone cannot sign.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Company

#: Event types an endpoint can subscribe to (GatewayAPI's names), with their descriptions.
EVENT_TYPES: dict[str, str] = {
    "message.status.sms": "Delivery status of an SMS changed (GatewayAPI envelope)",
}
STATUS_EVENT = "message.status.sms"


class Endpoint(models.Model):
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.CharField(max_length=2000, verbose_name="URL")
    description = models.CharField(max_length=100, blank=True)
    event_types = models.JSONField(default=list, help_text="Subscribed event types")
    active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "webhook endpoint"
        indexes = [models.Index(fields=["company", "active"], name="webhook_endpoint_company")]

    def __str__(self) -> str:
        return self.url

    def subscribes_to(self, event_type: str) -> bool:
        return event_type in (self.event_types or [])


class EndpointSecret(models.Model):
    """One signing secret of an endpoint, as a salt (the secret is derived, never stored).

    The current secret has `expires_at` NULL; after a rotation with a grace period the previous one
    keeps signing until `expires_at`."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="secrets")
    salt = models.CharField(max_length=32, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "webhook secret"

    def __str__(self) -> str:
        return f"secret {self.pk} of endpoint {self.endpoint_id}"


class Delivery(models.Model):
    """One event for one endpoint, and its delivery state (the outbox row).

    PENDING  due at `next_retry_at` (always set).
    SENDING  claimed by a drain task; `next_retry_at` is the claim's lease deadline, after which
             the sweeper makes it PENDING again.
    DELIVERED the receiver answered 2xx. FAILED: given up (attempts exhausted, 410, endpoint
             disabled). Both terminal (a manual resend makes the row PENDING again).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    event_type = models.CharField(max_length=40)
    payload = models.JSONField(help_text="The envelope's `event` object")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    is_test = models.BooleanField(default=False, help_text='Made by "Send test event"')
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["endpoint", "-created_at", "-id"], name="webhook_delivery_log"),
            models.Index(
                fields=["endpoint", "status", "next_retry_at"],
                name="webhook_delivery_due",
                condition=models.Q(status__in=["pending", "sending"]),
            ),
            models.Index(fields=["created_at"], name="webhook_delivery_created"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"
