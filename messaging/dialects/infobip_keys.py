"""Infobip dialect: API-key management (`/settings/2/api-keys`, seed 003 "API keys can be generated
by calling the dedicated API method"), with Infobip's field names and shapes (its account-management
OpenAPI document).

Endpoints
- `GET /settings/2/api-keys` → {"apiKeys": [key…], "paging": {"page", "pageSize", "orderDirection",
  "orderBy"?, "totalCount", "totalPages"}}. Query: `page` (from 0, at most 100), `size` (1 to 100,
  default 100), `orderBy` (id | name | validFrom | validTo; default id), `orderDirection`
  (asc | desc; default asc), filters `name` (exact, any case), `enabled` (true | false),
  `apiKeySecret` (the key whose secret this is), `accountId` (must be the caller's own).
- `POST /settings/2/api-keys` {"name" (required), "allowedIPs"?, "validFrom"?, "validTo"?,
  "scopeGuids"?, "permissions"?, "enabled"?, "accountId"?} → 200 the key with `apiKeySecret`: the
  only time the secret is shown (it is stored only as a digest, so reads never carry it).
- `GET /settings/2/api-keys/{apiKeyId}` → the key; `PUT` the same fields as POST, each optional
  (an absent field is left as it is) → the key.

A key reads {"id", "accountId", "name", "allowedIPs", "validFrom", "validTo", "enabled",
"permissions": ["PUBLIC_API"], "scopeGuids"}.
- `id` (apiKeyId) is AuthKey.public_id: 32 random upper-case hex characters like Infobip's, not the
  database id, so ids reveal nothing about other keys. `accountId` is an opaque digest of the company.
- `allowedIPs`: the key's own allow-list (IPv4, IPv6, CIDR). Non-empty turns the key's IP security
  on; empty (or absent on create) turns it off: Infobip's "no IP restriction". Reading a key whose
  IP security is off gives []. The company's list and Additional Security still apply.
- `validFrom` / `validTo`: the validity window in UTC ("2031-09-01T10:00:00"; an offset is
  accepted on input and naive times are UTC). The key is refused before validFrom and from validTo
  on, to the instant. Without validFrom the key is valid from creation (and reads so); without
  validTo on create it ends AUTHKEYS_API_DEFAULT_VALIDITY_DAYS (365) days after creation, as at
  Infobip; `"validTo": null` asks for no expiry. validTo must be in the future when set and after
  validFrom. A value equal to the one read (to the second) counts as unchanged.
- `scopeGuids`: authkeys/scopes.py. They map onto the key's rule: the key gets the company rule
  allowing exactly those services (found, or created as on the Rules page); without scopeGuids on
  create it gets the built-in "All services" rule, like a key made in the panel. An empty list is
  refused (a rule needs a service; disable the key instead).
- `permissions`: only PUBLIC_API exists here; `platform` (CPaaS X) is refused.

Authentication: Basic, IBSSO or Bearer only. An API key (`App`, `apiKey`, …) is refused with 403
even when valid, as at Infobip ("you will not be able to create or manage API keys with another API
key"). A company user must be an owner or admin (User.can_manage_security); a Bearer token's key
must have the account-management:manage scope (its rule must allow "key-management"). The usual
checks run first in the usual order (credentials, company status, IP/Additional Security,
blacklist); each refusal is a Failed Logs row.

Writes go through authkeys.services (authkey_create / authkey_update / authkey_set_enabled /
authkey_set_ip_security / key_ips_replace / rule_for_services), in one transaction per request:
the Authkey page's validation and messages, one SecurityEvent per change, grant cache
invalidation. Invalid input is refused with 400 naming the property (`violations[].property`,
`validationErrors`), and changes nothing.

Creation is limited per company to AUTHKEYS_API_CREATE_PER_DAY (40) keys per UTC day, counted in
the shared cache (Redis in production): 429 with `Retry-After` (seconds to 00:00 UTC).

Errors carry Infobip's ApiError shape, which its account-management document gives these
endpoints ({"errorCode": "E400|E401|E403|E404|E429|E500", "description", "action", "violations",
"resources"}), and alongside it the older {"requestError": {"serviceException": {"messageId",
"text", "validationErrors"?}}} of Infobip's settings/1 API, so a client reading either finds it.
Texts of catalogue refusals start with the code ("[207] …"). 400 (validation), 404 (unknown key)
and 429 are not catalogue refusals and are not recorded in Failed Logs.
"""

