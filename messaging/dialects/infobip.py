"""Infobip dialect (WIRE_FORMATS.md "Infobip", seed 003): authentication endpoints, SMS send
(sms/2 and sms/3) and delivery reports / logs, wire-compatible with infobip-api-python-client 6.

Credentials (`Authorization` header; the `authkey` header or parameter works too):
`App <api key>`, `Basic base64(email:password)` (a company user), `IBSSO <session token>`,
`Bearer <OAuth access token>`; see messaging/sessions.py for what each one acts as.

Endpoints
- `POST /auth/1/session` JSON (or form) {"username", "password", "unsafe"?} → 200 {"token"}. The
  token lasts INFOBIP_SESSION_SECONDS (60 min) and is bound to the caller's IP unless
  "unsafe": true. While the user has a live session, creating another is refused with 400
  BAD_REQUEST (Infobip: destroy it first); that refusal is not a catalogue code, so it is not in
  Failed Logs. `DELETE /auth/1/session` with `Authorization: IBSSO <token>` only → 204.
- `POST /auth/1/oauth2/token` form client_id, client_secret, grant_type=client_credentials (or
  the client credentials as HTTP Basic, RFC 6749 client_secret_basic) → {"access_token",
  "expires_in", "token_type": "Bearer"}, `Cache-Control: no-store`. An OAuth client is an API key:
  client_secret is the full key and client_id its display prefix (the first 11 characters, as the
  panel shows it). The key must pass every check (company, enabled, expiry, IP 418, blacklist);
  the token then acts with that key's grant. Errors carry RFC 6749 `error`/`error_description`
  and Infobip's `requestError` side by side. A grant_type other than client_credentials is a
  protocol error (400 unsupported_grant_type / invalid_request), not a refusal in Failed Logs.
- `POST /sms/2/text/advanced` {"bulkId"?, "messages": [{"from", "destinations": [{"to"}], "text",
  "sendAt"?, "flash"?, "validityPeriod"? (minutes)}]}
  → {"bulkId", "messages": [{"to", "status", "messageId", "smsCount"}]}.
- `POST /sms/3/messages` {"messages": [{"sender", "destinations": [{"to"}], "content": {"text"},
  "options"?: {"flash", "campaignReferenceId", "validityPeriod": {"amount", "timeUnit"}}}],
  "options"?: {"schedule": {"bulkId", "sendAt"}}}
  → {"bulkId", "messages": [{"messageId", "status", "destination", "details": {"messageCount"}}]}.
- `GET /sms/3/reports`, `GET /sms/3/logs` (bulkId, messageId, limit; logs also destination,
  sender, generalStatus, sentSince, sentUntil) → {"results": [...]}; `GET /sms/1/reports` and
  `GET /sms/1/logs` in the older shapes. They need the "reports" service and return the current
  status of the company's recipients, newest first (limit default 50, at most 1000); unlike
  Infobip's reports endpoint, a report is not consumed by reading it.

The validity period (timeUnit SECONDS, MINUTES (default) or HOURS) is counted from sendAt or
acceptance and cut to SMS_DELIVERY_VALIDITY_SECONDS (48 h by default, Infobip's own maximum); a
message not handed to the gateway within it expires (status EXPIRED). Not a positive whole number
→ 307 with the validityPeriod field named.

Numbers are international (`to` carries its country code; country "0" in the pipeline); there is
no route, so the company's transactional route applies. `messageId` is the recipient's
message_uid; its status maps from Recipient.Status (STATUSES).

Several entries in "messages": each is its own pipeline run (its own Message, checks, balance
debit and request id); it is not all-or-nothing. The bulkId is the client's (sms/2 "bulkId",
sms/3 options.schedule.bulkId) or else the request id of the first accepted entry; it is stored
as the reference of the entries' Messages, so reports find them all by it. A refusal that would
refuse every entry (credentials, account, IP, rule, internal) stops at once. If no entry is
accepted the reply is the first refusal as an error; otherwise 200, the refused entries' numbers
listed with a REJECTED status whose description is "[<code>] <reason>".

Errors: sms/2, sms/1 and auth: {"requestError": {"serviceException": {"messageId", "text",
"validationErrors"?}}}; sms/3: {"errorCode": "E400|E401|E403|E500", "description", "action",
"violations": [{"property", "violation"}], "resources": []}. The text/description always starts
with the catalogue code ("[418] IP … is not whitelisted …"), as in Failed Logs. HTTP status (and
Infobip id): 401 UNAUTHORIZED (+ `WWW-Authenticate`) for credentials (104, 105, 201, 207); 403
FORBIDDEN for the rule/service, IP (418, 208) and the account (301, 302, 303, 421); 500
GENERAL_ERROR for internal errors (506); 400 BAD_REQUEST for everything else (validation and
policy, with the field in validationErrors / violations where one is known); 429
TOO_MANY_REQUESTS (sms/3: E429; OAuth: error "invalid_client") with `Retry-After` while the
brute-force throttle (messaging/throttle.py) locks the username / client_id or the client IP of
password-style credentials (Basic, POST /auth/1/session, the OAuth client credentials): the
credentials are then refused without being checked, and the refusal keeps its catalogue code
(201, or 207 for OAuth) in Failed Logs.
"""

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from django.contrib.auth.decorators import login_not_required
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from authkeys import keys, services_catalogue
from authkeys.auth import KeyGrant
from messaging import api, sessions, throttle
from messaging.catalogue import ApiError, Code
from messaging.credentials import BASIC, IBSSO, Presented, decode_basic, presented_key
from messaging.models import Message, Recipient

