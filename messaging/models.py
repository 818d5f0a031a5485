import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.codes import HashedCodeMixin
from accounts.models import Company
from authkeys.models import AuthKey, KeySecret


def new_request_id() -> str:
    """24 hex characters, the shape of an MSG91 request id (e.g. 5134842646923e183d000075)."""
    return secrets.token_hex(12)


class Message(models.Model):
    """One accepted send request. Committed before its request id is answered; delivery is
    driven from this row (an outbox), so a broker outage delays but never loses it."""

    class Delivery(models.TextChoices):
        # The outbox state machine: messaging/delivery/outbox.py documents the transitions.
        PENDING = "pending", "Waiting for delivery"
        SCHEDULED = "scheduled", "Scheduled"
        ENQUEUED = "enqueued", "Handed to the delivery worker"
        SENDING = "sending", "Being sent by a delivery worker"
        SUBMITTED = "submitted", "Submitted to the gateway"
        EXPIRED = "expired", "Not submitted within the validity period"

    class Encoding(models.TextChoices):
        GSM7 = "gsm7", "GSM-7"
        UCS2 = "ucs2", "UCS-2 (Unicode)"

    # Unique through Meta.constraints, not unique=True, which on PostgreSQL adds a second
    # (pattern) index that nothing uses: every send writes each index of the table.
    request_id = models.CharField(max_length=24, default=new_request_id, editable=False)
    # Indexed by message_company_time, which starts with it.
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="messages", db_index=False)
    authkey = models.ForeignKey(
        AuthKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    dialect = models.CharField(max_length=20)
    endpoint = models.CharField(max_length=80)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    sender = models.CharField(max_length=11, blank=True)
    route = models.CharField(max_length=20, blank=True)
    text = models.TextField()
    sealed_text = models.TextField(
        blank=True,
        help_text="The real text of a message whose `text` is masked (an OTP SMS), sealed "
        "(messaging/sealing.py) until it is handed to the gateway; then cleared.",
    )
    encoding = models.CharField(max_length=4, choices=Encoding.choices)
    parts = models.PositiveSmallIntegerField()
    recipient_count = models.PositiveIntegerField()
    credits = models.PositiveBigIntegerField(help_text="parts times recipients, debited at acceptance")
    campaign = models.CharField(max_length=32, blank=True)
    reference = models.CharField(
        max_length=100, blank=True, help_text="Client reference (GatewayAPI, Infobip)"
    )
    flash = models.BooleanField(default=False)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Not submitted by then: EXPIRED (GatewayAPI expiration, Infobip validityPeriod). "
        "Empty: SMS_DELIVERY_VALIDITY_SECONDS after the schedule time or acceptance.",
    )
    delivery = models.CharField(max_length=10, choices=Delivery.choices, default=Delivery.PENDING)
    delivery_attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["company", "-created_at"], name="message_company_time"),
            models.Index(
                fields=["delivery", "next_attempt_at"],
                name="message_outbox",
                condition=~models.Q(delivery="submitted"),
            ),
        ]
        constraints = [models.UniqueConstraint(fields=["request_id"], name="message_request_id_unique")]

    def __str__(self) -> str:
        return self.request_id


class Recipient(models.Model):
    class Status(models.TextChoices):
        # GatewayAPI / Infobip vocabulary.
        ACCEPTED = "ACCEPTED", "Accepted"
        SCHEDULED = "SCHEDULED", "Scheduled"
        ENROUTE = "ENROUTE", "En route"
        DELIVERED = "DELIVERED", "Delivered"
        UNDELIVERABLE = "UNDELIVERABLE", "Undeliverable"
        EXPIRED = "EXPIRED", "Expired"
        REJECTED = "REJECTED", "Rejected"
        FAILED = "FAILED", "Failed"

    # Indexed by recipient_message_status, which starts with it.
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="recipients", db_index=False)
    msisdn = models.CharField(max_length=16, help_text="Digits with country code, no +")
    # Unique through Meta.constraints (see Message.request_id).
    message_uid = models.CharField(max_length=36, help_text="Per-recipient message id (Infobip messageId)")
    status = models.CharField(max_length=14, choices=Status.choices, default=Status.ACCEPTED)
    error = models.CharField(max_length=120, blank=True)
    status_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]
        indexes = [
            models.Index(fields=["message", "status"], name="recipient_message_status"),
            models.Index(fields=["msisdn"], name="recipient_msisdn"),  # Reports' number filter
        ]
        constraints = [models.UniqueConstraint(fields=["message_uid"], name="recipient_message_uid_unique")]

    def __str__(self) -> str:
        return self.msisdn


