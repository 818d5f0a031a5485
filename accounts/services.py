"""Writes for accounts. Views, admin actions, tasks and commands call these; none re-implements
a rule."""

from typing import Any

import django_otp
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.dispatch import Signal
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import BalanceCredit, Company, ContactChange, SMSDevice, User
from accounts.otp import sms_device_for
from accounts.phone import mask_email, mask_mobile
from portal.sms import send_sms

# Sent inside the transaction that applies the change; higher apps record it (audit, alerts).
# Arguments: company, actor, kind (a ContactChange.Kind or "status"/"balance"), before, after, ip.
company_security_changed = Signal()


# --- Sign-up ----------------------------------------------------------------------------------


@transaction.atomic
def company_sign_up(
    *,
    company_name: str,
    registered_mobile: str,
    registered_email: str,
    owner_email: str,
    password: str,
    full_name: str = "",
) -> User:
    """Create a company and its owner. Inputs are already validated and normalised by the
    form; the unique constraints are the last line of defence against a race."""
    company = Company.objects.create(
        name=company_name.strip(),
        registered_mobile=registered_mobile,
        registered_email=registered_email.lower(),
    )
    owner = User.objects.create_user(
        email=owner_email,
        password=password,
        full_name=full_name.strip(),
        company=company,
        role=User.Role.OWNER,
    )
    sms_device_for(owner)
    return owner


# --- The OTP gate -----------------------------------------------------------------------------


def otp_gate_request_code(*, user: User, mobile: str) -> tuple[SMSDevice, str]:
    """Check the typed mobile is the registered one, then text a code to it."""
    device = sms_device_for(user)
    if not device.destination:
        raise ValidationError(
            "Your user has no registered mobile to send a code to. Use an authenticator app.",
            code="no_destination",
        )
    if mobile != device.destination:
        raise ValidationError(
            "That is not the registered mobile number of your account. Enter the number the "
            "company registered (shown on the Company page to owners and admins).",
            code="mobile_mismatch",
        )
    return device, device.generate_challenge()


def otp_gate_verify(*, user: User, device_id: str, code: str) -> Device:
    """Verify a code through django_otp.verify_token; on failure say precisely why."""
    device = Device.from_persistent_id(device_id)
    if device is None or device.user_id != user.pk:
        raise ValidationError(
            "This verification was started by another user or session. Request a new code.",
            code="foreign_device",
        )
    allowed, data = device.verify_is_allowed()
    if not allowed:
        raise ValidationError(_throttle_message(data), code="throttled")
    had_live_code = getattr(device, "has_live_code", True)
    had_expired_code = getattr(device, "has_expired_code", False)

    verified = django_otp.verify_token(user, device_id, code)
    if verified is not None:
        return verified

    if isinstance(device, SMSDevice):
        if had_expired_code:
            raise ValidationError("That code has expired. Request a new one.", code="expired")
        if not had_live_code:
            raise ValidationError(
                "No code is waiting for this number: it was already used or never sent. Request a new one.",
                code="no_code",
            )
    device.refresh_from_db()
    allowed, data = device.verify_is_allowed()
    suffix = "" if allowed else " " + _throttle_message(data)
    raise ValidationError("That code is not correct." + suffix, code="wrong_code")


def _throttle_message(data: dict[str, Any] | None) -> str:
    locked_until = (data or {}).get("locked_until")
    if locked_until is None:
        return "Verification is not allowed right now. Try again later."
    wait = max(1, int((locked_until - timezone.now()).total_seconds()) + 1)
    unit = "second" if wait == 1 else "seconds"
    return f"Wrong codes slow down verification: wait {wait} {unit} before trying again."


# --- TOTP (authenticator app) ------------------------------------------------------------------