DIALECT = "infobip"
REALM = "SMS Portal"
WWW_AUTHENTICATE = ", ".join(f'{scheme} realm="{REALM}"' for scheme in ("App", "Basic", "IBSSO", "Bearer"))
MAX_MESSAGES = 100
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000

Status = Recipient.Status


# --- Statuses -----------------------------------------------------------------------------------


def _status(group_id: int, group: str, status_id: int, name: str, description: str) -> dict[str, Any]:
    return {
        "groupId": group_id,
        "groupName": group,
        "id": status_id,
        "name": name,
        "description": description,
    }


# Recipient.Status → Infobip status (Infobip's own group ids, status ids and names).
STATUSES: dict[str, dict[str, Any]] = {
    Status.ACCEPTED: _status(1, "PENDING", 26, "PENDING_ACCEPTED", "Message sent to next instance"),
    Status.SCHEDULED: _status(1, "PENDING", 26, "PENDING_ACCEPTED", "Message scheduled for its send time"),
    Status.ENROUTE: _status(1, "PENDING", 7, "PENDING_ENROUTE", "Message sent to next instance"),
    Status.DELIVERED: _status(3, "DELIVERED", 5, "DELIVERED_TO_HANDSET", "Message delivered to handset"),
    Status.UNDELIVERABLE: _status(
        2, "UNDELIVERABLE", 9, "UNDELIVERABLE_NOT_DELIVERED", "Message sent not delivered"
    ),
    Status.EXPIRED: _status(4, "EXPIRED", 15, "EXPIRED_EXPIRED", "Message expired"),
    Status.REJECTED: _status(5, "REJECTED", 6, "REJECTED_NETWORK", "Message rejected by the network"),
    Status.FAILED: _status(5, "REJECTED", 6, "REJECTED_NETWORK", "Message rejected by the network"),
}
_FINAL = frozenset({Status.DELIVERED, Status.UNDELIVERABLE, Status.EXPIRED, Status.REJECTED, Status.FAILED})
NO_ERROR = {
    "groupId": 0,
    "groupName": "OK",
    "id": 0,
    "name": "NO_ERROR",
    "description": "No Error",
    "permanent": False,
}
# Recipient.Status → the error object of reports (group names are Infobip's; the recipient's own
# error text is the description).
_ERRORS: dict[str, tuple[int, str, int, str, bool]] = {
    Status.UNDELIVERABLE: (1, "HANDSET_ERRORS", 27, "EC_ABSENT_SUBSCRIBER", False),
    Status.EXPIRED: (3, "OPERATOR_ERRORS", 4000, "EC_VALIDITY_EXPIRED", False),
    Status.REJECTED: (3, "OPERATOR_ERRORS", 4001, "EC_REJECTED_BY_NETWORK", True),
    Status.FAILED: (3, "OPERATOR_ERRORS", 34, "EC_SYSTEM_FAILURE", False),
}
# Catalogue code → (id, name) of the REJECTED status of an entry refused inside a partial reply.
_REJECTED_IDS: dict[Code, tuple[int, str]] = {
    Code.INSUFFICIENT_BALANCE: (12, "REJECTED_NOT_ENOUGH_CREDITS"),
    Code.MISSING_MOBILE: (52, "REJECTED_DESTINATION"),
    Code.INVALID_MOBILE: (52, "REJECTED_DESTINATION"),
    Code.NO_VALID_NUMBER: (52, "REJECTED_DESTINATION"),
    Code.INVALID_SENDER: (14, "REJECTED_SENDER"),
    Code.SENDER_BLACKLISTED: (14, "REJECTED_SENDER"),
}


