"""Alerts: email/SMS notices to a company's registered contacts (issue 5, item 3).

An `Alert` is one message on one channel. Its `dedupe_key` is unique per channel, so whatever
runs twice (a receiver, a task, a periodic sweep) finds the row instead of making a second one,
and delivery claims the row with a conditional UPDATE (pending → sending) so that it goes out once.

An `AlertWindow` groups a company's refusals of one family (418, or any other code) for
`ALERTS_WINDOW_SECONDS` from the first one: the first refusal per (key, IP) or (key, code) in the
window alerts at once, the rest are counted and summarised in one digest per channel when the
window has closed. `AlertQuota` is the per-company row locked while the hourly cap is checked.
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Company
from authkeys.models import SecurityEvent


class AlertWindow(models.Model):
    class Family(models.TextChoices):
        IP_REFUSED = "ip_refused", "418 refusals (IP not whitelisted)"
        API_REFUSED = "api_refused", "Other API refusals"

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    family = models.CharField(max_length=12, choices=Family.choices)
    opened_at = models.DateTimeField()
    closes_at = models.DateTimeField()
    is_open = models.BooleanField(default=True)
    refusals = models.PositiveBigIntegerField(default=0, help_text="Refusals counted in this window")
    alerted_groups = models.PositiveIntegerField(default=0, help_text="Groups alerted at once")
    suppressed_groups = models.PositiveIntegerField(default=0, help_text="Groups over the hourly cap")
    digested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["company", "family"], condition=Q(is_open=True), name="alert_one_open_window"
            ),
        ]
        indexes = [
            models.Index(
                fields=["closes_at"], condition=Q(digested_at__isnull=True), name="alert_window_due"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_family_display()} from {self.opened_at:%Y-%m-%d %H:%M:%S}"


class AlertQuota(models.Model):
    """Locked (SELECT … FOR UPDATE) while a company's hourly cap is checked and an alert inserted,
    so that concurrent processes cannot both take the last slot."""

    company = models.OneToOneField(Company, on_delete=models.CASCADE, primary_key=True, related_name="+")

    def __str__(self) -> str:
        return f"alert quota of {self.company_id}"


class Alert(models.Model):
    class Kind(models.TextChoices):
        IP_REFUSED = "ip_refused_418", "418: IP not whitelisted"
        API_REFUSED = "api_refused", "API request refused"
        IP_REFUSED_DIGEST = "ip_refused_digest", "418 digest"
        API_REFUSED_DIGEST = "api_refused_digest", "API refusals digest"
        SECURITY_CHANGE = "security_change", "Security change"
        LOW_BALANCE = "low_balance", "Balance below the alert threshold"
        KEY_EXPIRING = "key_expiring", "API key expires soon"

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        SMS = "sms", "SMS"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SUPPRESSED = "suppressed", "Suppressed (hourly cap)"

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    channel = models.CharField(max_length=5, choices=Channel.choices)
    dedupe_key = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    # What the message says, never a secret: the subject line and a one-line summary; `details`
    # holds the facts the templates render (key name and prefix, IP, code, counts, top IPs).
    subject = models.CharField(max_length=200)
    summary = models.CharField(max_length=300, blank=True)
    details = models.JSONField(default=dict, blank=True)
    refusal_count = models.PositiveBigIntegerField(default=0, help_text="Digests: refusals summarised")
    suppressed_count = models.PositiveIntegerField(
        default=0, help_text="Digests: alerts held back by the cap"
    )
    window = models.ForeignKey(
        AlertWindow, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    security_event = models.ForeignKey(
        SecurityEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["dedupe_key", "channel"], name="alert_dedupe_unique"),
        ]
        indexes = [
            models.Index(fields=["company", "-created_at", "-id"], name="alert_company_time"),
            models.Index(
                fields=["created_at"],
                condition=Q(status__in=["pending", "sending"]),
                name="alert_undelivered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.channel} · {self.status}"

    @property
    def throttled(self) -> bool:
        return self.kind != self.Kind.SECURITY_CHANGE
