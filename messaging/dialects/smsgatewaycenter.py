"""SMSGatewayCenter dialect: `GET|POST /SMSApi/rest/regenerateAPIKey` (seed 002).

Parameters (query string or form body): `format` = plain | json | xml (default plain, any case),
and one of two credentials:

- `apiKey` header (the key itself; `Authorization: App|Token <key>` works too): that key is
  regenerated. The full pipeline authentication applies (company status, key enabled, expiry, IP
  security 418, blacklist 208) and the key's rule must allow the "key-management" service. Only
  the key's current secret may regenerate it (not an old secret still inside a grace period).
- `userId` + `password`: a company user's email and password (django.contrib.auth.authenticate;
  there is no OTP step, as in SMSGatewayCenter's API). Only the company's owner and admins may
  regenerate (members are refused with 911, HTTP 403). The key regenerated is the company's key
  named by the optional `keyName` parameter (any state), else the company's oldest enabled,
  unexpired key; a company without one is refused (911). The company must be active (302, 303,
  421) and the client IP not blacklisted (208).

Sending both credential forms, an apiKey with `keyName`, or one parameter twice with different
values is refused (911). The old key stops working at once (grace 0); the new key appears only in
the response, which is never cached (`Cache-Control: no-store`). Regeneration goes through
authkeys.services.authkey_regenerate, so a KEY_REGENERATED security event names the actor (the
user, or the key itself) and the client IP.

Replies (success HTTP 200):
    json   {"status":"success","apiKey":"…","statusCode":"900","reason":"success"}
    xml    <generateApiKeySuccessResponse><apiKey>…</apiKey><reason>success</reason>
           <status>success</status><statusCode>900</statusCode></generateApiKeySuccessResponse>
    plain  status=success | apiKey=… | statusCode=900 | reason=success
Errors have the same shapes with status "error", no apiKey, the reason in `reason` and the XML
root <generateApiKeyErrorResponse>. statusCode 911 ("invalid credentials") covers every
credential or permission failure (catalogue 104, 105, 201, 207); other refusals carry their
catalogue code (208, 302, 303, 418, 421, 506). HTTP status: 401 for invalid or missing
credentials, 403 for a refused permission (role, rule), IP or account, 500 for internal errors,
429 (with Retry-After, statusCode 911) while the brute-force throttle locks the userId or the
client IP (messaging/throttle.py): then the password is not even checked.
Every refusal is recorded in Failed Logs (201 for user credentials and roles, the pipeline's code
for an apiKey), never with the password or key.
"""

import logging
from xml.sax.saxutils import escape

from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from authkeys import keys, services_catalogue
from authkeys import services as authkey_services
from authkeys.models import AuthKey, KeySecret
from messaging import api, blacklist, sessions
from messaging.catalogue import ApiError, Code
from messaging.credentials import Presented, presented_key
from messaging.throttle import Throttled

logger = logging.getLogger(__name__)

DIALECT = "smsgatewaycenter"
ENDPOINT = "/SMSApi/rest/regenerateAPIKey"
SUCCESS_CODE = "900"
INVALID_CREDENTIALS_CODE = "911"
_CREDENTIAL_CODES = {
    Code.MISSING_USERNAME,
    Code.MISSING_PASSWORD,
    Code.INVALID_CREDENTIALS,
    Code.INVALID_AUTHKEY,
}
_FORMATS = {"plain", "json", "xml"}


class _Forbidden(ApiError):
    """Valid credentials without the permission: answered 403."""


def status_code(error: ApiError) -> str:
    return INVALID_CREDENTIALS_CODE if error.code in _CREDENTIAL_CODES else str(error.code)


def http_status(error: ApiError) -> int:
    if isinstance(error, Throttled):
        return 429
    if isinstance(error, _Forbidden | api.ServiceNotAllowed):
        return 403
    return error.entry.http_status


def render(kind: str, *, api_key: str | None = None, error: ApiError | None = None) -> HttpResponse:
    if error is None:
        assert api_key is not None
        fields = {"status": "success", "apiKey": api_key, "statusCode": SUCCESS_CODE, "reason": "success"}
        root, status = "generateApiKeySuccessResponse", 200
    else:
        fields = {"status": "error", "statusCode": status_code(error), "reason": error.detail}
        root, status = "generateApiKeyErrorResponse", http_status(error)
    if kind == "json":
        response: HttpResponse = JsonResponse(fields, status=status)
    elif kind == "xml":
        body = "".join(f"<{name}>{escape(fields[name])}</{name}>" for name in sorted(fields))
        response = HttpResponse(f"<{root}>{body}</{root}>", content_type="application/xml", status=status)
    else:
        text = " | ".join(f"{name}={value}" for name, value in fields.items())
        response = HttpResponse(text, content_type="text/plain; charset=utf-8", status=status)
    add_never_cache_headers(response)  # Cache-Control: no-store (and no-cache, private, max-age=0)
    if isinstance(error, Throttled):
        response["Retry-After"] = str(error.retry_after)
    return response


def _format(request: HttpRequest) -> str:
    value = (request.GET.get("format") or request.POST.get("format") or "").strip().lower()
    return value if value in _FORMATS else "plain"


def _single(request: HttpRequest, name: str) -> str | None:
    values = [*request.GET.getlist(name), *request.POST.getlist(name)]
    if len(set(values)) > 1:
        raise ApiError(
            Code.INVALID_CREDENTIALS, f"The parameter {name!r} was sent more than once with different values."
        )
    return values[0] if values else None