def _error_object(recipient: Recipient) -> dict[str, Any]:
    entry = _ERRORS.get(recipient.status)
    if entry is None:
        return NO_ERROR
    group_id, group, error_id, name, permanent = entry
    return {
        "groupId": group_id,
        "groupName": group,
        "id": error_id,
        "name": name,
        "description": recipient.error or recipient.get_status_display(),
        "permanent": permanent,
    }


def _rejected(error: ApiError) -> dict[str, Any]:
    status_id, name = _REJECTED_IDS.get(error.code, (18, "REJECTED_INVALID_REQUEST"))
    return _status(5, "REJECTED", status_id, name, error_text(error))


# --- Errors -------------------------------------------------------------------------------------

_FORBIDDEN = frozenset({Code.IP_NOT_WHITELISTED, Code.IP_BLACKLISTED})
_MESSAGE_IDS = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    429: "TOO_MANY_REQUESTS",
    500: "GENERAL_ERROR",
}
_ACTIONS = {
    400: "Correct the request as the description and violations say, then send it again.",
    401: "Check the credentials in the Authorization header (App, Basic, IBSSO or Bearer).",
    403: "Check the account status and balance, the key's rule and the IP security settings.",
    429: "Too many failed attempts: wait for the time in Retry-After, then use the right credentials.",
    500: "Try again later; if it persists, contact your account manager with the time of the request.",
}
_OAUTH_ERRORS = {
    400: "invalid_request",
    401: "invalid_client",
    403: "unauthorized_client",
    429: "invalid_client",
    500: "server_error",
}
# Catalogue code → the field of a message entry it is about, per API version ({i}: entry index).
_V2_FIELDS: dict[Code, str] = {
    Code.MISSING_MOBILE: "messages[{i}].destinations",
    Code.INVALID_MOBILE: "messages[{i}].destinations",
    Code.NO_VALID_NUMBER: "messages[{i}].destinations",
    Code.MISSING_MESSAGE: "messages[{i}].text",
    Code.SMS_TOO_LONG: "messages[{i}].text",
    Code.HARD_BLOCK_KEYWORDS: "messages[{i}].text",
    Code.INVALID_SENDER: "messages[{i}].from",
    Code.SENDER_BLACKLISTED: "messages[{i}].from",
    Code.SCHEDULE_INCORRECT: "messages[{i}].sendAt",
    Code.SCHEDULE_IN_PAST: "messages[{i}].sendAt",
    Code.SCHEDULE_TOO_FAR: "messages[{i}].sendAt",
}
_V3_FIELDS: dict[Code, str] = {
    **_V2_FIELDS,
    Code.MISSING_MESSAGE: "messages[{i}].content.text",
    Code.SMS_TOO_LONG: "messages[{i}].content.text",
    Code.HARD_BLOCK_KEYWORDS: "messages[{i}].content.text",
    Code.INVALID_SENDER: "messages[{i}].sender",
    Code.SENDER_BLACKLISTED: "messages[{i}].sender",
    Code.SCHEDULE_INCORRECT: "options.schedule.sendAt",
    Code.SCHEDULE_IN_PAST: "options.schedule.sendAt",
    Code.SCHEDULE_TOO_FAR: "options.schedule.sendAt",
    Code.CAMPAIGN_TOO_LONG: "messages[{i}].options.campaignReferenceId",
    Code.CAMPAIGN_NAME_MISSING: "messages[{i}].options.campaignReferenceId",
}


class _BodyError(ApiError):
    """A malformed request body, about the named property."""

    def __init__(self, code: Code, detail: str, property: str) -> None:
        super().__init__(code, detail)
        self.property = property


def http_status(error: ApiError) -> int:
    if isinstance(error, throttle.Throttled):
        return 429
    kind = error.entry.kind
    if kind == "internal":
        return 500
    if isinstance(error, api.ServiceNotAllowed) or error.code in _FORBIDDEN or kind == "account":
        return 403
    if kind == "auth":
        return 401
    return 400


def error_text(error: ApiError) -> str:
    return f"[{error.code}] {error.detail}"


