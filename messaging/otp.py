"""MSG91 OTP endpoints: send, retry and verify a one-time password for a mobile number.

    legacy (GET|POST)             v5 (GET|POST)           what
    /api/sendotp.php              /api/v5/otp             text a new code to `mobile`
    /api/retryotp.php             /api/v5/otp/retry       text a new code again (retrytype=text)
    /api/verifyRequestOTP.php     /api/v5/otp/verify      check `otp` for `mobile`

Parameters come from the query string, a form body or (v5) a JSON body; the authkey as header or
parameter, as on every MSG91 endpoint. The key's rule must allow the "otp" service.

sendotp: `mobile` (with country code; 10 digits get 91), `message` (default "Your verification
code is ##OTP##."; ##OTP## marks the code — or, as in MSG91's legacy example, the message holds the
`otp` value itself), `sender` (default OTP_API_DEFAULT_SENDER), `otp` (the caller's own code, 4-9
digits; else a random one), `otp_length` (4-9, default OTP_API_DEFAULT_LENGTH), `otp_expiry`
(minutes, 1 to 10080, default OTP_API_DEFAULT_EXPIRY_MINUTES = MSG91's one day). v5 also takes
`template_id`: an approved flow (messaging/flows.py: 400/401/403) whose ##OTP## (any case) takes the
code and whose other ##var## take the request's values. A new sendotp replaces the mobile's
previous code.

The SMS goes through the one pipeline (`api.send`, service "otp"): authentication, IP checks,
policy (sender, route, keywords), balance debit of its parts, duplicate detection (the same text
to the same number within 10 s is 311), Failed Logs, the delivery outbox; the code's row is
written in the same transaction as the Message, so a refused send leaves the previous code alone.

Secrets: the code is stored only as a keyed digest (accounts.codes.HashedCodeMixin) and never
logged or put in a task payload (the delivery task carries the message id). The SMS text
necessarily contains the code, and the delivery worker reads it from the Message row: so
Message.text holds the text with the code masked ("Your code is ******": what reports, logs and
the admin show) and the real text is stored only sealed (Message.sealed_text, encrypted and
authenticated, messaging/sealing.py), unsealed in memory at the hand-over and cleared once the
message is submitted or expired.
Because only the digest is kept, a retry cannot resend the same code: it texts a *new* code of the
same length (the previous one stops working), valid until the original expiry.

Verification: the code is consumed once by a conditional UPDATE (digest, unexpired, unverified,
attempts left), so two concurrent verifications succeed once. Each wrong code counts; after
OTP_API_MAX_VERIFY_ATTEMPTS the code is dead ("Max limit reached …") until a retry or a new
sendotp. Retries: at most OTP_API_MAX_RETRIES per code; retrytype=voice is not supported (an
error says so; MSG91's legacy default is voice, here the default is text).

Replies (HTTP 200, `{"type", "message"}`; MSG91's legacy endpoints use snake_case messages, v5
sentences):

    outcome                 legacy message                      v5 message
    sent                    "<request id>"                      (no message) "request_id": "<id>"
    retried                 otp_sent_successfully               retry send successfully
    verified                number_verified_successfully        OTP verified success
    already verified        already_verified                    Mobile no. already verified
    wrong code              otp_not_verified                    OTP not match
    expired                 otp_expired                         OTP expired
    too many wrong codes    max_limit_reached_for_this_otp_…    Max limit reached for this otp verification
    no OTP for the number   mobile_not_found                    Mobile no. not found
    retry: none to retry    no_otp_request_found                No OTP request found to retryotp
    retry: too many         otp_retry_count_maxed_out           OTP retry count maxed out

(the legacy "too many" message is max_limit_reached_for_this_otp_verification). "type" is
"success" for sent, retried and verified, else "error".

Errors and successes other than the send's refusals are OTP outcomes, not refusals in catalogue
terms: they have no catalogue code and no Failed Logs row (like a report's unknown request id).
Invalid OTP parameters (otp, otp_length, otp_expiry, a message without ##OTP##, retrytype) answer
{"type":"error","message":"<what is wrong>"}. The pipeline's refusals keep their catalogue shape
{"type":"error","message","code"} and status (401 for a bad key) and are in Failed Logs.
"""

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db.models import F
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from accounts.codes import looks_like_code, new_code
from authkeys import services_catalogue
from messaging import api, flows
from messaging.catalogue import ApiError, Code
from messaging.credentials import Presented, presented_key
from messaging.dialects import msg91
from messaging.models import Message, OtpRequest

