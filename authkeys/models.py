import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Company


class Service(models.Model):
    """What a rule can grant. The catalogue is seeded by a data migration."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Rule(models.Model):
    """Which services a key may use. The built-in "All services" rule has no company."""

    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.CASCADE, related_name="rules"
    )
    name = models.CharField(max_length=60)
    all_services = models.BooleanField(default=False)
    services = models.ManyToManyField(Service, blank=True, related_name="rules")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["company_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["company", "name"], name="rule_name_unique_per_company"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_builtin(self) -> bool:
        return self.company_id is None


def new_public_id() -> str:
    """An API key's id over the key-management API (Infobip's apiKeyId shape: 32 upper-case hex
    characters), random so that it tells nothing about other keys or companies."""
    return secrets.token_hex(16).upper()


class AuthKey(models.Model):
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="authkeys")
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    name = models.CharField(max_length=50)
    use_case = models.CharField("where are you integrating", max_length=60, blank=True)
    rule = models.ForeignKey(Rule, on_delete=models.PROTECT, related_name="authkeys")
    ip_security = models.BooleanField("IP security", default=True)
    enabled = models.BooleanField(default=True)
    # The validity window (Infobip's validFrom / validTo): the key is refused before valid_from
    # (empty: from creation) and from expires_at on (empty: no expiry), to the exact instant.
    valid_from = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField("valid to", null=True, blank=True)
    display_prefix = models.CharField(max_length=16, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["company_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["company", "name"], name="authkey_name_unique_per_company"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.display_prefix}…)"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_not_yet_valid(self) -> bool:
        return self.valid_from is not None and timezone.now() < self.valid_from


class KeySecret(models.Model):
    """The keyed digest of a key's secret. A key has one current secret; during a regeneration
    grace period the previous one lives on until `valid_until`."""

    authkey = models.ForeignKey(AuthKey, on_delete=models.CASCADE, related_name="secrets")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    valid_until = models.DateTimeField(null=True, blank=True, help_text="Empty for the current secret.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["authkey"], condition=Q(valid_until__isnull=True), name="one_current_secret_per_key"
            ),
        ]

    def __str__(self) -> str:
        return f"secret of {self.authkey_id}"


class KeyAllowedIP(models.Model):
    authkey = models.ForeignKey(AuthKey, on_delete=models.CASCADE, related_name="allowed_ips")
    network = models.CharField(max_length=49, help_text="Canonical IPv4/IPv6 address or CIDR")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["authkey", "network"], name="key_ip_unique")]

    def __str__(self) -> str:
        return self.network


class CompanyAllowedIP(models.Model):
    """Whitelisted for every key of the company."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="allowed_ips")
    network = models.CharField(max_length=49, help_text="Canonical IPv4/IPv6 address or CIDR")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["company", "network"], name="company_ip_unique")]

    def __str__(self) -> str:
        return self.network


class ApiSecurity(models.Model):
    """Company-wide API security settings."""

    company = models.OneToOneField(Company, on_delete=models.CASCADE, related_name="api_security")
    # When on, the allow-lists apply to every key of the company whatever its own toggle.
    additional_security = models.BooleanField(default=False)

    class Meta:
        verbose_name_plural = "API security settings"

    def __str__(self) -> str:
        return f"API security of {self.company}"


class RecentIP(models.Model):
    class Outcome(models.TextChoices):
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="recent_ips")
    ip = models.GenericIPAddressField()
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    request_count = models.PositiveBigIntegerField(default=0)
    last_key = models.ForeignKey(AuthKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    last_outcome = models.CharField(max_length=8, choices=Outcome.choices)
    last_code = models.CharField(max_length=8, blank=True, help_text="Error code of the last rejection")

    class Meta:
        ordering = ["-last_seen"]
        constraints = [models.UniqueConstraint(fields=["company", "ip"], name="recent_ip_unique")]
        indexes = [models.Index(fields=["company", "-last_seen"], name="recent_ip_company_seen")]

    def __str__(self) -> str:
        return self.ip


class SecurityEvent(models.Model):
    """The audit log (after Zulip's RealmAuditLog): who changed what, from where, before/after."""

    class Kind(models.TextChoices):
        KEY_CREATED = "key_created", "Key created"
        KEY_REGENERATED = "key_regenerated", "Key regenerated"
        KEY_ENABLED = "key_enabled", "Key enabled"
        KEY_DISABLED = "key_disabled", "Key disabled"
        KEY_DELETED = "key_deleted", "Key deleted"
        KEY_UPDATED = "key_updated", "Key settings changed"
        KEY_RULE_CHANGED = "key_rule_changed", "Key rule changed"
        IP_SECURITY_ON = "ip_security_on", "IP security enabled"
        IP_SECURITY_OFF = "ip_security_off", "IP security disabled"
        IP_ADDED = "ip_added", "IP added"
        IP_DELETED = "ip_deleted", "IP deleted"
        ADDITIONAL_SECURITY_ON = "additional_security_on", "Additional Security enabled"
        ADDITIONAL_SECURITY_OFF = "additional_security_off", "Additional Security disabled"
        RULE_CREATED = "rule_created", "Rule created"
        RULE_CHANGED = "rule_changed", "Rule changed"
        RULE_DELETED = "rule_deleted", "Rule deleted"
        CONTACT_CHANGED = "contact_changed", "Registered contact changed"
        COMPANY_STATUS_CHANGED = "company_status_changed", "Company status changed"
        # Written by the webhooks app (webhooks/services.py) through record_event.
        WEBHOOK_CREATED = "webhook_created", "Webhook endpoint created"
        WEBHOOK_CHANGED = "webhook_changed", "Webhook endpoint changed"
        WEBHOOK_ENABLED = "webhook_enabled", "Webhook endpoint enabled"
        WEBHOOK_DISABLED = "webhook_disabled", "Webhook endpoint disabled"
        WEBHOOK_SECRET_ROTATED = "webhook_secret_rotated", "Webhook secret rotated"
        WEBHOOK_DELETED = "webhook_deleted", "Webhook endpoint deleted"

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="security_events")
    kind = models.CharField(max_length=32, choices=Kind.choices, db_index=True)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_key = models.ForeignKey(AuthKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_ip = models.GenericIPAddressField(null=True, blank=True)
    authkey = models.ForeignKey(
        AuthKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    # Names survive deletion of what they describe.
    target = models.CharField(max_length=120, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["company", "-created_at"], name="security_event_company_time"),
            # The alerts sweep looks for recent events that lack their alert (alerts/services.py).
            models.Index(fields=["created_at"], name="security_event_time"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.target}"