def _property(error: ApiError, fields: dict[Code, str], index: int | None) -> str | None:
    if isinstance(error, _BodyError):
        return error.property
    if isinstance(error, api.InvalidExpiry) and index is not None:
        return (
            f"messages[{index}].validityPeriod"
            if fields is _V2_FIELDS
            else f"messages[{index}].options.validityPeriod"
        )
    template = fields.get(error.code)
    if template is None or index is None:
        return None
    return template.format(i=index)


def _challenge(response: HttpResponse, error: ApiError | None = None) -> HttpResponse:
    if response.status_code == 401:
        response["WWW-Authenticate"] = WWW_AUTHENTICATE
    if isinstance(error, throttle.Throttled):
        response["Retry-After"] = str(error.retry_after)
    return response


def _service_exception(error: ApiError, index: int | None = None) -> dict[str, Any]:
    status = http_status(error)
    exception: dict[str, Any] = {"messageId": _MESSAGE_IDS[status], "text": error_text(error)}
    field = _property(error, _V2_FIELDS, index)
    if status == 400 and field:
        exception["validationErrors"] = {field: [error_text(error)]}
    return {"requestError": {"serviceException": exception}}


def render_v2_error(error: ApiError, index: int | None = None) -> HttpResponse:
    """sms/2, sms/1 and auth endpoints: requestError.serviceException."""
    return _challenge(JsonResponse(_service_exception(error, index), status=http_status(error)), error)


def render_v3_error(error: ApiError, index: int | None = None) -> HttpResponse:
    """sms/3: errorCode, description, action, violations, resources."""
    status = http_status(error)
    field = _property(error, _V3_FIELDS, index)
    violations = [{"property": field, "violation": error_text(error)}] if status == 400 and field else []
    body = {
        "errorCode": f"E{status}",
        "description": error_text(error),
        "action": _ACTIONS[status],
        "violations": violations,
        "resources": [],
    }
    return _challenge(JsonResponse(body, status=status), error)


def _no_store(response: HttpResponse) -> HttpResponse:
    add_never_cache_headers(response)  # Cache-Control: max-age=0, no-cache, no-store, …
    response["Pragma"] = "no-cache"
    return response


# --- Request parsing ----------------------------------------------------------------------------


def _json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"")
    except (ValueError, UnicodeDecodeError):
        raise _BodyError(Code.MISSING_MESSAGE, "The request body is not valid JSON.", "body") from None
    if not isinstance(body, dict):
        raise _BodyError(Code.MISSING_MESSAGE, "The request body must be a JSON object.", "body")
    return body


