"""Credentials that are not an API key: a company user (`Basic`), an IBSSO session token and an
OAuth 2.0 access token (seed 003). The pipeline (messaging/api.py) calls these for requests whose
Authorization scheme is Basic, IBSSO or Bearer, then runs its usual checks in its usual order.

- `Basic base64(email:password)`: a company user's panel credentials (django.contrib.auth, so only
  active users). The principal is the user's company; every role may send (members only cannot
  change security settings, so they may not use the "key-management" service).
- `IBSSO <token>`: a session made by `POST /auth/1/session` with the same credentials. It lasts
  INFOBIP_SESSION_SECONDS (60 minutes) from creation, is bound to the creating IP unless made with
  `"unsafe": true`, and a user has at most one: a new one needs the current one destroyed
  (`DELETE /auth/1/session`) or expired. It acts as its user, read afresh on every use (a
  deactivated user's session stops at once; role and company status are current).
- `Bearer <token>`: an access token made by `POST /auth/1/oauth2/token` (client_credentials) for
  an API key. It acts with that key's grant, checked afresh on every use exactly as the key itself
  would be (company status, enabled, expiry, IP security 418, rule), and dies with the key's
  secret (regeneration) or after INFOBIP_ACCESS_TOKEN_SECONDS.

A user principal has no key, so the company's Additional Security (allow-lists enforced on every
key) applies to it with the company's allow-list: from any other IP it is refused with 418.

Tokens are 43 random URL-safe characters after a prefix (`ses_`, `oat_`); only their keyed digest
(authkeys.keys.digest, HMAC-SHA256) is stored, never the token.
"""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import authenticate as authenticate_password
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Company, User
from authkeys import auth, keys, services_catalogue
from authkeys.auth import AllowList, AuthResult, IPAddress, KeyGrant, Refusal
from authkeys.ipaddrs import parse_client_ip
from authkeys.models import CompanyAllowedIP, KeySecret
from messaging import throttle
from messaging.catalogue import ApiError, Code
from messaging.credentials import BASIC, IBSSO, Presented, decode_basic
from messaging.models import ApiSession, OAuthAccessToken

SESSION_PREFIX = "ses_"
ACCESS_TOKEN_PREFIX = "oat_"  # noqa: S105 (a prefix, not a secret)
_MANAGERS = frozenset({User.Role.OWNER, User.Role.ADMIN})


class CredentialError(ApiError):
    """Refused credentials (201 or 207). `company_id`, when known, attributes the attempt to the
    account it targets (Failed Logs) without making it a principal."""

    def __init__(self, code: Code, detail: str = "", *, company_id: int | None = None) -> None:
        super().__init__(code, detail)
        self.company_id = company_id


class SessionExists(Exception):
    """The user already has a live session (Infobip: destroy it before creating another)."""


@dataclass(frozen=True)
class UserPrincipal:
    """A company user authenticated by password (Basic) or session (IBSSO). Provides what the
    pipeline needs of a key grant: company_id, company_status, authkey_id (None), may_use."""

    user_id: int
    company_id: int
    company_status: str
    role: str
    method: str  # credentials.BASIC | credentials.IBSSO
    additional_security: bool
    company_ips: AllowList
    authkey_id: None = None

    def may_use(self, service_code: str) -> bool:
        return service_code != services_catalogue.KEY_MANAGEMENT or self.role in _MANAGERS

    def ip_allowed(self, ip: IPAddress | None) -> bool:
        """Additional Security: the company's allow-list applies to every API request."""
        if not self.additional_security:
            return True
        return ip is not None and self.company_ips.allows(ip)


def _new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def _company_ips(company_id: int) -> AllowList:
    return AllowList.parse(
        ",".join(CompanyAllowedIP.objects.filter(company_id=company_id).values_list("network", flat=True))
    )


def _principal(
    *, user_id: int, company_id: int, status: str, role: str, method: str, additional_security: bool | None
) -> UserPrincipal:
    return UserPrincipal(
        user_id=user_id,
        company_id=company_id,
        company_status=status,
        role=role,
        method=method,
        additional_security=bool(additional_security),
        company_ips=_company_ips(company_id) if additional_security else AllowList.parse(""),
    )