import contextlib
import json
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, QuerySet
from django.db.models.functions import Coalesce, Lower
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from accounts.models import Company, User
from authkeys import keys, scopes, services_catalogue
from authkeys import services as key_services
from authkeys.ipaddrs import normalize_entry
from authkeys.models import AuthKey, Rule, Service
from messaging import api
from messaging.catalogue import ApiError, Code
from messaging.credentials import BASIC, BEARER, IBSSO, Presented, presented_key
from messaging.dialects import infobip
from messaging.sessions import UserPrincipal

DIALECT = infobip.DIALECT
LIST_ENDPOINT = "/settings/2/api-keys"
ITEM_ENDPOINT = "/settings/2/api-keys/{apiKeyId}"
MAX_PAGE = 100
MAX_SIZE = 100
PUBLIC_API = "PUBLIC_API"
_ORDER_FIELDS = {
    "id": "public_id",
    "name": "name_lower",
    "validFrom": "valid_from_or_created",
    "validTo": "expires_at",
}
_NO_SUB_ACCOUNTS = "sub-accounts are not supported: omit accountId (it is your own account)."
_MESSAGE_IDS = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    429: "TOO_MANY_REQUESTS",
    500: "GENERAL_ERROR",
}
_ACTIONS = {
    400: "Correct the request as the description and violations say, then send it again.",
    401: "Authenticate with Basic (email:password), IBSSO (a session token) or Bearer (an OAuth token).",
    403: "Use the credentials of a company owner or admin, or a token whose key may manage keys.",
    404: "Check the apiKeyId: list the account's keys with GET /settings/2/api-keys.",
    429: "Wait until the limit resets (see Retry-After), or create the key on the Authkey page.",
    500: "Try again later; if it persists, contact your account manager with the time of the request.",
}
# Which request property a service's ValidationError is about (by its code).
_PROPERTY_FOR_CODE = {
    "required": "name",
    "max_length": "name",
    "special_characters": "name",
    "taken": "name",
    "expiry_past": "validTo",
    "validity_order": "validTo",
    "no_services": "scopeGuids",
    "duplicate": "allowedIPs",
}