logger = logging.getLogger(__name__)

DEFAULT_MESSAGE = "Your verification code is ##OTP##."
PLACEHOLDER = re.compile(r"##otp##", re.IGNORECASE)
MIN_LENGTH, MAX_LENGTH = 4, 9
MAX_EXPIRY_MINUTES = 7 * 24 * 60
MASK = "*"

# outcome → (legacy message, v5 message)
OUTCOMES: dict[str, tuple[str, str]] = {
    "retried": ("otp_sent_successfully", "retry send successfully"),
    "verified": ("number_verified_successfully", "OTP verified success"),
    "already_verified": ("already_verified", "Mobile no. already verified"),
    "mismatch": ("otp_not_verified", "OTP not match"),
    "expired": ("otp_expired", "OTP expired"),
    "max_attempts": (
        "max_limit_reached_for_this_otp_verification",
        "Max limit reached for this otp verification",
    ),
    "not_found": ("mobile_not_found", "Mobile no. not found"),
    "no_request": ("no_otp_request_found", "No OTP request found to retryotp"),
    "max_retries": ("otp_retry_count_maxed_out", "OTP retry count maxed out"),
}
SUCCESSES = frozenset({"retried", "verified"})


class OtpError(Exception):
    """An invalid OTP parameter (not a catalogue refusal): answered {"type":"error","message"}."""


@dataclass(frozen=True)
class Outcome:
    kind: str  # a key of OUTCOMES
    request_id: str = ""


# --- Services -------------------------------------------------------------------------------------


