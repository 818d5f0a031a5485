"""The API authenticator's core: client IP resolution and key → grant or precise refusal.

Hot path: no password hasher (an HMAC digest), a shape/checksum check before any lookup, one SQL
statement when cold (correlated subqueries bring the allow-lists and the rule's services along),
then a per-process memo of at most AUTHKEY_LOCAL_CACHE_SECONDS in front of the shared cache,
which every change invalidates. So a disabled key or a removed IP is refused within a second in
every process.
"""

import ipaddress
import time
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import OuterRef, StringAgg, Subquery, Value
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import Company
from authkeys import keys
from authkeys.ipaddrs import IPNetwork, parse_client_ip
from authkeys.models import CompanyAllowedIP, KeyAllowedIP, KeySecret, Rule

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_CACHE_PREFIX = "authkeys:grant:"
_MISSING = "missing"


# --- Client IP --------------------------------------------------------------------------------


def _is_trusted_proxy(ip: IPAddress) -> bool:
    return any(ip in network for network in settings.TRUSTED_PROXIES)


def client_ip(request: HttpRequest) -> str:
    """REMOTE_ADDR, unless the peer is a trusted proxy: then the right-most X-Forwarded-For hop
    that is not itself a trusted proxy. A malformed header falls back to the peer."""
    remote = request.META.get("REMOTE_ADDR", "")
    peer = parse_client_ip(remote)
    if peer is None:
        return remote
    if not _is_trusted_proxy(peer):
        return str(peer)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if not forwarded.strip():
        return str(peer)
    hops = [hop.strip() for hop in forwarded.split(",")]
    candidate = peer
    for hop in reversed(hops):
        ip = parse_client_ip(hop)
        if ip is None:
            return str(peer)
        candidate = ip
        if not _is_trusted_proxy(ip):
            return str(ip)
    return str(candidate)


# --- Grants -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AllowList:
    exact: frozenset[IPAddress]
    networks: tuple[IPNetwork, ...]

    @classmethod
    def parse(cls, joined: str | None) -> "AllowList":
        exact: set[IPAddress] = set()
        networks: list[IPNetwork] = []
        for entry in (joined or "").split(","):
            if not entry:
                continue
            network = ipaddress.ip_network(entry, strict=False)
            if network.prefixlen == network.max_prefixlen:
                exact.add(network.network_address)
            else:
                networks.append(network)
        return cls(frozenset(exact), tuple(networks))

    def __bool__(self) -> bool:
        return bool(self.exact or self.networks)

    def allows(self, ip: IPAddress) -> bool:
        return ip in self.exact or any(ip in network for network in self.networks)


@dataclass(frozen=True)
class KeyGrant:
    """Everything the API needs to decide about a key, cached as one value."""

    authkey_id: int
    name: str
    company_id: int
    company_status: str
    enabled: bool
    expires_at: datetime | None
    secret_valid_until: datetime | None
    ip_security: bool
    additional_security: bool
    rule_id: int
    all_services: bool
    services: frozenset[str]
    key_ips: AllowList
    company_ips: AllowList

    def ip_allowed(self, ip: IPAddress | None) -> bool:
        if not (self.ip_security or self.additional_security):
            return True
        # An empty list allows nothing: deleting the last entry never opens a key to every IP.
        return ip is not None and (self.key_ips.allows(ip) or self.company_ips.allows(ip))

    def may_use(self, service_code: str) -> bool:
        return self.all_services or service_code in self.services


class Refusal(StrEnum):
    MALFORMED = "malformed"  # wrong shape or checksum: no database was consulted
    UNKNOWN = "unknown"
    COMPANY_INACTIVE = "company_inactive"  # see grant.company_status
    DISABLED = "disabled"
    EXPIRED = "expired"
    IP_NOT_ALLOWED = "ip_not_allowed"  # error 418


@dataclass(frozen=True)
class AuthResult:
    grant: KeyGrant | None
    refusal: Refusal | None

    @property
    def ok(self) -> bool:
        return self.refusal is None


def authenticate_key(presented: str, ip: str) -> AuthResult:
    """The presented key and the client IP → the grant, or the first refusal in the documented
    order: shape → exists → company status → enabled → expiry → IP security."""
    if not keys.is_well_formed(presented):
        return AuthResult(None, Refusal.MALFORMED)
    grant = _grant_for_digest(keys.digest(presented))
    if grant is None:
        return AuthResult(None, Refusal.UNKNOWN)
    now = timezone.now()
    if grant.secret_valid_until is not None and grant.secret_valid_until <= now:
        return AuthResult(None, Refusal.UNKNOWN)
    if grant.company_status != Company.Status.ACTIVE:
        return AuthResult(grant, Refusal.COMPANY_INACTIVE)
    if not grant.enabled:
        return AuthResult(grant, Refusal.DISABLED)
    if grant.expires_at is not None and grant.expires_at <= now:
        return AuthResult(grant, Refusal.EXPIRED)
    if not grant.ip_allowed(parse_client_ip(ip)):
        return AuthResult(grant, Refusal.IP_NOT_ALLOWED)
    return AuthResult(grant, None)


