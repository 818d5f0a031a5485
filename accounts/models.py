from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django_otp.models import CooldownMixin, Device, ThrottlingMixin, TimestampMixin

from accounts.codes import HashedCodeMixin
from accounts.phone import mask_mobile, validate_e164_mobile


class Company(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        EXPIRED = "expired", "Expired"
        BANNED = "banned", "Banned"
        TERMINATED = "terminated", "Terminated"

    name = models.CharField(max_length=120)
    registered_mobile = models.CharField(
        max_length=16,
        unique=True,
        validators=[validate_e164_mobile],
        help_text="E.164, e.g. +919876543210",
    )
    registered_email = models.EmailField(unique=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    sms_balance = models.PositiveBigIntegerField(
        default=0, help_text="SMS credits (one per part per recipient)"
    )
    low_balance_threshold = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="Alert the company when the balance falls below this many credits (empty: no alert).",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name_plural = "companies"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(sms_balance__gte=0), name="company_balance_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class BalanceCredit(models.Model):
    """A change of a company's balance other than a message's debit: staff top-ups (positive) and
    corrections (negative). With the messages' debits (Message.credits) it makes the ledger."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="balance_credits")
    amount = models.BigIntegerField()
    balance_after = models.PositiveBigIntegerField()
    note = models.CharField(max_length=200, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["company", "-created_at", "-id"], name="credit_company_time")]

    def __str__(self) -> str:
        return f"{self.amount:+d} for {self.company_id}"


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: Any) -> "User":
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> "User":
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> "User":
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, username: str | None) -> "User":
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"

    email = models.EmailField("email address", unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.PROTECT, related_name="members"
    )
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.MEMBER)
    is_staff = models.BooleanField(default=False, help_text="Can log into the staff admin.")
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email).lower()

    @property
    def can_manage_security(self) -> bool:
        """Owners and admins change security settings; members only look."""
        return self.company_id is not None and self.role in (self.Role.OWNER, self.Role.ADMIN)


class SMSDevice(TimestampMixin, CooldownMixin, ThrottlingMixin, HashedCodeMixin, Device):
    """django-otp device that texts a code to the company's registered mobile.

    Modelled on otp_email.EmailDevice, except that the code is kept only as a digest and is
    consumed by a conditional UPDATE, so it works once even under concurrent verification.
    """

    number = models.CharField(
        max_length=16,
        blank=True,
        validators=[validate_e164_mobile],
        help_text="Optional number for users without a company (staff); "
        "otherwise the company's registered mobile is used.",
    )

    class Meta(Device.Meta):
        verbose_name = "SMS device"

    @property
    def destination(self) -> str:
        if self.number:
            return self.number
        company = self.user.company
        return company.registered_mobile if company else ""

    def get_cooldown_duration(self) -> int:
        return settings.OTP_SMS_COOLDOWN_DURATION

    def get_throttle_factor(self) -> int:
        return settings.OTP_SMS_THROTTLE_FACTOR

    def generate_challenge(self) -> str:
        from accounts.otp import deliver_sms_code

        allowed, data = self.generate_is_allowed()
        if not allowed:
            wait = max(1, int((data["next_generation_at"] - timezone.now()).total_seconds()))
            return f"A code was sent moments ago; you can ask for another in {wait} seconds."
        self.cooldown_set(commit=False)
        self.save(update_fields=["last_generated_timestamp"])
        code = self.issue_code(valid_secs=settings.OTP_SMS_TOKEN_VALIDITY)
        deliver_sms_code(to=self.destination, code=code)
        return f"We sent a 6-digit code to {mask_mobile(self.destination)}."

    def verify_token(self, token: str) -> bool:
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        if self.consume_code(str(token).strip()):
            self.throttle_reset(commit=False)
            self.cooldown_reset(commit=False)
            self.set_last_used_timestamp(commit=False)
            self.save(update_fields=self._state_fields)
            return True
        self.throttle_increment(commit=False)
        self.save(update_fields=self._state_fields)
        return False

    # Never re-save token_digest from a possibly stale instance: that could revive a used code.
    _state_fields: ClassVar[list[str]] = [
        "throttling_failure_timestamp",
        "throttling_failure_count",
        "last_generated_timestamp",
        "last_used_at",
    ]


class ContactChange(HashedCodeMixin, models.Model):
    """A pending change of the company's registered mobile or email, confirmed by a code sent
    to the new number or address. The old one is notified once the change is applied."""

    class Kind(models.TextChoices):
        MOBILE = "mobile", "Registered mobile"
        EMAIL = "email", "Registered email"

    MAX_FAILURES = 5

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="contact_changes")
    kind = models.CharField(max_length=6, choices=Kind.choices)
    old_value = models.CharField(max_length=254)
    new_value = models.CharField(max_length=254)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    requested_from_ip = models.GenericIPAddressField(null=True, blank=True)
    failure_count = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    old_contact_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} change for {self.company}"

    @property
    def is_open(self) -> bool:
        return (
            self.confirmed_at is None and self.cancelled_at is None and self.failure_count < self.MAX_FAILURES
        )