def _int_param(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    if raw is None or not str(raw).strip():
        return default
    text = str(raw).strip()
    if not (text.isascii() and text.isdigit() and low <= int(text) <= high):
        raise OtpError(f"{name} must be a whole number from {low} to {high}, not {text[:20]!r}.")
    return int(text)


def _template(message: str | None, code: str | None) -> str:
    """The SMS text with ##OTP## where the code goes."""
    text = DEFAULT_MESSAGE if message is None or not message.strip() else message
    if PLACEHOLDER.search(text):
        return PLACEHOLDER.sub("##OTP##", text)
    if code and code in text:  # MSG91's legacy form: the message holds the otp itself
        return text.replace(code, "##OTP##")
    raise OtpError("The message must contain ##OTP## where the code goes (or the otp itself).")


def _fill(template: str, code: str) -> str:
    return template.replace("##OTP##", code)


def _one_mobile(raw: str | None) -> str | None:
    """The one number of `mobile` (with country code), or None (the pipeline answers 101/202)."""
    valid, invalid = api.parse_mobiles(raw, None)
    if len(valid) + len(invalid) > 1:
        raise ApiError(Code.INVALID_MOBILE, "Send one mobile number per OTP request.")
    return valid[0] if valid else None


def otp_send(
    ctx: api.Context,
    extract: Callable[[], Presented | None],
    *,
    mobile: str | None,
    message: str | None,
    sender: str | None,
    code: str | None,
    code_length: str | None,
    expiry_minutes: str | None,
    template_id: str | None = None,
    variables: dict[str, Any] | None = None,
) -> Outcome:
    """Text a new code to `mobile` through the pipeline and store its digest with the Message.
    `extract()` returns the presented credentials (authentication is the pipeline's). Raises
    OtpError (bad OTP parameters) or ApiError (a pipeline refusal, already recorded)."""
    presented: Presented | None = None

    def remember() -> Presented | None:
        nonlocal presented
        presented = extract()
        return presented

    grant = api.authorize(ctx, remember, services_catalogue.OTP)
    length = _int_param(code_length, "otp_length", settings.OTP_API_DEFAULT_LENGTH, MIN_LENGTH, MAX_LENGTH)
    if code is not None and str(code).strip():
        code = str(code).strip()
        if not (code.isascii() and code.isdigit() and MIN_LENGTH <= len(code) <= MAX_LENGTH):
            raise OtpError(f"otp must be {MIN_LENGTH} to {MAX_LENGTH} digits.")
        length = len(code)
    else:
        code = new_code(length)
    minutes = _int_param(
        expiry_minutes, "otp_expiry", settings.OTP_API_DEFAULT_EXPIRY_MINUTES, 1, MAX_EXPIRY_MINUTES
    )
    route = "4"
    if template_id:
        try:
            flow = flows._flow(grant.company_id, str(template_id).strip())
            template = flows.render_text(flow.template, {**(variables or {}), "OTP": "##OTP##"}, 1)
        except ApiError as error:
            api.record_refusal(ctx, error, grant=grant)
            raise
        template = PLACEHOLDER.sub("##OTP##", template)
        if "##OTP##" not in template:
            raise OtpError("The template has no ##OTP## placeholder for the code.")
        sender = sender or flow.sender
        route = flow.route or route
    else:
        template = _template(message, code)
    sender = sender or settings.OTP_API_DEFAULT_SENDER
    try:
        number = _one_mobile(mobile)
    except ApiError as error:
        api.record_refusal(ctx, error, grant=grant)
        raise
    request = api.SendRequest(
        mobiles=[number] if number else mobile,
        text=_fill(template, code),
        masked_text=_fill(template, MASK * length),
        sender=sender,
        route=route,
        service=services_catalogue.OTP,
    )

    def store(sms: Message) -> None:
        """In the acceptance transaction: the mobile's OTP row now holds this code's digest."""
        assert number is not None  # the pipeline refused a request without one before this
        now = timezone.now()
        otp, _ = OtpRequest.objects.update_or_create(
            company_id=grant.company_id,
            mobile=number,
            defaults={
                "authkey_id": grant.authkey_id,
                "template": template,
                "sender": sms.sender,
                "route": route,
                "code_length": length,
                "attempts": 0,
                "retries": 0,
                "verified_at": None,
                "message": sms,
                "created_at": now,
            },
        )
        otp.issue_code(valid_secs=minutes * 60, code=code)

    accepted = api.send(ctx, lambda: (presented, request), within=store)
    return Outcome("sent", accepted.message.request_id)


def _current(company_id: int, mobile: str | None) -> OtpRequest | None:
    number = _one_mobile(mobile)
    if number is None:
        return None
    return OtpRequest.objects.filter(company_id=company_id, mobile=number).first()


def otp_verify(*, company_id: int, mobile: str | None, code: str | None) -> Outcome:
    """Check `code` against the mobile's current OTP; consumes it on success (once)."""
    otp = _current(company_id, mobile)
    if otp is None:
        return Outcome("not_found")
    now = timezone.now()
    if otp.verified_at is not None:
        return Outcome("already_verified")
    if otp.attempts >= settings.OTP_API_MAX_VERIFY_ATTEMPTS:
        return Outcome("max_attempts")
    if not otp.token_digest or otp.valid_until <= now:
        return Outcome("expired")
    code = str(code or "").strip()
    verified = looks_like_code(code, otp.code_length) and (
        OtpRequest.objects.filter(
            pk=otp.pk,
            token_digest=otp._code_digest(code),
            valid_until__gt=now,
            verified_at__isnull=True,
            attempts__lt=settings.OTP_API_MAX_VERIFY_ATTEMPTS,
        ).update(token_digest="", verified_at=now)
        == 1
    )
    if verified:
        return Outcome("verified")
    # A wrong code, or a concurrent verification that won: count it (bounded), then say which.
    OtpRequest.objects.filter(pk=otp.pk, attempts__lt=settings.OTP_API_MAX_VERIFY_ATTEMPTS).update(
        attempts=F("attempts") + 1
    )
    if OtpRequest.objects.filter(pk=otp.pk, verified_at__isnull=False).exists():
        return Outcome("already_verified")
    return Outcome("mismatch")


def otp_retry(
    ctx: api.Context, grant: api.Principal, presented: Presented | None, *, mobile: str | None
) -> Outcome:
    """Text a new code (same length, same expiry) for the mobile's current OTP through the
    pipeline; the previous code stops working. Raises ApiError (pipeline refusal, recorded)."""
    otp = _current(grant.company_id, mobile)
    if otp is None:
        return Outcome("no_request")
    now = timezone.now()
    if otp.verified_at is not None:
        return Outcome("already_verified")
    if not otp.token_digest or otp.valid_until <= now:
        return Outcome("expired")
    if otp.retries >= settings.OTP_API_MAX_RETRIES:
        return Outcome("max_retries")
    code = new_code(otp.code_length)
    request = api.SendRequest(
        mobiles=[otp.mobile],
        text=_fill(otp.template, code),
        masked_text=_fill(otp.template, MASK * otp.code_length),
        sender=otp.sender,
        route=otp.route,
        service=services_catalogue.OTP,
    )

    def store(sms: Message) -> None:
        # Conditional on the state read above: a concurrent retry, verification or new sendotp
        # wins, and this acceptance (debit included) rolls back.
        updated = OtpRequest.objects.filter(
            pk=otp.pk, retries=otp.retries, verified_at__isnull=True, token_digest=otp.token_digest
        ).update(retries=F("retries") + 1, attempts=0, message=sms)
        if updated != 1:
            raise ApiError(Code.DUPLICATE, "Another request changed this OTP at the same time: try again.")
        otp.issue_code(valid_secs=max(1, int((otp.valid_until - now).total_seconds())), code=code)

    api.send(ctx, lambda: (presented, request), within=store)
    return Outcome("retried")


# --- Endpoints ------------------------------------------------------------------------------------

_LEGACY = {
    "/api/sendotp.php": "send",
    "/api/retryotp.php": "retry",
    "/api/verifyRequestOTP.php": "verify",
}
_V5 = {"/api/v5/otp": "send", "/api/v5/otp/retry": "retry", "/api/v5/otp/verify": "verify"}


def _body(request: HttpRequest) -> dict[str, Any]:
    if not request.body or request.content_type != "application/json":
        return {}
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise OtpError("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise OtpError("The request body must be a JSON object.")
    return body


def _reply(kind: str, legacy: bool, request_id: str = "") -> JsonResponse:
    if kind == "sent":
        key = "message" if legacy else "request_id"
        return JsonResponse({"type": "success", key: request_id})
    legacy_text, v5_text = OUTCOMES[kind]
    return JsonResponse(
        {"type": "success" if kind in SUCCESSES else "error", "message": legacy_text if legacy else v5_text}
    )


@csrf_exempt
@login_not_required
@require_http_methods(["GET", "POST"])
def endpoint(request: HttpRequest) -> HttpResponse:
    path = request.path.rstrip("/")
    legacy = path in _LEGACY
    action = _LEGACY.get(path) or _V5[path]
    ctx = api.Context.of(request, dialect=msg91.DIALECT, endpoint=path)
    body: dict[str, Any] = {}
    presented: Presented | None = None

    def extract() -> Presented | None:
        nonlocal presented
        presented = presented_key(request, body=body)
        return presented

    def get(name: str) -> str | None:
        return msg91._single(request, name, body)

    try:
        body = _body(request)
        if action == "send":
            outcome = otp_send(
                ctx,
                extract,
                mobile=get("mobile"),
                message=get("message"),
                sender=get("sender"),
                code=get("otp"),
                code_length=get("otp_length"),
                expiry_minutes=get("otp_expiry"),
                template_id=None if legacy else get("template_id"),
                variables=body,
            )
        else:
            grant = api.authorize(ctx, extract, services_catalogue.OTP)
            if action == "verify":
                outcome = otp_verify(company_id=grant.company_id, mobile=get("mobile"), code=get("otp"))
                api.record_success(ctx, grant)
            else:
                retry_type = (get("retrytype") or "text").strip().lower()
                if retry_type == "voice":
                    raise OtpError("Voice retry is not supported: use retrytype=text.")
                if retry_type != "text":
                    raise OtpError(f"retrytype must be text or voice, not {retry_type[:20]!r}.")
                outcome = otp_retry(ctx, grant, presented, mobile=get("mobile"))
    except OtpError as error:
        return JsonResponse({"type": "error", "message": str(error)})
    except ApiError as error:
        return msg91.render("json", error=error)
    except Exception as exc:  # verify/retry bookkeeping outside the pipeline: never leak details
        logger.error("OTP %s failed on %s: %s", action, path, type(exc).__name__)
        internal = ApiError(Code.INTERNAL_ERROR)
        api.record_refusal(ctx, internal, presented=presented)
        return msg91.render("json", error=internal)
    return _reply(outcome.kind, legacy, outcome.request_id)