class _Problem(Exception):
    """A refusal outside the catalogue (validation, unknown key, rate limit), in Infobip's shape."""

    def __init__(
        self,
        status: int,
        text: str,
        violations: list[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.violations = violations or []
        self.headers = headers or {}


def _invalid(prop: str, text: str) -> _Problem:
    return _Problem(400, f"{prop}: {text}", [(prop, text)])


class _Forbidden(ApiError):
    """Authenticated, but not allowed to manage keys: 403."""


# --- Rendering ----------------------------------------------------------------------------------


def _error_body(status: int, text: str, violations: list[tuple[str, str]]) -> dict[str, Any]:
    exception: dict[str, Any] = {"messageId": _MESSAGE_IDS[status], "text": text}
    if violations:
        validation: dict[str, list[str]] = {}
        for prop, violation in violations:
            validation.setdefault(prop, []).append(violation)
        exception["validationErrors"] = validation
    return {
        "errorCode": f"E{status}",
        "description": text,
        "action": _ACTIONS[status],
        "violations": [{"property": prop, "violation": violation} for prop, violation in violations],
        "resources": [],
        "requestError": {"serviceException": exception},
    }


def _reply(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    response = JsonResponse(body, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    if status == 401:
        response["WWW-Authenticate"] = infobip.WWW_AUTHENTICATE
    return infobip._no_store(response)


def http_status(error: ApiError) -> int:
    if isinstance(error, _Forbidden):
        return 403
    return infobip.http_status(error)


def render_error(error: ApiError) -> HttpResponse:
    status = http_status(error)
    return _reply(_error_body(status, infobip.error_text(error), []), status)


def render_problem(problem: _Problem) -> HttpResponse:
    return _reply(
        _error_body(problem.status, problem.text, problem.violations), problem.status, problem.headers
    )


def _moment(value: datetime | None) -> str | None:
    """Infobip's shape: 2031-09-01T10:00:00 (UTC, to the second)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") if value is not None else None


def account_id(company_id: int) -> str:
    """The company's opaque accountId (a keyed digest: no database id on the wire)."""
    return keys.digest(f"account:{company_id}")[:32].upper()


@dataclass
class _Catalogue:
    codes: frozenset[str]

    @classmethod
    def load(cls) -> "_Catalogue":
        return cls(frozenset(Service.objects.values_list("code", flat=True)))

    def scopes_of(self, rule: Rule) -> list[str]:
        codes = self.codes if rule.all_services else {service.code for service in rule.services.all()}
        return scopes.scopes_for(codes)


def _key_body(authkey: AuthKey, catalogue: _Catalogue) -> dict[str, Any]:
    allowed = [ip.network for ip in authkey.allowed_ips.all()] if authkey.ip_security else []
    return {
        "id": authkey.public_id,
        "accountId": account_id(authkey.company_id),
        "name": authkey.name,
        "allowedIPs": allowed,
        "validFrom": _moment(authkey.valid_from or authkey.created_at),
        "validTo": _moment(authkey.expires_at),
        "enabled": authkey.enabled,
        "permissions": [PUBLIC_API],
        "scopeGuids": catalogue.scopes_of(authkey.rule),
    }


def _keys_queryset(company_id: int) -> QuerySet[AuthKey]:
    return (
        AuthKey.objects.filter(company_id=company_id)
        .select_related("rule")
        .prefetch_related("rule__services", "allowed_ips")
    )


# --- Authentication -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Caller:
    principal: api.Principal
    company: Company
    user: User | None  # None for a Bearer token (it acts for its key)


def _authenticate(request: HttpRequest, ctx: api.Context) -> _Caller:
    """Basic, IBSSO or Bearer; the pipeline's checks; then the method and the role / scope."""
    presented: Presented | None = None

    def extract() -> Presented:
        nonlocal presented
        presented = presented_key(request, params=(), principals=True)
        if presented is None:
            raise ApiError(
                Code.INVALID_AUTHKEY,
                "Missing credentials: send Authorization: Basic, IBSSO or Bearer.",
            )
        return presented

    principal = api.authorize(ctx, extract, None)
    assert presented is not None
    error: ApiError | None = None
    if presented.scheme not in (BASIC, IBSSO, BEARER):
        error = _Forbidden(
            Code.INVALID_AUTHKEY,
            "An API key cannot manage API keys: authenticate with Basic (email:password), "
            "IBSSO (a session token) or Bearer (an OAuth access token).",
        )
    elif not principal.may_use(services_catalogue.KEY_MANAGEMENT):
        if isinstance(principal, UserPrincipal):
            detail = "Only the company's owner or admins may manage API keys."
        else:
            detail = "This token's API key may not manage keys: it needs the account-management:manage scope."
        error = _Forbidden(Code.INVALID_AUTHKEY, detail)
    if error is not None:
        api.record_refusal(ctx, error, grant=principal, presented=presented)
        raise error
    user = None
    if isinstance(principal, UserPrincipal):
        user = User.objects.get(pk=principal.user_id)
    return _Caller(principal, Company.objects.get(pk=principal.company_id), user)


# --- Parsing ------------------------------------------------------------------------------------


def _json_object(request: HttpRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"")
    except (ValueError, UnicodeDecodeError):
        raise _invalid("body", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise _invalid("body", "The request body must be a JSON object.")
    return body


def _string(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(name, "must be a string.")
    return value


def _strings(body: dict[str, Any], name: str) -> list[str] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list):
        raise _invalid(name, "must be an array of strings.")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise _invalid(f"{name}[{index}]", "must be a string.")
    return value


def parse_moment(raw: str, name: str) -> datetime:
    text = raw.strip()
    try:
        parsed = parse_datetime(text) or parse_datetime(text.replace(" ", "+"))
    except ValueError:
        parsed = None
    if parsed is None:
        raise _invalid(
            name, f"{raw[:40]!r} is not a date and time: use ISO 8601, e.g. 2031-09-01T10:00:00 (UTC)."
        )
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):  # e.g. 9999-12-31T23:00:00-05:00
        raise _invalid(name, f"{raw[:40]!r} is out of range.") from None


@dataclass
class _Fields:
    """What the request body sets; a name absent from `given` was not sent."""

    given: set[str]
    name: str | None = None
    allowed_ips: list[str] | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    codes: frozenset[str] | None = None
    enabled: bool | None = None


def _parse_fields(body: dict[str, Any], caller: _Caller) -> _Fields:
    # Sent with a value; validFrom / validTo also when null ("no start" / "no expiry").
    given = {name for name in body if body[name] is not None or name in ("validFrom", "validTo")}
    fields = _Fields(given=given)
    if body.get("accountId") is not None and _string(body, "accountId") != account_id(caller.company.pk):
        raise _invalid("accountId", _NO_SUB_ACCOUNTS)
    fields.name = _string(body, "name")
    if "name" in body and fields.name is None:
        raise _invalid("name", "Give the key a name.")
    entries = _strings(body, "allowedIPs")
    if entries is not None:
        networks: list[str] = []
        for index, entry in enumerate(entries):
            try:
                networks.append(normalize_entry(entry))
            except ValidationError as error:
                raise _invalid(f"allowedIPs[{index}]", " ".join(error.messages)) from None
        fields.allowed_ips = networks
    for name in ("validFrom", "validTo"):
        raw = body.get(name)
        if raw is None:
            continue
        if not isinstance(raw, str):
            raise _invalid(name, "must be a date and time string, e.g. 2031-09-01T10:00:00 (UTC).")
        setattr(fields, "valid_from" if name == "validFrom" else "valid_to", parse_moment(raw, name))
    scope_names = _strings(body, "scopeGuids")
    if scope_names is not None:
        if not scope_names:
            raise _invalid(
                "scopeGuids",
                "give at least one scope (a key's rule needs a service; to stop a key, disable it).",
            )
        try:
            fields.codes = scopes.services_for(scope_names)
        except scopes.UnknownScope as unknown:
            raise _invalid(
                f"scopeGuids[{unknown.index}]",
                f"unknown scope {unknown.scope[:60]!r}. Known scopes: {', '.join(scopes.known_scopes())}.",
            ) from None
    permissions = _strings(body, "permissions")
    for index, permission in enumerate(permissions or []):
        if permission != PUBLIC_API:
            raise _invalid(f"permissions[{index}]", f"only {PUBLIC_API} is supported.")
    platform = body.get("platform")
    if platform not in (None, []):
        raise _invalid("platform", "CPaaS X applications and entities are not supported.")
    enabled = body.get("enabled")
    if enabled is not None and not isinstance(enabled, bool):
        raise _invalid("enabled", "must be true or false.")
    fields.enabled = enabled
    return fields


def _service_error(error: ValidationError) -> _Problem:
    text = " ".join(error.messages)
    prop = _PROPERTY_FOR_CODE.get(getattr(error, "code", None) or "")
    if prop is None:
        return _Problem(400, text)
    return _invalid(prop, text)


# --- Rate limit ---------------------------------------------------------------------------------


def _limit_key(company_id: int, day: date) -> str:
    return f"authkeys:api-create:{company_id}:{day.isoformat()}"


def _reserve_creation(company_id: int) -> str:
    """Count one creation for the company today (UTC); 429 past the daily limit."""
    now = timezone.now().astimezone(UTC)
    key = _limit_key(company_id, now.date())
    cache.add(key, 0, timeout=2 * 24 * 60 * 60)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=2 * 24 * 60 * 60)
        count = 1
    limit = settings.AUTHKEYS_API_CREATE_PER_DAY
    if count > limit:
        midnight = datetime.combine(now.date() + timedelta(days=1), time.min, tzinfo=UTC)
        retry_after = max(1, math.ceil((midnight - now).total_seconds()))
        raise _Problem(
            429,
            f"Too many API keys created today: at most {limit} per account per day (UTC) through the API. "
            "Try again after 00:00 UTC.",
            headers={"Retry-After": str(retry_after)},
        )
    return key


def _release_creation(key: str) -> None:
    with contextlib.suppress(ValueError):  # evicted meanwhile
        cache.decr(key)


# --- Operations ---------------------------------------------------------------------------------


def _find(caller: _Caller, api_key_id: str) -> AuthKey:
    authkey = _keys_queryset(caller.company.pk).filter(public_id=api_key_id.strip().upper()).first()
    if authkey is None:
        raise _Problem(404, f"No API key with id {api_key_id[:40]!r} in this account.")
    return authkey


def _reload(authkey: AuthKey) -> AuthKey:
    return _keys_queryset(authkey.company_id).get(pk=authkey.pk)


def _create(request: HttpRequest, caller: _Caller, ctx: api.Context) -> dict[str, Any]:
    fields = _parse_fields(_json_object(request), caller)
    if fields.name is None:
        raise _invalid("name", "Give the key a name.")
    reservation = _reserve_creation(caller.company.pk)
    actor, ip = caller.user, ctx.client_ip or None
    try:
        with transaction.atomic():
            if fields.codes is not None:
                rule = key_services.rule_for_services(
                    company=caller.company, actor=actor, codes=fields.codes, actor_ip=ip
                )
            else:
                rule = Rule.objects.get(company__isnull=True, all_services=True)
            expires_at = fields.valid_to
            days = settings.AUTHKEYS_API_DEFAULT_VALIDITY_DAYS
            if "validTo" not in fields.given and days > 0:
                expires_at = timezone.now() + timedelta(days=days)
            authkey, secret = key_services.authkey_create(
                company=caller.company,
                actor=actor,
                name=fields.name,
                rule=rule,
                ip_security=bool(fields.allowed_ips),
                valid_from=fields.valid_from,
                expires_at=expires_at,
                actor_ip=ip,
            )
            for network in fields.allowed_ips or []:
                key_services.key_ip_add(authkey=authkey, actor=actor, entry=network, actor_ip=ip)
            if fields.enabled is False:
                key_services.authkey_set_enabled(authkey=authkey, actor=actor, enabled=False, actor_ip=ip)
    except ValidationError as error:
        _release_creation(reservation)
        raise _service_error(error) from None
    except BaseException:
        _release_creation(reservation)
        raise
    return {**_key_body(_reload(authkey), _Catalogue.load()), "apiKeySecret": secret}


def _same_second(given: datetime | None, shown: datetime | None) -> bool:
    if given is None or shown is None:
        return given is shown
    return given.replace(microsecond=0) == shown.replace(microsecond=0)


def _update(request: HttpRequest, caller: _Caller, ctx: api.Context, authkey: AuthKey) -> dict[str, Any]:
    fields = _parse_fields(_json_object(request), caller)
    actor, ip = caller.user, ctx.client_ip or None
    try:
        with transaction.atomic():
            if fields.given & {"name", "validFrom", "validTo", "scopeGuids"}:
                rule = authkey.rule
                if fields.codes is not None:
                    rule = key_services.rule_for_services(
                        company=caller.company,
                        actor=actor,
                        codes=fields.codes,
                        current=authkey.rule,
                        actor_ip=ip,
                    )
                valid_from: datetime | key_services._Unchanged | None = key_services.UNCHANGED
                shown_from = authkey.valid_from or authkey.created_at
                if "validFrom" in fields.given and not _same_second(fields.valid_from, shown_from):
                    valid_from = fields.valid_from
                expires_at = authkey.expires_at
                if "validTo" in fields.given and not _same_second(fields.valid_to, authkey.expires_at):
                    expires_at = fields.valid_to
                key_services.authkey_update(
                    authkey=authkey,
                    actor=actor,
                    name=fields.name if fields.name is not None else authkey.name,
                    use_case=authkey.use_case,
                    rule=rule,
                    valid_from=valid_from,
                    expires_at=expires_at,
                    actor_ip=ip,
                )
            if fields.allowed_ips is not None:
                key_services.key_ips_replace(
                    authkey=authkey, actor=actor, entries=fields.allowed_ips, actor_ip=ip
                )
                key_services.authkey_set_ip_security(
                    authkey=authkey, actor=actor, enabled=bool(fields.allowed_ips), actor_ip=ip
                )
            if fields.enabled is not None:
                key_services.authkey_set_enabled(
                    authkey=authkey, actor=actor, enabled=fields.enabled, actor_ip=ip
                )
    except ValidationError as error:
        raise _service_error(error) from None
    return _key_body(_reload(authkey), _Catalogue.load())


def _query_int(request: HttpRequest, name: str, default: int, low: int, high: int) -> int:
    raw = request.GET.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise _invalid(name, f"must be a whole number from {low} to {high}.")
    return value


def _list(request: HttpRequest, caller: _Caller) -> dict[str, Any]:
    page = _query_int(request, "page", 0, 0, MAX_PAGE)
    size = _query_int(request, "size", MAX_SIZE, 1, MAX_SIZE)
    order_by = request.GET.get("orderBy")
    if order_by is not None and order_by not in _ORDER_FIELDS:
        raise _invalid("orderBy", f"must be one of {', '.join(_ORDER_FIELDS)}.")
    direction = (request.GET.get("orderDirection") or "asc").strip().lower()
    if direction not in ("asc", "desc"):
        raise _invalid("orderDirection", "must be asc or desc.")
    account = request.GET.get("accountId")
    if account is not None and account != account_id(caller.company.pk):
        raise _invalid("accountId", _NO_SUB_ACCOUNTS)
    rows = _keys_queryset(caller.company.pk).annotate(
        valid_from_or_created=Coalesce("valid_from", "created_at"), name_lower=Lower("name")
    )
    name = request.GET.get("name")
    if name is not None:
        rows = rows.filter(name__iexact=" ".join(name.split()))
    enabled = request.GET.get("enabled")
    if enabled is not None:
        if enabled.strip().lower() not in ("true", "false"):
            raise _invalid("enabled", "must be true or false.")
        rows = rows.filter(enabled=enabled.strip().lower() == "true")
    secret = request.GET.get("apiKeySecret")
    if secret is not None:
        rows = rows.filter(secrets__digest=keys.digest(secret.strip()))
    column = F(_ORDER_FIELDS[order_by or "id"])
    ordering = column.desc(nulls_last=True) if direction == "desc" else column.asc(nulls_last=True)
    rows = rows.order_by(ordering, "pk" if direction == "asc" else "-pk")
    total = rows.count()
    catalogue = _Catalogue.load()
    found = [_key_body(authkey, catalogue) for authkey in rows[page * size : (page + 1) * size]]
    paging: dict[str, Any] = {"page": page, "pageSize": size, "orderDirection": direction}
    if order_by is not None:
        paging["orderBy"] = order_by
    paging |= {"totalCount": total, "totalPages": math.ceil(total / size)}
    return {"apiKeys": found, "paging": paging}


# --- Views --------------------------------------------------------------------------------------


def _serve(request: HttpRequest, endpoint: str, operation) -> HttpResponse:  # type: ignore[no-untyped-def]
    ctx = api.Context.of(request, dialect=DIALECT, endpoint=endpoint)
    try:
        caller = _authenticate(request, ctx)
    except ApiError as error:
        return render_error(error)
    try:
        body = operation(caller, ctx)
    except _Problem as problem:
        return render_problem(problem)
    api.record_success(ctx, caller.principal)
    return _reply(body)


@csrf_exempt
@login_not_required
@require_http_methods(["GET", "POST"])
def api_keys(request: HttpRequest) -> HttpResponse:
    """GET (list) and POST (create) /settings/2/api-keys"""
    if request.method == "POST":
        return _serve(request, LIST_ENDPOINT, lambda caller, ctx: _create(request, caller, ctx))
    return _serve(request, LIST_ENDPOINT, lambda caller, ctx: _list(request, caller))


@csrf_exempt
@login_not_required
@require_http_methods(["GET", "PUT"])
def api_key(request: HttpRequest, apiKeyId: str) -> HttpResponse:
    """GET (read) and PUT (update) /settings/2/api-keys/{apiKeyId} (Infobip's parameter name)."""

    def operation(caller: _Caller, ctx: api.Context) -> dict[str, Any]:
        authkey = _find(caller, apiKeyId)
        if request.method == "PUT":
            return _update(request, caller, ctx, authkey)
        return _key_body(authkey, _Catalogue.load())

    return _serve(request, ITEM_ENDPOINT, operation)
