"""The one pipeline every dialect goes through.

    extract (dialect) → authenticate → company status → key enabled → expiry → IP (418)
      → blacklist (208) → rule/service → validation (… schedule 307/608/606, expiration 307,
      campaign …) → duplicate (311) → balance (301)
      → one transaction: balance debit + Message + Recipients → delivery enqueued on commit

A dialect adapter turns its wire request into a `SendRequest` (raw values, validated here so that
every dialect refuses the same bad input with the same code) and renders `Accepted` or `ApiError`.
The request acts for a `Principal`: an API key's grant (API key, or an OAuth access token issued
for one), or a company user (Basic password or IBSSO session, see messaging/sessions.py).
Every refusal is recorded (Failed Logs, Recent IPs) without the secret; recording never turns a
result into a failure.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol
from uuid import uuid4

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import Company
from authkeys import keys
from authkeys.auth import KeyGrant, Refusal, authenticate_key, client_ip
from authkeys.ipaddrs import parse_client_ip
from authkeys.models import AuthKey
from messaging import blacklist, delivery, encoding, onestatement, policy, refusals, sealing, sessions
from messaging.catalogue import ApiError, Code
from messaging.credentials import BEARER, Presented
from messaging.delivery import publisher
from messaging.logging import RECORDED_REFUSAL
from messaging.models import Message, Recipient

logger = logging.getLogger(__name__)

MAX_RECIPIENTS = 10_000
_COMPANY_STATUS_CODES: dict[str, Code] = {
    Company.Status.EXPIRED: Code.ACCOUNT_EXPIRED,
    Company.Status.BANNED: Code.ACCOUNT_BANNED,
    Company.Status.TERMINATED: Code.SERVICE_TERMINATED,
}


@dataclass(frozen=True)
class Context:
    dialect: str
    endpoint: str
    method: str
    client_ip: str
    # The request, when there is one: a recorded refusal marks it (see messaging/logging.py).
    request: HttpRequest | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, request: HttpRequest, *, dialect: str, endpoint: str) -> "Context":
        return cls(
            dialect=dialect,
            endpoint=endpoint,
            method=request.method or "",
            client_ip=client_ip(request),
            request=request,
        )


@dataclass
class SendRequest:
    """Raw values as the client sent them; `None` means the parameter was absent."""

    mobiles: str | list[str] | None
    text: str | None
    sender: str | None = None
    route: str | None = None
    country: str | None = None
    schedule: str | None = None
    campaign: str | None = None
    unicode: bool = False
    flash: bool = False
    reference: str = ""
    service: str = "sms-send"
    group_ids: str | None = None  # MSG91 group_id: comma-separated contact group ids (policy.py)
    dlt_template_id: str | None = None  # MSG91 DLT_TE_ID
    # When undelivered messages expire (see _parse_expiry): an ISO-8601 date-time (GatewayAPI
    # `expiration`) or a validity period in seconds (Infobip `validityPeriod`, converted).
    expiration: str | None = None
    validity_seconds: str | None = None
    # The text to store instead of `text`, which holds a secret (an OTP SMS: the code masked);
    # the real text is then stored only sealed (messaging/sealing.py).
    masked_text: str = ""


@dataclass(frozen=True)
class Accepted:
    message: Message
    recipients: list[Recipient] = field(default_factory=list)


class Principal(Protocol):
    """Who a request acts for: authkeys.auth.KeyGrant (an API key, or an OAuth access token acting
    with its key's grant) or messaging.sessions.UserPrincipal (a company user: Basic or IBSSO)."""

    @property
    def company_id(self) -> int: ...
    @property
    def company_status(self) -> str: ...
    @property
    def authkey_id(self) -> int | None: ...  # None for a company user
    def may_use(self, service_code: str) -> bool: ...


def send(
    ctx: Context,
    extract: Callable[[], tuple[Presented | None, SendRequest]],
    *,
    within: Callable[[Message], None] | None = None,
) -> Accepted:
    """Run the pipeline. Raises ApiError (already recorded) on refusal. `within(message)` runs in
    the acceptance transaction once the Message exists (e.g. messaging/otp.py stores the OTP with
    it); whatever it raises rolls the acceptance back and is handled like any other failure."""
    grant: Principal | None = None
    presented: Presented | None = None
    try:
        presented, request = extract()
        grant = _authenticate(ctx, presented)
        accepted = _accept(ctx, grant, request, within)
    except ApiError as error:
        record_refusal(ctx, error, grant=grant, presented=presented)
        raise
    except Exception as exc:
        # Never leak internals to the client; the log names the exception type only. 601: the
        # database refused to store the request; 506: any other unexpected failure.
        logger.error("send pipeline failed on %s: %s", ctx.endpoint, type(exc).__name__)
        internal = ApiError(Code.INTERNAL_ERROR_2 if isinstance(exc, DatabaseError) else Code.INTERNAL_ERROR)
        record_refusal(ctx, internal, grant=grant, presented=presented)
        raise internal from exc
    _record_success(ctx, grant)
    return accepted


# --- Authentication -----------------------------------------------------------------------------


class ServiceNotAllowed(ApiError):
    """The key is valid but its rule lacks the service: 207 in catalogue terms; dialects whose
    wire format tells authentication from authorisation answer it as "forbidden" (403)."""

    def __init__(self, service: str) -> None:
        super().__init__(Code.INVALID_AUTHKEY, f"This authkey's rule does not allow the service “{service}”.")
        self.service = service


def authorize(ctx: Context, extract: Callable[[], Presented | None], service: str | None) -> Principal:
    """The pipeline's authentication and rule check for endpoints that do not send (reports, key
    management): same checks, same order, same codes as `send`. Raises ApiError (already
    recorded) on refusal; the caller records the success (`record_success`) once it has answered.
    `service` None: authentication only (Infobip session and OAuth token endpoints)."""
    grant: Principal | None = None
    presented: Presented | None = None
    try:
        presented = extract()
        grant = _authenticate(ctx, presented)
        if service is not None and not grant.may_use(service):
            raise ServiceNotAllowed(service)
    except ApiError as error:
        record_refusal(ctx, error, grant=grant, presented=presented)
        raise
    except Exception as exc:
        logger.error("authentication failed on %s: %s", ctx.endpoint, type(exc).__name__)
        internal = ApiError(Code.INTERNAL_ERROR)
        record_refusal(ctx, internal, grant=grant, presented=presented)
        raise internal from exc
    return grant


def authenticate(ctx: Context, extract: Callable[[], Presented | None], service: str) -> KeyGrant:
    """`authorize` for endpoints that need an API key's grant (they act on the key itself): a
    company user (Basic or IBSSO credentials, where the endpoint accepts them) is refused with 207."""
    principal = authorize(ctx, extract, service)
    if not isinstance(principal, KeyGrant):
        error = ApiError(Code.INVALID_AUTHKEY, "This endpoint needs an API key.")
        record_refusal(ctx, error, grant=principal)
        raise error
    return principal


class _Refused(ApiError):
    def __init__(self, code: Code, detail: str, grant: Principal | None) -> None:
        super().__init__(code, detail)
        self.grant = grant


def _authenticate(ctx: Context, presented: Presented | None) -> Principal:
    if presented is None or not presented.key:
        raise ApiError(
            Code.INVALID_AUTHKEY, "Missing authentication key: send it in the authkey header or parameter."
        )
    if presented.scheme == BEARER:
        result = sessions.authenticate_access_token(presented.key, ctx.client_ip)
    elif presented.scheme:
        return _authenticate_user(ctx, presented)
    else:
        result = authenticate_key(presented.key, ctx.client_ip)
    grant = result.grant
    if result.refusal in (Refusal.MALFORMED, Refusal.UNKNOWN) or grant is None:
        raise ApiError(
            Code.INVALID_AUTHKEY, "Invalid or expired access token." if presented.scheme == BEARER else ""
        )
    error = key_refusal(result.refusal, grant, ctx.client_ip)
    if error is not None:
        raise _Refused(error.code, error.detail, grant)
    return grant


def key_refusal(refusal: Refusal | None, grant: KeyGrant, ip: str) -> ApiError | None:
    """The catalogue error for the authenticator's verdict on a known key, then the global
    blacklist: the API refuses with it, and the panel's IP check tool explains it."""
    if refusal == Refusal.COMPANY_INACTIVE:
        return ApiError(_COMPANY_STATUS_CODES.get(grant.company_status, Code.SERVICE_TERMINATED))
    if refusal == Refusal.DISABLED:
        return ApiError(Code.INVALID_AUTHKEY, "This authentication key is disabled.")
    if refusal == Refusal.NOT_YET_VALID:
        start = f"{grant.valid_from:%Y-%m-%d %H:%M:%S}"
        return ApiError(Code.INVALID_AUTHKEY, f"This authentication key is not valid before {start} UTC.")
    if refusal == Refusal.EXPIRED:
        return ApiError(Code.INVALID_AUTHKEY, "This authentication key has expired.")
    if refusal == Refusal.IP_NOT_ALLOWED:
        return ApiError(Code.IP_NOT_WHITELISTED, f"IP {ip} is not whitelisted for this authkey.")
    if blacklist.is_blocked(ip):
        return ApiError(Code.IP_BLACKLISTED)
    return None


def _authenticate_user(ctx: Context, presented: Presented) -> Principal:
    """Basic or IBSSO: credentials (sessions.CredentialError: 104, 105, 201, 207) → company status
    → Additional Security (418) → blacklist (208), the order of the key checks."""
    principal = sessions.authenticate_user(presented, ctx.client_ip)
    try:
        if principal.company_status != Company.Status.ACTIVE:
            raise ApiError(_COMPANY_STATUS_CODES.get(principal.company_status, Code.SERVICE_TERMINATED))
        if not principal.ip_allowed(parse_client_ip(ctx.client_ip)):
            raise ApiError(
                Code.IP_NOT_WHITELISTED,
                f"IP {ctx.client_ip} is not whitelisted for this company (Additional Security).",
            )
        if blacklist.is_blocked(ctx.client_ip):
            raise ApiError(Code.IP_BLACKLISTED)
    except ApiError as error:
        raise _Refused(error.code, error.detail, principal) from None
    return principal


# --- Validation and acceptance ------------------------------------------------------------------


def parse_mobiles(raw: str | list[str] | None, country: str | None) -> tuple[list[str], list[str]]:
    """Comma-separated (or listed) numbers → (valid msisdns without +, invalid entries)."""
    items = raw if isinstance(raw, list) else str(raw or "").split(",")
    prefix = (country or "91").strip()
    if prefix == "0" or not prefix.isdigit():
        prefix = ""  # international: numbers must carry their country code
    valid: dict[str, None] = {}
    invalid: list[str] = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        digits = text.replace(" ", "").replace("-", "").removeprefix("+")
        if digits.startswith("00"):
            digits = digits[2:]
        if len(digits) == 10 and prefix and not text.startswith("+"):
            digits = prefix + digits
        if digits.isascii() and digits.isdigit() and 8 <= len(digits) <= 15 and digits[0] != "0":
            valid[digits] = None
        else:
            invalid.append(text)
    return list(valid), invalid


def _parse_schedule(raw: str | None, now: datetime) -> datetime | None:
    if raw is None or not str(raw).strip():
        return None
    text = str(raw).strip()
    parsed = parse_datetime(text.replace(" ", "T", 1) if "T" not in text else text)
    if parsed is None:
        raise ApiError(
            Code.SCHEDULE_INCORRECT,
            f"The schedule time {text!r} is not a date and time (YYYY-MM-DD HH:MM:SS).",
        )
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    if parsed < now - timedelta(seconds=60):
        raise ApiError(Code.SCHEDULE_IN_PAST)
    if parsed > now + timedelta(weeks=3):
        raise ApiError(Code.SCHEDULE_TOO_FAR)
    return parsed


class InvalidExpiry(ApiError):
    """A bad expiration / validity period: 307 (the catalogue's time-validation code), naming the
    field so dialects can point at it."""

    def __init__(self, detail: str) -> None:
        super().__init__(Code.SCHEDULE_INCORRECT, detail)


def _parse_expiry(request: SendRequest, now: datetime, scheduled_at: datetime | None) -> datetime | None:
    """When the message expires if not yet submitted, or None for the default
    (SMS_DELIVERY_VALIDITY_SECONDS after the schedule time or acceptance, applied by the outbox).
    A later request than the default is cut to it, as Infobip cuts validityPeriod to 48 hours."""
    start = scheduled_at or now
    longest = start + timedelta(seconds=settings.SMS_DELIVERY_VALIDITY_SECONDS)
    if request.validity_seconds is not None:
        text = str(request.validity_seconds).strip()
        if not (text.isascii() and text.isdigit() and int(text) > 0):
            raise InvalidExpiry(f"The validity period {text[:20]!r} is not a positive whole number.")
        return min(start + timedelta(seconds=int(text)), longest)
    if request.expiration is None or not str(request.expiration).strip():
        return None
    text = str(request.expiration).strip()
    try:
        parsed = parse_datetime(text)
    except ValueError:
        parsed = None
    if parsed is None:
        raise InvalidExpiry(f"The expiration {text[:40]!r} is not an ISO 8601 date and time.")
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    if parsed <= start:
        raise InvalidExpiry(
            "The expiration must be later than the schedule time."
            if scheduled_at
            else "The expiration is in the past."
        )
    return min(parsed, longest)


def _validate(grant: Principal, request: SendRequest, now: datetime) -> dict:  # type: ignore[type-arg]
    if not grant.may_use(request.service):
        raise ServiceNotAllowed(request.service)
    request = policy.with_groups(grant.company_id, request)  # 309
    if (
        request.mobiles is None
        or (isinstance(request.mobiles, str) and not request.mobiles.strip())
        or request.mobiles == []
    ):
        raise ApiError(Code.MISSING_MOBILE)
    text = request.text
    if text is None or not text.strip():
        raise ApiError(Code.MISSING_MESSAGE)
    valid, invalid = parse_mobiles(request.mobiles, request.country)
    if not valid:
        if len(invalid) == 1:
            raise ApiError(
                Code.INVALID_MOBILE,
                f"Invalid mobile number {invalid[0][:20]!r}: give it with its country code.",
            )
        raise ApiError(Code.NO_VALID_NUMBER)
    if len(valid) > MAX_RECIPIENTS:
        raise ApiError(Code.INVALID_MOBILE, f"At most {MAX_RECIPIENTS} numbers per request.")
    sender = (request.sender or "").strip()
    if not sender:
        raise ApiError(Code.INVALID_SENDER, "Missing sender ID.")
    if not (sender.isascii() and sender.isalnum() and 3 <= len(sender) <= 11):
        raise ApiError(Code.INVALID_SENDER, "A sender ID has 3 to 11 letters or digits.")
    route = policy.check(grant, request, sender, text)  # 603 203 209 210 306 602 211 402
    scheduled_at = _parse_schedule(request.schedule, now)
    expires_at = _parse_expiry(request, now, scheduled_at)
    campaign = request.campaign
    if campaign is not None:
        campaign = campaign.strip()
        if not campaign:
            raise ApiError(Code.CAMPAIGN_NAME_MISSING)
        if len(campaign) > 32:
            raise ApiError(Code.CAMPAIGN_TOO_LONG)
    segmentation = encoding.segment(text, force_unicode=request.unicode)
    if segmentation.parts > settings.SMS_MAX_PARTS:
        raise ApiError(
            Code.SMS_TOO_LONG,
            f"The text needs {segmentation.parts} parts; at most {settings.SMS_MAX_PARTS} are allowed.",
        )
    return {
        "recipients": valid,
        "sender": sender,
        "route": route,
        "scheduled_at": scheduled_at,
        "expires_at": expires_at,
        "campaign": campaign or "",
        "segmentation": segmentation,
        "text": text,
    }


def _duplicate_key(grant: Principal, sender: str, text: str, recipients: list[str]) -> str:
    fingerprint = sealing.fingerprint("\x1f".join([sender, text, *sorted(recipients)]))
    return f"messaging:dup:{grant.company_id}:{fingerprint}"


def _accept(
    ctx: Context, grant: Principal, request: SendRequest, within: Callable[[Message], None] | None = None
) -> Accepted:
    now = timezone.now()
    checked = _validate(grant, request, now)
    recipients: list[str] = checked["recipients"]
    segmentation = checked["segmentation"]
    credits = segmentation.parts * len(recipients)
    duplicate_key = _duplicate_key(grant, checked["sender"], checked["text"], recipients)
    message = Message(
        company_id=grant.company_id,
        authkey_id=grant.authkey_id,
        dialect=ctx.dialect,
        endpoint=ctx.endpoint,
        client_ip=ctx.client_ip or None,
        sender=checked["sender"],
        route=checked["route"],
        text=request.masked_text or checked["text"],
        sealed_text=sealing.seal(checked["text"]) if request.masked_text else "",
        encoding=segmentation.encoding,
        parts=segmentation.parts,
        recipient_count=len(recipients),
        credits=credits,
        campaign=checked["campaign"],
        reference=request.reference[:100],
        flash=request.flash,
        scheduled_at=checked["scheduled_at"],
        expires_at=checked["expires_at"],
        created_at=now,
        # Created already handed over: no second write per request. If publishing fails, the
        # sweeper re-publishes once next_attempt_at passes.
        **delivery.enqueued_fields(checked["scheduled_at"], now),
    )
    status = (
        Recipient.Status.SCHEDULED
        if message.delivery == Message.Delivery.SCHEDULED
        else Recipient.Status.ACCEPTED
    )
    rows = [
        Recipient(message=message, msisdn=msisdn, message_uid=str(uuid4()), status=status, status_at=now)
        for msisdn in recipients
    ]
    insufficient = ApiError(
        Code.INSUFFICIENT_BALANCE,
        f"This request needs {credits} credits: "
        f"{segmentation.parts} part(s) for each of {len(recipients)} number(s).",
    )
    if within is None and onestatement.available():
        outcome = onestatement.accept(
            message=message,
            recipients=rows,
            duplicate_key=duplicate_key,
            window=timedelta(seconds=settings.SMS_DUPLICATE_WINDOW_SECONDS),
            now=now,
        )
        if outcome == onestatement.Outcome.DUPLICATE:
            raise ApiError(Code.DUPLICATE)
        if outcome == onestatement.Outcome.INSUFFICIENT_BALANCE:
            raise insufficient
        _on_commit_deliver(message)
        return Accepted(message=message, recipients=rows)
    if not cache.add(duplicate_key, 1, timeout=settings.SMS_DUPLICATE_WINDOW_SECONDS):
        raise ApiError(Code.DUPLICATE)
    try:
        with transaction.atomic():
            debited = Company.objects.filter(pk=grant.company_id, sms_balance__gte=credits).update(
                sms_balance=F("sms_balance") - credits
            )
            if not debited:
                raise insufficient
            message.save(force_insert=True)
            Recipient.objects.bulk_create(rows, batch_size=1000)
            if within is not None:
                within(message)
        _on_commit_deliver(message)
    except BaseException:
        cache.delete(duplicate_key)  # nothing was sent: a corrected retry must not be a "duplicate"
        raise
    return Accepted(message=message, recipients=rows)


def _on_commit_deliver(message: Message) -> None:
    if message.delivery == Message.Delivery.ENQUEUED:
        transaction.on_commit(lambda: publisher.publish_soon(message.pk))


# --- Recording ----------------------------------------------------------------------------------


def record_refusal(
    ctx: Context,
    error: ApiError,
    *,
    grant: Principal | None = None,
    presented: Presented | None = None,
    company_id: int | None = None,
) -> None:
    """Failed Logs row + Recent IPs; a failure to record is logged, never raised. `company_id`
    attributes a refusal that has no key grant (e.g. a company user's wrong password)."""
    grant = getattr(error, "grant", None) or grant
    if company_id is None:  # e.g. sessions.CredentialError for a known user's wrong password
        company_id = getattr(error, "company_id", None)
    if grant is not None:
        company_id = grant.company_id
    key_prefix = ""
    if presented is not None and presented.key.startswith(keys.PREFIX):
        key_prefix = keys.display_prefix(presented.key)
    try:
        # Buffered and written in batches (messaging/refusals.py): no synchronous durable write
        # per refusal; FAILED_REQUEST_BATCH_SIZE = 1 makes it synchronous (tests).
        refusals.record_refusal(
            company_id=company_id,
            authkey_id=grant.authkey_id if grant else None,
            key_prefix=key_prefix,
            code=str(error.code),
            reason=error.detail[:300],
            dialect=ctx.dialect,
            endpoint=ctx.endpoint,
            method=ctx.method[:8],
            client_ip=ctx.client_ip or None,
        )
        if ctx.request is not None:
            setattr(ctx.request, RECORDED_REFUSAL, True)
        if grant is not None and ctx.client_ip:
            refusals.record_ip(
                company_id=grant.company_id,
                ip=ctx.client_ip,
                authkey_id=grant.authkey_id,
                accepted=False,
                code=str(error.code),
            )
    except Exception as exc:
        logger.error("could not record a refusal on %s: %s", ctx.endpoint, type(exc).__name__)


def record_success(ctx: Context, grant: Principal | None) -> None:
    """Recent IPs + key last used, for endpoints that authenticate through `authenticate`."""
    _record_success(ctx, grant)


def _record_success(ctx: Context, grant: Principal | None) -> None:
    if grant is None:
        return
    now = timezone.now()
    try:
        if ctx.client_ip:  # counted in the refusals buffer, written in batches
            refusals.record_ip(
                company_id=grant.company_id, ip=ctx.client_ip, authkey_id=grant.authkey_id, accepted=True
            )
        if grant.authkey_id is None:  # a company user (Basic, IBSSO): no key to mark as used
            return
        # At most one "last used" write per key per minute: the process remembers its own writes,
        # so the hot path skips even the conditional UPDATE (not in synchronous mode: tests).
        if not refusals.last_used_due(grant.authkey_id):
            return
        AuthKey.objects.filter(pk=grant.authkey_id).exclude(
            last_used_at__gt=now - timedelta(seconds=60)
        ).update(last_used_at=now, last_used_ip=ctx.client_ip or None)
    except Exception as exc:
        logger.error("could not record a success on %s: %s", ctx.endpoint, type(exc).__name__)