# --- Basic and IBSSO ----------------------------------------------------------------------------


def authenticate_user(presented: Presented, ip: str) -> UserPrincipal:
    """Basic or IBSSO credentials → the user principal. Raises CredentialError (104, 105 or 201
    for Basic, 207 for a session). Company status, IP and blacklist are the pipeline's checks."""
    if presented.scheme == BASIC:
        return _basic(presented.key, ip)
    if presented.scheme == IBSSO:
        return _session(presented.key, ip)
    raise CredentialError(Code.INVALID_AUTHKEY, f"Unsupported credentials ({presented.source}).")


def _target_company(email: str) -> int | None:
    """The company of the account an attempt targets (Failed Logs attribution), if any."""
    return User.objects.filter(email__iexact=email).values_list("company_id", flat=True).first()


def check_password(*, email: str, password: str, ip: str) -> User:
    """A company user's email and password → the user, behind the brute-force throttle
    (messaging/throttle.py). Raises throttle.Throttled (201, HTTP 429) while the email or the IP
    is locked, without checking the password, and CredentialError(201) for wrong credentials.
    Both are attributed to the targeted account; the reply is the same whether it exists or not."""
    try:
        throttle.check(username=email, ip=ip, code=Code.INVALID_CREDENTIALS)
    except throttle.Throttled as locked:
        locked.company_id = _target_company(email)
        raise
    user = authenticate_password(None, username=email, password=password)
    if not isinstance(user, User):
        throttle.failed(username=email, ip=ip)
        raise CredentialError(Code.INVALID_CREDENTIALS, company_id=_target_company(email))
    return user


def _basic(credentials: str, ip: str) -> UserPrincipal:
    decoded = decode_basic(credentials)
    if decoded is None:
        raise CredentialError(
            Code.INVALID_CREDENTIALS, "Malformed Basic credentials: send base64 of email:password."
        )
    email, password = decoded[0].strip(), decoded[1]
    if not email:
        raise CredentialError(Code.MISSING_USERNAME, "Missing username (your login email).")
    if not password:
        raise CredentialError(Code.MISSING_PASSWORD)
    user = check_password(email=email, password=password, ip=ip)
    company = (
        Company.objects.filter(pk=user.company_id)
        .values("status", "api_security__additional_security")
        .first()
        if user.company_id is not None
        else None
    )
    if company is None or user.company_id is None:
        raise CredentialError(Code.INVALID_CREDENTIALS, "This user does not belong to a company.")
    return _principal(
        user_id=user.pk,
        company_id=user.company_id,
        status=company["status"],
        role=user.role,
        method=BASIC,
        additional_security=company["api_security__additional_security"],
    )


_SESSION_FIELDS = (
    "expires_at",
    "bound_ip",
    "unsafe",
    "user_id",
    "user__is_active",
    "user__role",
    "user__company_id",
    "user__company__status",
    "user__company__api_security__additional_security",
)
_INVALID_SESSION = "Invalid or expired session token: create a session with POST /auth/1/session."


def _session(token: str, ip: str) -> UserPrincipal:
    row = ApiSession.objects.filter(digest=keys.digest(token)).values(*_SESSION_FIELDS).first()
    if row is None or row["expires_at"] <= timezone.now():
        raise CredentialError(Code.INVALID_AUTHKEY, _INVALID_SESSION)
    company_id = row["user__company_id"]
    if not row["user__is_active"] or company_id is None:
        raise CredentialError(Code.INVALID_AUTHKEY, _INVALID_SESSION, company_id=company_id)
    if not row["unsafe"] and (
        row["bound_ip"] is None or parse_client_ip(row["bound_ip"]) != parse_client_ip(ip)
    ):
        raise CredentialError(
            Code.INVALID_AUTHKEY,
            f"This session is bound to the IP that created it, not {ip}; "
            'create it with "unsafe": true to use it from several addresses.',
            company_id=company_id,
        )
    return _principal(
        user_id=row["user_id"],
        company_id=company_id,
        status=row["user__company__status"],
        role=row["user__role"],
        method=IBSSO,
        additional_security=row["user__company__api_security__additional_security"],
    )