# --- Loading and caching -----------------------------------------------------------------------

_local: dict[str, tuple[float, KeyGrant | None]] = {}


def _grant_for_digest(digest: str) -> KeyGrant | None:
    now = time.monotonic()
    memo = _local.get(digest)
    if memo is not None and memo[0] > now:
        return memo[1]
    shared = cache.get(_CACHE_PREFIX + digest)
    if shared is None:
        grant = load_grant(digest)
        cache.set(_CACHE_PREFIX + digest, grant or _MISSING, settings.AUTHKEY_SHARED_CACHE_SECONDS)
    else:
        grant = None if shared == _MISSING else shared
    if len(_local) > 10_000:
        _local.clear()
    _local[digest] = (now + settings.AUTHKEY_LOCAL_CACHE_SECONDS, grant)
    return grant


def load_grant(digest: str) -> KeyGrant | None:
    """One SQL statement: the secret, its key, company, API security, rule and both allow-lists."""
    key_ips = (
        KeyAllowedIP.objects.filter(authkey=OuterRef("authkey_id"))
        .values("authkey")
        .annotate(joined=StringAgg("network", delimiter=Value(",")))
        .values("joined")
    )
    company_ips = (
        CompanyAllowedIP.objects.filter(company=OuterRef("authkey__company_id"))
        .values("company")
        .annotate(joined=StringAgg("network", delimiter=Value(",")))
        .values("joined")
    )
    rule_services = (
        Rule.services.through.objects.filter(rule=OuterRef("authkey__rule_id"))
        .values("rule")
        .annotate(joined=StringAgg("service__code", delimiter=Value(",")))
        .values("joined")  # type: ignore[misc]
    )
    query = (
        KeySecret.objects.filter(digest=digest)
        .select_related("authkey__company__api_security", "authkey__rule")
        .annotate(
            key_ips=Subquery(key_ips),
            company_ips=Subquery(company_ips),
            rule_services=Subquery(rule_services),
        )
    )
    try:
        secret = query.get()  # .get(), not .first(): no ORDER BY on the hot path
    except KeySecret.DoesNotExist:
        return None
    authkey = secret.authkey
    company = authkey.company
    api_security = getattr(company, "api_security", None)
    return KeyGrant(
        authkey_id=authkey.pk,
        name=authkey.name,
        company_id=company.pk,
        company_status=company.status,
        enabled=authkey.enabled,
        expires_at=authkey.expires_at,
        secret_valid_until=secret.valid_until,
        ip_security=authkey.ip_security,
        additional_security=bool(api_security and api_security.additional_security),
        rule_id=authkey.rule_id,
        all_services=authkey.rule.all_services,
        services=frozenset(code for code in (secret.rule_services or "").split(",") if code),  # type: ignore[attr-defined]
        key_ips=AllowList.parse(secret.key_ips),  # type: ignore[attr-defined]
        company_ips=AllowList.parse(secret.company_ips),  # type: ignore[attr-defined]
    )


def _forget(digests: list[str]) -> None:
    if not digests:
        return
    cache.delete_many([_CACHE_PREFIX + digest for digest in digests])
    for digest in digests:
        _local.pop(digest, None)


def invalidate_digests(digests: list[str]) -> None:
    """Forget cached grants now and again after commit (a reader that loaded the old rows before
    the commit must not leave them cached)."""
    digests = list(digests)
    _forget(digests)
    transaction.on_commit(lambda: _forget(digests))


def invalidate_keys(authkey_ids: list[int]) -> None:
    invalidate_digests(
        list(KeySecret.objects.filter(authkey_id__in=authkey_ids).values_list("digest", flat=True))
    )


def invalidate_company(company_id: int) -> None:
    invalidate_digests(
        list(KeySecret.objects.filter(authkey__company_id=company_id).values_list("digest", flat=True))
    )


def invalidate_rule(rule_id: int) -> None:
    invalidate_digests(
        list(KeySecret.objects.filter(authkey__rule_id=rule_id).values_list("digest", flat=True))
    )