def _text(value: Any) -> str | None:
    """A scalar as text; anything else (object, list) counts as absent."""
    if value is None or isinstance(value, dict | list):
        return None
    return value if isinstance(value, str) else str(value)


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _destinations(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [text for item in value if (text := _text(_object(item).get("to"))) is not None]


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _BodyError(
            Code.MISSING_MESSAGE, 'The request has no "messages": send at least one.', "messages"
        )
    if len(messages) > MAX_MESSAGES:
        raise _BodyError(
            Code.MISSING_MESSAGE, f"At most {MAX_MESSAGES} entries in messages per request.", "messages"
        )
    return [_object(message) for message in messages]


@dataclass
class _Entry:
    request: api.SendRequest
    destinations: list[str]


_SECONDS_PER_UNIT = {"SECONDS": 1, "MINUTES": 60, "HOURS": 3600}


def _validity_seconds(amount: Any, unit: Any = "MINUTES") -> str | None:
    """Infobip's validity period (sms/2 `validityPeriod` minutes; sms/3 options.validityPeriod
    {"amount", "timeUnit": SECONDS|MINUTES|HOURS}, default MINUTES) as seconds for the pipeline,
    which refuses anything that is not a positive whole number (307)."""
    if amount is None:
        return None
    factor = _SECONDS_PER_UNIT.get(str(unit or "MINUTES").strip().upper())
    if isinstance(amount, bool) or not isinstance(amount, int) or factor is None:
        return f"{amount} {unit}"  # refused by the pipeline with the value in the message
    return str(amount * factor)


def _entries_v2(body: dict[str, Any]) -> tuple[list[_Entry], str | None]:
    entries = []
    for message in _messages(body):
        destinations = _destinations(message.get("destinations"))
        request = api.SendRequest(
            mobiles=destinations,
            text=_text(message.get("text")),
            sender=_text(message.get("from")),
            country="0",  # Infobip numbers are international
            schedule=_text(message.get("sendAt")),
            flash=message.get("flash") is True,
            validity_seconds=_validity_seconds(message.get("validityPeriod")),
        )
        entries.append(_Entry(request, destinations))
    return entries, _text(body.get("bulkId"))


def _validity(value: Any) -> str | None:
    """sms/3 options.validityPeriod: {"amount", "timeUnit"} (a bare number: minutes)."""
    if not isinstance(value, dict):
        return _validity_seconds(value)
    return _validity_seconds(value.get("amount"), value.get("timeUnit")) or "missing amount"


def _entries_v3(body: dict[str, Any]) -> tuple[list[_Entry], str | None]:
    schedule = _object(_object(body.get("options")).get("schedule"))
    entries = []
    for message in _messages(body):
        destinations = _destinations(message.get("destinations"))
        options = _object(message.get("options"))
        request = api.SendRequest(
            mobiles=destinations,
            text=_text(_object(message.get("content")).get("text")),
            sender=_text(message.get("sender")),
            country="0",
            schedule=_text(schedule.get("sendAt")),
            campaign=_text(options.get("campaignReferenceId")),
            flash=options.get("flash") is True,
            validity_seconds=_validity(options.get("validityPeriod")),
        )
        entries.append(_Entry(request, destinations))
    return entries, _text(schedule.get("bulkId"))


def _credentials(request: HttpRequest) -> Presented:
    presented = presented_key(request, principals=True)
    if presented is None:
        raise ApiError(
            Code.INVALID_AUTHKEY,
            "Missing credentials: send an Authorization header (App, Basic, IBSSO or Bearer).",
        )
    return presented


# --- Send ---------------------------------------------------------------------------------------


@dataclass
class _Outcome:
    entry: _Entry
    index: int
    accepted: api.Accepted | None = None
    error: ApiError | None = None


def _stops_all(error: ApiError) -> bool:
    """A refusal every later entry would get too: credentials, account, IP, rule, internal."""
    return (
        isinstance(error, api.ServiceNotAllowed)
        or error.entry.kind in ("auth", "account", "internal")
        or error.code == Code.IP_BLACKLISTED
    )


def _extractor(
    request: HttpRequest, send_request: api.SendRequest
) -> Callable[[], tuple[Presented | None, api.SendRequest]]:
    return lambda: (_credentials(request), send_request)


def _send_all(
    request: HttpRequest, ctx: api.Context, entries: list[_Entry], bulk_id: str | None
) -> tuple[str | None, list[_Outcome]]:
    outcomes: list[_Outcome] = []
    stop: ApiError | None = None
    for index, entry in enumerate(entries):
        if stop is not None:
            outcomes.append(_Outcome(entry, index, error=stop))
            continue
        entry.request.reference = bulk_id or ""
        try:
            accepted = api.send(ctx, _extractor(request, entry.request))
        except ApiError as error:
            outcomes.append(_Outcome(entry, index, error=error))
            if _stops_all(error):
                stop = error
            continue
        bulk_id = bulk_id or accepted.message.request_id
        outcomes.append(_Outcome(entry, index, accepted=accepted))
    return bulk_id, outcomes


def _send_view(
    request: HttpRequest,
    *,
    endpoint: str,
    parse: Callable[[dict[str, Any]], tuple[list[_Entry], str | None]],
    render_error: Callable[[ApiError, int | None], HttpResponse],
    item: Callable[[Recipient, Message], dict[str, Any]],
    rejected_item: Callable[[str | None, ApiError], dict[str, Any]],
) -> HttpResponse:
    ctx = api.Context.of(request, dialect=DIALECT, endpoint=endpoint)
    try:
        entries, bulk_id = parse(_json_body(request))
    except ApiError as error:
        api.record_refusal(ctx, error)
        return render_error(error, None)
    bulk_id, outcomes = _send_all(request, ctx, entries, bulk_id)
    if not any(outcome.accepted for outcome in outcomes):
        first = outcomes[0]
        assert first.error is not None
        return render_error(first.error, first.index)
    messages: list[dict[str, Any]] = []
    for outcome in outcomes:
        if outcome.accepted is not None:
            message = outcome.accepted.message
            messages.extend(item(recipient, message) for recipient in outcome.accepted.recipients)
        else:
            refusal = outcome.error
            assert refusal is not None
            numbers: list[str | None] = [*outcome.entry.destinations] or [None]
            messages.extend(rejected_item(to, refusal) for to in numbers)
    return JsonResponse({"bulkId": bulk_id, "messages": messages})


def _v2_item(recipient: Recipient, message: Message) -> dict[str, Any]:
    return {
        "to": recipient.msisdn,
        "status": STATUSES[recipient.status],
        "messageId": recipient.message_uid,
        "smsCount": message.parts,
    }


def _v2_rejected(to: str | None, error: ApiError) -> dict[str, Any]:
    return {"to": to, "status": _rejected(error)} if to is not None else {"status": _rejected(error)}


def _v3_item(recipient: Recipient, message: Message) -> dict[str, Any]:
    return {
        "messageId": recipient.message_uid,
        "status": STATUSES[recipient.status],
        "destination": recipient.msisdn,
        "details": {"messageCount": message.parts},
    }


def _v3_rejected(to: str | None, error: ApiError) -> dict[str, Any]:
    item: dict[str, Any] = {"status": _rejected(error)}
    if to is not None:
        item["destination"] = to
    return item


@csrf_exempt
@login_not_required
@require_http_methods(["POST"])
def send_v2(request: HttpRequest) -> HttpResponse:
    """POST /sms/2/text/advanced"""
    return _send_view(
        request,
        endpoint="/sms/2/text/advanced",
        parse=_entries_v2,
        render_error=render_v2_error,
        item=_v2_item,
        rejected_item=_v2_rejected,
    )


@csrf_exempt
@login_not_required
@require_http_methods(["POST"])
def send_v3(request: HttpRequest) -> HttpResponse:
    """POST /sms/3/messages"""
    return _send_view(
        request,
        endpoint="/sms/3/messages",
        parse=_entries_v3,
        render_error=render_v3_error,
        item=_v3_item,
        rejected_item=_v3_rejected,
    )


# --- Sessions -----------------------------------------------------------------------------------

SESSION_ENDPOINT = "/auth/1/session"


def _session_body(request: HttpRequest) -> dict[str, Any]:
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return request.POST.dict()
    try:
        return _object(json.loads(request.body or b"{}"))
    except (ValueError, UnicodeDecodeError):
        return {}


@csrf_exempt
@login_not_required
@require_http_methods(["POST", "DELETE"])
def session(request: HttpRequest) -> HttpResponse:
    """POST /auth/1/session (create) and DELETE /auth/1/session (destroy)."""
    ctx = api.Context.of(request, dialect=DIALECT, endpoint=SESSION_ENDPOINT)
    if request.method == "DELETE":
        return _destroy_session(request, ctx)
    unsafe = False

    def extract() -> Presented:
        nonlocal unsafe
        body = _session_body(request)
        unsafe = str(body.get("unsafe")).strip().lower() == "true"
        credentials = f"{_text(body.get('username')) or ''}:{_text(body.get('password')) or ''}"
        return Presented(base64.b64encode(credentials.encode()).decode(), "username and password", BASIC)

    try:
        principal = api.authorize(ctx, extract, None)
    except ApiError as error:
        return render_v2_error(error)
    assert isinstance(principal, sessions.UserPrincipal)
    try:
        token, _ = sessions.create_session(principal, ip=ctx.client_ip, unsafe=unsafe)
    except sessions.SessionExists:
        body = {
            "requestError": {
                "serviceException": {
                    "messageId": "BAD_REQUEST",
                    "text": "A session for this user already exists: destroy it with DELETE /auth/1/session "
                    "(Authorization: IBSSO <token>) or wait until it expires.",
                }
            }
        }
        return _no_store(JsonResponse(body, status=400))
    api.record_success(ctx, principal)
    return _no_store(JsonResponse({"token": token}))


def _destroy_session(request: HttpRequest, ctx: api.Context) -> HttpResponse:
    token = ""

    def extract() -> Presented:
        nonlocal token
        presented = presented_key(request, params=(), principals=True)
        if presented is None or presented.scheme != IBSSO:
            raise ApiError(
                Code.INVALID_AUTHKEY, "Destroy a session with its own token: Authorization: IBSSO <token>."
            )
        token = presented.key
        return presented

    try:
        principal = api.authorize(ctx, extract, None)
    except ApiError as error:
        return render_v2_error(error)
    sessions.destroy_session(token)
    api.record_success(ctx, principal)
    return HttpResponse(status=204)


# --- OAuth 2.0 ----------------------------------------------------------------------------------

TOKEN_ENDPOINT = "/auth/1/oauth2/token"  # noqa: S105 (a path, not a secret)


def _oauth_error(
    status: int,
    error: str,
    description: str,
    extra: dict[str, Any] | None = None,
    refusal: ApiError | None = None,
) -> HttpResponse:
    body = {"error": error, "error_description": description, **(extra or {})}
    return _no_store(_challenge(JsonResponse(body, status=status), refusal))


def _client_credentials(request: HttpRequest) -> tuple[str, str]:
    client_id = (request.POST.get("client_id") or "").strip()
    client_secret = (request.POST.get("client_secret") or "").strip()
    if not client_secret:
        scheme, _, credentials = request.headers.get("Authorization", "").strip().partition(" ")
        decoded = decode_basic(credentials) if scheme.lower() == BASIC else None
        if decoded is not None:  # client_secret_basic: form-urlencoded id and secret
            client_id = client_id or unquote_plus(decoded[0]).strip()
            client_secret = unquote_plus(decoded[1]).strip()
    return client_id, client_secret


def _issue(ctx: api.Context, grant: KeyGrant, secret: str) -> tuple[str, int]:
    try:
        return sessions.issue_access_token(grant, secret)
    except ApiError as error:  # the key was regenerated meanwhile
        api.record_refusal(ctx, error, grant=grant)
        raise


@csrf_exempt
@login_not_required
@require_http_methods(["POST"])
def oauth_token(request: HttpRequest) -> HttpResponse:
    """POST /auth/1/oauth2/token (client_credentials)."""
    grant_type = (request.POST.get("grant_type") or "").strip()
    if grant_type != "client_credentials":
        return _oauth_error(
            400,
            "unsupported_grant_type" if grant_type else "invalid_request",
            "grant_type must be client_credentials.",
        )
    ctx = api.Context.of(request, dialect=DIALECT, endpoint=TOKEN_ENDPOINT)
    secret = ""

    client_id = ""

    def extract() -> Presented:
        nonlocal secret, client_id
        client_id, secret = _client_credentials(request)
        if not secret:
            raise ApiError(Code.INVALID_AUTHKEY, "Missing client_secret: it is your API key.")
        # Client credentials are guessed like passwords: the brute-force throttle applies.
        throttle.check(username=client_id, ip=ctx.client_ip, code=Code.INVALID_AUTHKEY)
        if client_id != keys.display_prefix(secret):
            raise ApiError(
                Code.INVALID_AUTHKEY,
                "client_id does not match client_secret: client_id is the key's display prefix "
                f"(its first {keys.DISPLAY_PREFIX_LENGTH} characters).",
            )
        return Presented(secret, "client_secret")

    try:
        try:
            grant = api.authorize(ctx, extract, None)
        except ApiError as error:
            if secret and not isinstance(error, throttle.Throttled) and getattr(error, "grant", None) is None:
                throttle.failed(username=client_id, ip=ctx.client_ip)  # a wrong or unknown secret
            raise
        assert isinstance(grant, KeyGrant)  # the client_secret is an API key
        token, expires_in = _issue(ctx, grant, secret)
    except ApiError as error:
        status = http_status(error)
        return _oauth_error(
            status, _OAUTH_ERRORS[status], error_text(error), _service_exception(error), error
        )
    api.record_success(ctx, grant)
    return _no_store(JsonResponse({"access_token": token, "expires_in": expires_in, "token_type": "Bearer"}))


# --- Reports and logs ---------------------------------------------------------------------------


def _infobip_time(moment: datetime | None) -> str | None:
    """Infobip's timestamp shape: 2019-11-09T16:00:00.000+0000 (UTC)."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _values(request: HttpRequest, name: str) -> list[str]:
    values: list[str] = []
    for raw in request.GET.getlist(name):
        values.extend(part.strip() for part in raw.split(",") if part.strip())
    return values


def _limit(raw: str | None) -> int:
    try:
        return max(1, min(MAX_LIMIT, int(raw or DEFAULT_LIMIT)))
    except ValueError:
        return DEFAULT_LIMIT


def _moment(raw: str | None) -> datetime | None:
    text = (raw or "").strip()
    try:  # an unencoded "+" of the UTC offset arrives as a space
        parsed = parse_datetime(text) or parse_datetime(text.replace(" ", "+"))
    except ValueError:
        return None
    if parsed is not None and timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, UTC)
    return parsed


def _recipients(company_id: int, request: HttpRequest, *, logs: bool) -> list[Recipient]:
    rows = Recipient.objects.filter(message__company_id=company_id).select_related("message")
    bulk_ids = _values(request, "bulkId")
    if bulk_ids:
        rows = rows.filter(
            Q(message__request_id__in=bulk_ids) | Q(message__dialect=DIALECT, message__reference__in=bulk_ids)
        )
    message_ids = _values(request, "messageId")
    if message_ids:
        rows = rows.filter(message_uid__in=message_ids)
    if logs:
        destination = (request.GET.get("destination") or request.GET.get("to") or "").strip()
        if destination:
            rows = rows.filter(msisdn=destination.removeprefix("+"))
        sender = (request.GET.get("sender") or request.GET.get("from") or "").strip()
        if sender:
            rows = rows.filter(message__sender=sender)
        general = (request.GET.get("generalStatus") or "").strip().upper()
        if general:
            rows = rows.filter(status__in=[code for code, s in STATUSES.items() if s["groupName"] == general])
        if since := _moment(request.GET.get("sentSince")):
            rows = rows.filter(message__created_at__gte=since)
        if until := _moment(request.GET.get("sentUntil")):
            rows = rows.filter(message__created_at__lt=until)
    return list(rows.order_by("-pk")[: _limit(request.GET.get("limit"))])


def _bulk_id(message: Message) -> str:
    return message.reference if message.dialect == DIALECT and message.reference else message.request_id


def _common(recipient: Recipient) -> dict[str, Any]:
    message = recipient.message
    common: dict[str, Any] = {
        "bulkId": _bulk_id(message),
        "messageId": recipient.message_uid,
        "sentAt": _infobip_time(message.scheduled_at or message.created_at),
    }
    if recipient.status in _FINAL:
        common["doneAt"] = _infobip_time(recipient.status_at)
    return common


def _report_v3(recipient: Recipient) -> dict[str, Any]:
    return {
        **_common(recipient),
        "to": recipient.msisdn,
        "sender": recipient.message.sender,
        "messageCount": recipient.message.parts,
        "status": STATUSES[recipient.status],
        "error": _error_object(recipient),
    }


def _log_v3(recipient: Recipient) -> dict[str, Any]:
    message = recipient.message
    log = {
        **_common(recipient),
        "sender": message.sender,
        "destination": recipient.msisdn,
        "messageCount": message.parts,
        "status": STATUSES[recipient.status],
        "error": _error_object(recipient),
        "content": {"text": message.text},
    }
    if message.campaign:
        log["campaignReferenceId"] = message.campaign
    return log


def _report_v1(recipient: Recipient) -> dict[str, Any]:
    return {
        **_common(recipient),
        "to": recipient.msisdn,
        "smsCount": recipient.message.parts,
        "status": STATUSES[recipient.status],
        "error": _error_object(recipient),
    }


def _log_v1(recipient: Recipient) -> dict[str, Any]:
    return {
        **_report_v1(recipient),
        "from": recipient.message.sender,
        "text": recipient.message.text,
    }


def _results_view(
    request: HttpRequest,
    *,
    endpoint: str,
    logs: bool,
    row: Callable[[Recipient], dict[str, Any]],
    render_error: Callable[[ApiError, int | None], HttpResponse],
) -> HttpResponse:
    ctx = api.Context.of(request, dialect=DIALECT, endpoint=endpoint)
    try:
        principal = api.authorize(ctx, lambda: _credentials(request), services_catalogue.REPORTS)
    except ApiError as error:
        return render_error(error, None)
    results = [row(recipient) for recipient in _recipients(principal.company_id, request, logs=logs)]
    api.record_success(ctx, principal)
    return JsonResponse({"results": results})


@csrf_exempt
@login_not_required
@require_http_methods(["GET"])
def reports_v3(request: HttpRequest) -> HttpResponse:
    """GET /sms/3/reports"""
    return _results_view(
        request, endpoint="/sms/3/reports", logs=False, row=_report_v3, render_error=render_v3_error
    )


@csrf_exempt
@login_not_required
@require_http_methods(["GET"])
def logs_v3(request: HttpRequest) -> HttpResponse:
    """GET /sms/3/logs"""
    return _results_view(
        request, endpoint="/sms/3/logs", logs=True, row=_log_v3, render_error=render_v3_error
    )


@csrf_exempt
@login_not_required
@require_http_methods(["GET"])
def reports_v1(request: HttpRequest) -> HttpResponse:
    """GET /sms/1/reports"""
    return _results_view(
        request, endpoint="/sms/1/reports", logs=False, row=_report_v1, render_error=render_v2_error
    )


@csrf_exempt
@login_not_required
@require_http_methods(["GET"])
def logs_v1(request: HttpRequest) -> HttpResponse:
    """GET /sms/1/logs"""
    return _results_view(
        request, endpoint="/sms/1/logs", logs=True, row=_log_v1, render_error=render_v2_error
    )