def totp_device_start(*, user: User) -> TOTPDevice:
    """An unconfirmed authenticator device; it counts only after totp_device_confirm."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


@transaction.atomic
def totp_device_confirm(*, user: User, device: TOTPDevice, code: str) -> TOTPDevice:
    verified = django_otp.verify_token(user, device.persistent_id, code)
    if verified is None:
        raise ValidationError(
            "That code does not match. Check the app's clock and enter the current code.",
            code="wrong_code",
        )
    TOTPDevice.objects.filter(user=user, confirmed=True).exclude(pk=device.pk).delete()
    TOTPDevice.objects.filter(pk=device.pk).update(confirmed=True)
    device.confirmed = True
    return device


def totp_device_remove(*, user: User) -> int:
    deleted, _ = TOTPDevice.objects.filter(user=user).delete()
    return deleted


def staff_sms_device_set(*, user: User, number: str) -> SMSDevice:
    """Text admin-login codes to `number` (E.164) for a user without a company."""
    device = sms_device_for(user)
    device.number = number
    device.full_clean(exclude=["user"])
    device.save(update_fields=["number"])
    return device


def staff_totp_device_create(*, user: User) -> TOTPDevice:
    """A confirmed authenticator device, enrolled by an operator who shows its key to the user."""
    TOTPDevice.objects.filter(user=user).delete()
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


# --- Company profile --------------------------------------------------------------------------


def company_rename(*, company: Company, name: str) -> Company:
    company.name = name.strip()
    company.full_clean(validate_unique=False)
    company.save(update_fields=["name"])
    return company


@transaction.atomic
def contact_change_request(
    *, company: Company, actor: User, kind: str, new_value: str, ip: str | None = None
) -> ContactChange:
    """Start a change of the registered mobile/email: a code goes to the *new* contact."""
    old_value = company.registered_mobile if kind == ContactChange.Kind.MOBILE else company.registered_email
    if new_value == old_value:
        raise ValidationError("That is already the registered contact.", code="unchanged")
    field = "registered_mobile" if kind == ContactChange.Kind.MOBILE else "registered_email"
    if Company.objects.filter(**{field: new_value}).exclude(pk=company.pk).exists():
        raise ValidationError(
            "Another company has already registered that %(what)s.",
            code="taken",
            params={"what": "mobile number" if kind == ContactChange.Kind.MOBILE else "email address"},
        )
    now = timezone.now()
    ContactChange.objects.filter(company=company, confirmed_at=None, cancelled_at=None).update(
        cancelled_at=now
    )
    change = ContactChange.objects.create(
        company=company,
        kind=kind,
        old_value=old_value,
        new_value=new_value,
        requested_by=actor,
        requested_from_ip=ip,
    )
    code = change.issue_code(valid_secs=settings.OTP_SMS_TOKEN_VALIDITY)
    _deliver_contact_code(change, code)
    return change


def _deliver_contact_code(change: ContactChange, code: str) -> None:
    if change.kind == ContactChange.Kind.MOBILE:
        from accounts.otp import deliver_sms_code

        deliver_sms_code(to=change.new_value, code=code)
    else:
        minutes = max(1, settings.OTP_SMS_TOKEN_VALIDITY // 60)
        send_mail(
            "Confirm your new registered email",
            f"{code} is the code to make this address the registered email of "
            f"{change.company.name} on SMS Portal. It expires in {minutes} minutes.\n\n"
            "If you did not ask for this, ignore this message.",
            None,
            [change.new_value],
        )


def contact_change_confirm(
    *, change: ContactChange, actor: User, code: str, ip: str | None = None
) -> Company:
    # The error is raised only after the transaction commits, so a wrong code's failure count
    # sticks instead of being rolled back with the refusal.
    with transaction.atomic():
        change = ContactChange.objects.select_for_update().get(pk=change.pk)
        refusal = _contact_change_refusal(change, code)
        if refusal is None:
            company = _contact_change_apply(change, actor=actor, ip=ip)
    if refusal is not None:
        raise refusal
    return company


def _contact_change_refusal(change: ContactChange, code: str) -> ValidationError | None:
    if not change.is_open:
        return ValidationError(
            "This change is no longer open (confirmed, cancelled or too many wrong codes). Start again.",
            code="closed",
        )
    if change.has_expired_code:
        return ValidationError("That code has expired. Start the change again.", code="expired")
    if change.consume_code(code):
        return None
    ContactChange.objects.filter(pk=change.pk).update(failure_count=F("failure_count") + 1)
    left = change.MAX_FAILURES - change.failure_count - 1
    if left <= 0:
        return ValidationError(
            "That code is not correct, and that was the last try. Start again.", code="closed"
        )
    return ValidationError(
        "That code is not correct. %(left)d tries left.", code="wrong_code", params={"left": left}
    )


def _contact_change_apply(change: ContactChange, *, actor: User, ip: str | None) -> Company:
    company = Company.objects.select_for_update().get(pk=change.company_id)
    field = "registered_mobile" if change.kind == ContactChange.Kind.MOBILE else "registered_email"
    if Company.objects.filter(**{field: change.new_value}).exclude(pk=company.pk).exists():
        raise ValidationError("Another company registered that contact meanwhile.", code="taken")
    setattr(company, field, change.new_value)
    company.save(update_fields=[field])
    change.confirmed_at = timezone.now()
    change.save(update_fields=["confirmed_at"])
    company_security_changed.send(
        sender=ContactChange,
        company=company,
        actor=actor,
        kind=change.kind,
        before=change.old_value,
        after=change.new_value,
        ip=ip,
    )
    from accounts.tasks import notify_old_contact

    transaction.on_commit(lambda: notify_old_contact.delay(change.pk))
    return company


def contact_change_notify_old(*, change_id: int) -> bool:
    """Tell the old mobile/address that it is no longer the registered contact. Idempotent."""
    with transaction.atomic():
        change = ContactChange.objects.select_for_update().select_related("company").get(pk=change_id)
        if change.confirmed_at is None or change.old_contact_notified_at is not None:
            return False
        if change.kind == ContactChange.Kind.MOBILE:
            send_sms(
                to=change.old_value,
                body=f"SMS Portal: the registered mobile of {change.company.name} was changed to "
                f"{mask_mobile(change.new_value)}. If this was not you, contact support now.",
            )
        else:
            send_mail(
                "Your registered email was changed",
                f"The registered email of {change.company.name} on SMS Portal was changed from this "
                f"address to {mask_email(change.new_value)}.\n\nIf this was not you, contact support now.",
                None,
                [change.old_value],
            )
        change.old_contact_notified_at = timezone.now()
        change.save(update_fields=["old_contact_notified_at"])
    return True


# --- Team -------------------------------------------------------------------------------------


def _check_may_grant(*, actor: User, role: str, target: User | None = None) -> None:
    if role not in User.Role.values:
        raise ValidationError("Unknown role %(role)r.", code="invalid", params={"role": role})
    if not actor.can_manage_security:
        raise ValidationError("Only the owner or an admin can manage users.", code="forbidden")
    touches_owner = role == User.Role.OWNER or (target is not None and target.role == User.Role.OWNER)
    if touches_owner and actor.role != User.Role.OWNER:
        raise ValidationError("Only an owner can grant, change or remove the owner role.", code="forbidden")


def _is_last_owner(user: User) -> bool:
    return (
        user.role == User.Role.OWNER
        and not User.objects.filter(company=user.company, role=User.Role.OWNER, is_active=True)
        .exclude(pk=user.pk)
        .exists()
    )


@transaction.atomic
def member_add(
    *, company: Company, actor: User, email: str, full_name: str, role: str, site_url: str
) -> User:
    """Add a user to the company; they get an email with a link to choose their password."""
    _check_may_grant(actor=actor, role=role)
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError("A user with this email already exists.", code="taken")
    user = User.objects.create_user(
        email=email, password=None, full_name=full_name.strip(), company=company, role=role
    )
    sms_device_for(user)
    link = site_url.rstrip("/") + reverse(
        "accounts:password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    transaction.on_commit(
        lambda: send_mail(
            f"You were added to {company.name} on SMS Portal",
            f"{actor.full_name or actor.email} added you to {company.name} on SMS Portal as "
            f"{user.get_role_display().lower()}.\n\n"
            f"Choose your password here (the link works once):\n{link}\n",
            None,
            [user.email],
        )
    )
    return user


@transaction.atomic
def member_set_role(*, company: Company, actor: User, member: User, role: str) -> User:
    _check_may_grant(actor=actor, role=role, target=member)
    if member.company_id != company.pk:
        raise ValidationError("That user is not in your company.", code="foreign")
    if role != User.Role.OWNER and _is_last_owner(member):
        raise ValidationError(
            "The company needs at least one owner: make someone else owner first.", code="last_owner"
        )
    member.role = role
    member.save(update_fields=["role"])
    return member


@transaction.atomic
def member_remove(*, company: Company, actor: User, member: User) -> User:
    """Deactivate (not delete) so that what the user did stays attributable."""
    _check_may_grant(actor=actor, role=member.role, target=member)
    if member.company_id != company.pk:
        raise ValidationError("That user is not in your company.", code="foreign")
    if member.pk == actor.pk:
        raise ValidationError("You cannot remove yourself.", code="self")
    if _is_last_owner(member):
        raise ValidationError("The company needs at least one owner.", code="last_owner")
    member.is_active = False
    member.save(update_fields=["is_active"])
    return member


# --- Staff ------------------------------------------------------------------------------------


@transaction.atomic
def company_set_status(*, company: Company, status: str, actor: User | None = None) -> Company:
    if status not in Company.Status.values:
        raise ValidationError("Unknown status %(status)r.", code="invalid", params={"status": status})
    before = company.status
    Company.objects.filter(pk=company.pk).update(status=status)
    company.status = status
    if before != status:
        company_security_changed.send(
            sender=Company,
            company=company,
            actor=actor,
            kind="status",
            before=before,
            after=status,
            ip=None,
        )
    return company


@transaction.atomic
@transaction.atomic
def company_credit_balance(
    *, company: Company, amount: int, actor: User | None = None, note: str = ""
) -> Company:
    """Add (or, with a negative amount, remove) SMS credits; never below zero. Writes the ledger
    row (BalanceCredit) in the same transaction."""
    if amount == 0:
        raise ValidationError("The amount must not be zero.", code="zero")
    if len(note) > 200:
        raise ValidationError("The note can have at most 200 characters.", code="note_too_long")
    updated = Company.objects.filter(pk=company.pk, sms_balance__gte=max(0, -amount)).update(
        sms_balance=F("sms_balance") + amount
    )
    if not updated:
        raise ValidationError(
            "%(company)s has fewer than %(amount)d credits; the balance cannot go below zero.",
            code="insufficient",
            params={"company": company.name, "amount": -amount},
        )
    company.refresh_from_db(fields=["sms_balance"])
    BalanceCredit.objects.create(
        company=company, amount=amount, balance_after=company.sms_balance, note=note.strip(), actor=actor
    )
    return company


def company_set_low_balance_threshold(*, company: Company, threshold: int | None) -> Company:
    """The balance below which the company is alerted (None: no alert)."""
    if threshold is not None and threshold < 0:
        raise ValidationError("The threshold cannot be negative.", code="negative")
    Company.objects.filter(pk=company.pk).update(low_balance_threshold=threshold)
    company.low_balance_threshold = threshold
    return company