def create_session(principal: UserPrincipal, *, ip: str, unsafe: bool) -> tuple[str, datetime]:
    """A new session token for the principal's user. Raises SessionExists while one is live."""
    token = _new_token(SESSION_PREFIX)
    now = timezone.now()
    expires_at = now + timedelta(seconds=settings.INFOBIP_SESSION_SECONDS)
    address = parse_client_ip(ip)
    with transaction.atomic():
        ApiSession.objects.filter(user_id=principal.user_id, expires_at__lte=now).delete()
        try:
            with transaction.atomic():
                ApiSession.objects.create(
                    user_id=principal.user_id,
                    digest=keys.digest(token),
                    bound_ip=str(address) if address is not None else None,
                    unsafe=unsafe,
                    created_at=now,
                    expires_at=expires_at,
                )
        except IntegrityError:  # the one-session-per-user constraint
            raise SessionExists from None
    return token, expires_at


def destroy_session(token: str) -> bool:
    return ApiSession.objects.filter(digest=keys.digest(token)).delete()[0] > 0


# --- OAuth 2.0 access tokens --------------------------------------------------------------------


def issue_access_token(grant: KeyGrant, client_secret: str) -> tuple[str, int]:
    """An access token for the key secret `client_secret` (already authenticated into `grant`).
    Returns (token, expires_in seconds): the configured lifetime, cut short by the key's expiry or
    the end of the secret's grace period."""
    now = timezone.now()
    expires_at = now + timedelta(seconds=settings.INFOBIP_ACCESS_TOKEN_SECONDS)
    for limit in (grant.expires_at, grant.secret_valid_until):
        if limit is not None:
            expires_at = min(expires_at, limit)
    secret_id = (
        KeySecret.objects.filter(digest=keys.digest(client_secret)).values_list("pk", flat=True).first()
    )
    if secret_id is None:  # regenerated between authentication and here
        raise CredentialError(Code.INVALID_AUTHKEY)
    token = _new_token(ACCESS_TOKEN_PREFIX)
    OAuthAccessToken.objects.filter(key_secret_id=secret_id, expires_at__lte=now).delete()
    OAuthAccessToken.objects.create(
        key_secret_id=secret_id, digest=keys.digest(token), created_at=now, expires_at=expires_at
    )
    return token, max(0, int((expires_at - now).total_seconds()))


def authenticate_access_token(token: str, ip: str) -> AuthResult:
    """A Bearer token → its key's grant, or the first refusal, exactly as for the key itself."""
    secret_digest = (
        OAuthAccessToken.objects.filter(digest=keys.digest(token), expires_at__gt=timezone.now())
        .values_list("key_secret__digest", flat=True)
        .first()
    )
    if secret_digest is None:
        return AuthResult(None, Refusal.UNKNOWN)
    return auth.authenticate_digest(secret_digest, ip, cached=False)


# --- Housekeeping and revocation (Celery beat, the staff admin) ---------------------------------


def purge_expired(*, now: datetime | None = None) -> dict[str, int]:
    """Delete expired IBSSO sessions and OAuth access tokens (they authenticate nothing: both
    lookups already require `expires_at > now`). Run periodically by
    messaging.tasks.purge_expired_credentials; returns how many rows of each went."""
    now = now or timezone.now()
    sessions_deleted = ApiSession.objects.filter(expires_at__lte=now).delete()[0]
    tokens_deleted = OAuthAccessToken.objects.filter(expires_at__lte=now).delete()[0]
    return {"sessions": sessions_deleted, "access_tokens": tokens_deleted}


def sessions_revoke(*, session_ids: list[int]) -> int:
    """Revoke IBSSO sessions at once (staff): the next request with their token gets 207, and
    the user may create a new session. Returns how many were revoked."""
    return ApiSession.objects.filter(pk__in=session_ids).delete()[0]


def access_tokens_revoke(*, token_ids: list[int]) -> int:
    """Revoke OAuth access tokens at once (staff): the next request with them gets 207."""
    return OAuthAccessToken.objects.filter(pk__in=token_ids).delete()[0]