class FailedRequest(models.Model):
    """A refused API request, for Failed Logs and alerts. Never holds the presented secret."""

    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.CASCADE, related_name="failed_requests"
    )
    # Indexed below together with the time (the key filter of Failed Logs).
    authkey = models.ForeignKey(
        AuthKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    key_prefix = models.CharField(max_length=16, blank=True)
    code = models.CharField(max_length=8)
    reason = models.CharField(max_length=300)
    dialect = models.CharField(max_length=20)
    endpoint = models.CharField(max_length=80)
    method = models.CharField(max_length=8)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        # One index per Failed Logs filter, each ending in the page order (newest first), so a
        # filtered page is an index range scan at any depth (tests/messaging/test_failed_logs_plan.py).
        indexes = [
            models.Index(fields=["company", "-created_at", "-id"], name="failed_company_time"),
            models.Index(fields=["company", "code", "-created_at", "-id"], name="failed_company_code"),
            models.Index(fields=["company", "client_ip", "-created_at", "-id"], name="failed_company_ip"),
            models.Index(
                fields=["company", "key_prefix", "-created_at", "-id"], name="failed_company_prefix"
            ),
            models.Index(fields=["authkey", "-created_at", "-id"], name="failed_key_time"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.endpoint}"


class BlockedIP(models.Model):
    """Staff-managed global blacklist: requests from these networks get error 208."""

    network = models.CharField(max_length=49, unique=True, help_text="Canonical IPv4/IPv6 address or CIDR")
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "blacklisted IP"

    def __str__(self) -> str:
        return self.network


class ApiSession(models.Model):
    """An Infobip IBSSO session (`POST /auth/1/session`): a company user's short-lived token.

    Only the token's keyed digest is stored. One session per user: a new one needs the current one
    destroyed (`DELETE /auth/1/session`) or expired. Bound to the creating IP unless `unsafe`."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    bound_ip = models.GenericIPAddressField(null=True, blank=True, help_text="The IP that created it")
    unsafe = models.BooleanField(default=False, help_text="Usable from any IP")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    class Meta:
        verbose_name = "API session"
        constraints = [models.UniqueConstraint(fields=["user"], name="one_api_session_per_user")]

    def __str__(self) -> str:
        return f"API session of user {self.user_id}"


class OAuthAccessToken(models.Model):
    """An OAuth 2.0 access token (`POST /auth/1/oauth2/token`, client_credentials) issued for one
    secret of an API key: it acts with that key's grant (rule, IP security, status) and dies with the
    secret (regeneration) or at `expires_at`. Only the token's keyed digest is stored."""

    key_secret = models.ForeignKey(KeySecret, on_delete=models.CASCADE, related_name="+")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    class Meta:
        verbose_name = "OAuth access token"

    def __str__(self) -> str:
        return f"access token for secret {self.key_secret_id}"


def new_flow_id() -> str:
    """24 hex characters, the shape of an MSG91 flow / template id."""
    return secrets.token_hex(12)


class Flow(models.Model):
    """An MSG91 flow (template): text with ##var## placeholders, sent by `POST /api/v5/flow/`
    (messaging/flows.py). Staff approve, reject, enable and disable flows in the admin."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PENDING = "pending", "Pending approval"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="flows")
    flow_id = models.CharField(max_length=24, unique=True, default=new_flow_id, editable=False)
    name = models.CharField(max_length=100)
    template = models.TextField(help_text="Message text; ##name## placeholders take each recipient's values")
    sender = models.CharField(
        max_length=11, blank=True, help_text="Default sender ID (a request may override)"
    )
    route = models.CharField(
        max_length=20, blank=True, default="4", help_text="4 transactional, 1 promotional"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.flow_id})"


# --- Sending policy (messaging/policy.py): sender IDs, routes, keywords, contact groups ----------


class SenderId(models.Model):
    """A company's sender ID and its approval; with SMS_REQUIRE_APPROVED_SENDER only approved
    ones may send (error 203)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="sender_ids")
    sender = models.CharField(max_length=11, help_text="3 to 11 letters or digits, stored upper-case")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "sender ID"
        constraints = [
            models.UniqueConstraint(fields=["company", "sender"], name="one_sender_id_per_company")
        ]

    def __str__(self) -> str:
        return self.sender

    def save(self, *args: object, **kwargs: object) -> None:
        self.sender = self.sender.strip().upper()
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class BlockedSender(models.Model):
    """Staff-managed global sender blacklist: error 603 for every company."""

    sender = models.CharField(max_length=11, unique=True, help_text="Stored upper-case")
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "blacklisted sender ID"

    def __str__(self) -> str:
        return self.sender

    def save(self, *args: object, **kwargs: object) -> None:
        self.sender = self.sender.strip().upper()
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class Route(models.Model):
    """A sending route (MSG91 route 4 = "transactional", 1 = "promotional"). Not available → 306,
    disabled → 602, requires DLT → 211 without a DLT template id, 203 without an entity id."""

    code = models.SlugField(max_length=20, unique=True, help_text='e.g. "transactional", "promotional"')
    available = models.BooleanField(default=True, help_text="Off: 306 (currently unavailable)")
    enabled = models.BooleanField(default=True, help_text="Off: 602 (route disabled)")
    requires_dlt = models.BooleanField(
        default=False, help_text="Requests need DLT_TE_ID and the company a DLT entity id"
    )

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class CompanyRouting(models.Model):
    """A company's default route (used when a request names none) and DLT entity id."""

    company = models.OneToOneField(Company, on_delete=models.CASCADE, related_name="routing")
    default_route = models.ForeignKey(
        Route, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    dlt_entity_id = models.CharField(max_length=30, blank=True, verbose_name="DLT entity id")

    class Meta:
        verbose_name = "company routing"
        verbose_name_plural = "company routing"

    def __str__(self) -> str:
        return f"routing of company {self.company_id}"


class BlockedKeyword(models.Model):
    """A hard-block keyword: a text containing it as a whole word (any case) gets error 402."""

    keyword = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["keyword"]

    def __str__(self) -> str:
        return self.keyword

    def save(self, *args: object, **kwargs: object) -> None:
        self.keyword = self.keyword.strip().lower()
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class ContactGroup(models.Model):
    """A company's list of numbers; MSG91's `group_id` adds its members to a request (309 when
    the group is not the company's)."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="contact_groups")
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["company", "name"], name="unique_group_name")]

    def __str__(self) -> str:
        return self.name


class GroupMember(models.Model):
    group = models.ForeignKey(ContactGroup, on_delete=models.CASCADE, related_name="members")
    msisdn = models.CharField(max_length=16, help_text="Digits with country code, no +")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "msisdn"], name="unique_group_member")]

    def __str__(self) -> str:
        return self.msisdn


class OtpRequest(HashedCodeMixin):
    """The current one-time password of one mobile number for one company (MSG91 sendotp /
    verifyRequestOTP / retryotp, messaging/otp.py). The code is kept only as a keyed digest
    (token_digest, accounts.codes), expires at valid_until, is consumed once by a conditional
    UPDATE, and allows a bounded number of wrong guesses. A new sendotp replaces it."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="otp_requests")
    authkey = models.ForeignKey(AuthKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    mobile = models.CharField(max_length=16, help_text="Digits with country code, no +")
    template = models.TextField(help_text="The SMS text with ##OTP## where the code goes (never the code)")
    sender = models.CharField(max_length=11)
    route = models.CharField(max_length=20, blank=True)
    code_length = models.PositiveSmallIntegerField()
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Wrong codes tried against this code")
    retries = models.PositiveSmallIntegerField(default=0)
    verified_at = models.DateTimeField(null=True, blank=True)
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="The last SMS"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "OTP request"
        constraints = [models.UniqueConstraint(fields=["company", "mobile"], name="one_otp_per_mobile")]

    def __str__(self) -> str:
        return f"OTP for {self.mobile}"


class DuplicateGuard(models.Model):
    """PostgreSQL's duplicate window (error 311) for the one-statement accept path
    (messaging/onestatement.py): one row per company + sender + text + recipients fingerprint,
    claimed again once `expires_at` has passed. Expired rows are purged by the outbox sweep."""

    key = models.CharField(max_length=100, primary_key=True)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.key