@csrf_exempt
@login_not_required
@require_http_methods(["GET", "POST"])
def regenerate_api_key(request: HttpRequest) -> HttpResponse:
    ctx = api.Context.of(request, dialect=DIALECT, endpoint=ENDPOINT)
    kind = _format(request)
    try:
        new_key = _regenerate(request, ctx)
    except ApiError as error:
        return render(kind, error=error)
    return render(kind, api_key=new_key)


def _regenerate(request: HttpRequest, ctx: api.Context) -> str:
    presented: Presented | None = None
    try:
        presented = presented_key(request, params=())
        user_id, password, key_name = (_single(request, name) for name in ("userId", "password", "keyName"))
        if presented is not None and (user_id is not None or password is not None):
            raise ApiError(
                Code.INVALID_AUTHKEY,
                "Send either userId and password or an apiKey header, not both.",
            )
        if presented is not None and key_name is not None:
            raise ApiError(
                Code.INVALID_AUTHKEY,
                "An apiKey regenerates itself: keyName selects a key only with userId and password.",
            )
    except ApiError as error:
        api.record_refusal(ctx, error, presented=presented)
        raise
    if presented is not None:
        return _by_key(ctx, presented)
    return _by_user(request, ctx, user_id, password, key_name)


# --- apiKey header ------------------------------------------------------------------------------


def _by_key(ctx: api.Context, presented: Presented) -> str:
    grant = api.authenticate(ctx, lambda: presented, services_catalogue.KEY_MANAGEMENT)
    try:
        with transaction.atomic():
            # Under the key's lock: the presented secret must still be the current one, so two
            # concurrent calls with the same key cannot both regenerate it (the second would
            # silently void the first caller's new key), and a grace-period secret cannot.
            authkey = AuthKey.objects.select_for_update().get(pk=grant.authkey_id)
            current = KeySecret.objects.filter(
                authkey=authkey, digest=keys.digest(presented.key), valid_until__isnull=True
            ).exists()
            if not current:
                raise ApiError(Code.INVALID_AUTHKEY, "Only the key's current secret can regenerate it.")
            secret = authkey_services.authkey_regenerate(
                authkey=authkey, actor=None, actor_key=authkey, actor_ip=ctx.client_ip or None
            )
    except ApiError as error:
        api.record_refusal(ctx, error, grant=grant, presented=presented)
        raise
    except Exception as exc:
        raise _internal(ctx, exc, company_id=grant.company_id) from exc
    api.record_success(ctx, grant)
    return secret


# --- userId + password --------------------------------------------------------------------------


def _by_user(
    request: HttpRequest, ctx: api.Context, user_id: str | None, password: str | None, key_name: str | None
) -> str:
    company_id: int | None = None
    try:
        email = (user_id or "").strip()
        if not email:
            raise ApiError(Code.MISSING_USERNAME, "Missing userId (your registered email).")
        if not password:
            raise ApiError(Code.MISSING_PASSWORD)
        try:
            # Behind the brute-force throttle (429 while locked); attributed to the targeted account.
            user = sessions.check_password(email=email, password=password, ip=ctx.client_ip)
        except sessions.CredentialError as error:
            company_id = error.company_id
            raise
        except Throttled as error:
            company_id = error.company_id
            raise
        company = user.company
        if company is None:
            raise ApiError(Code.INVALID_CREDENTIALS, "This user does not belong to a company.")
        company_id = company.pk
        if not company.is_active:
            raise ApiError(api._COMPANY_STATUS_CODES.get(company.status, Code.SERVICE_TERMINATED))
        if blacklist.is_blocked(ctx.client_ip):
            raise ApiError(Code.IP_BLACKLISTED)
        if not user.can_manage_security:
            raise _Forbidden(
                Code.INVALID_CREDENTIALS, "Only the company's owner or admins may regenerate API keys."
            )
        authkey = _key_to_regenerate(company.pk, key_name)
    except ApiError as error:
        api.record_refusal(ctx, error, company_id=company_id)
        raise
    except Exception as exc:
        raise _internal(ctx, exc, company_id=company_id) from exc
    try:
        return authkey_services.authkey_regenerate(
            authkey=authkey, actor=user, actor_ip=ctx.client_ip or None
        )
    except Exception as exc:
        raise _internal(ctx, exc, company_id=company_id) from exc


def _key_to_regenerate(company_id: int, key_name: str | None) -> AuthKey:
    keys_of_company = AuthKey.objects.filter(company_id=company_id)
    if key_name is not None:
        name = " ".join(key_name.split())
        authkey = keys_of_company.filter(name__iexact=name).first() if name else None
        if authkey is None:
            raise ApiError(Code.INVALID_AUTHKEY, f"This company has no API key named {name[:50]!r}.")
        return authkey
    now = timezone.now()
    authkey = (
        keys_of_company.filter(enabled=True).exclude(expires_at__lte=now).order_by("created_at", "pk").first()
    )
    if authkey is None:
        raise ApiError(
            Code.INVALID_AUTHKEY,
            "This company has no enabled API key to regenerate: create one in the panel, "
            "or name a key with keyName.",
        )
    return authkey


def _internal(ctx: api.Context, exc: Exception, *, company_id: int | None) -> ApiError:
    logger.error("key regeneration failed on %s: %s", ctx.endpoint, type(exc).__name__)
    internal = ApiError(Code.INTERNAL_ERROR)
    api.record_refusal(ctx, internal, company_id=company_id)
    return internal
