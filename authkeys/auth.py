"""The API authenticator's core: client IP resolution and key → grant or precise refusal.

Hot path: no password hasher (an HMAC digest), a shape/checksum check before any lookup, one SQL
statement when cold (correlated subqueries bring the allow-lists and the rule's services along),
then a per-process memo of at most AUTHKEY_LOCAL_CACHE_SECONDS in front of the shared cache,
which every change invalidates. So a disabled key or a removed IP is refused within a second in
every process.
"""

import bisect
import ipaddress
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import OuterRef, StringAgg, Subquery, Value
from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import Company
from authkeys import keys
from authkeys.ipaddrs import parse_client_ip
from authkeys.models import CompanyAllowedIP, KeyAllowedIP, KeySecret, Rule

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_CACHE_PREFIX = "authkeys:grant:v2:"  # v2: KeyGrant.valid_from
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
    """Allow-list entries as integers: cheap to cache (pickle) and to match (a set lookup for
    single addresses, a bisect over sorted ranges for CIDRs)."""

    exact: frozenset[tuple[int, int]]  # (IP version, address)
    starts: tuple[tuple[int, int], ...]  # (version, first address) of each range, sorted
    ends: tuple[int, ...]  # last address of each range, in the same order

    @classmethod
    def parse(cls, joined: str | None) -> "AllowList":
        exact: set[tuple[int, int]] = set()
        ranges: list[tuple[int, int, int]] = []
        for entry in (joined or "").split(","):
            if not entry:
                continue
            if "/" not in entry:
                address = ipaddress.ip_address(entry)
                exact.add((address.version, int(address)))
                continue
            network = ipaddress.ip_network(entry, strict=False)
            first = int(network.network_address)
            ranges.append((network.version, first, first + network.num_addresses - 1))
        ranges.sort()
        return cls(
            frozenset(exact),
            tuple((version, first) for version, first, _ in ranges),
            tuple(last for _, _, last in ranges),
        )

    def __bool__(self) -> bool:
        return bool(self.exact or self.starts)

    def allows(self, ip: IPAddress) -> bool:
        point = (ip.version, int(ip))
        if point in self.exact:
            return True
        # Ranges may nest or overlap, so look at every range starting at or before the address.
        index = bisect.bisect_right(self.starts, point)
        return any(
            self.starts[i][0] == point[0] and point[1] <= self.ends[i] for i in range(index - 1, -1, -1)
        )


@dataclass(frozen=True)
class KeyGrant:
    """Everything the API needs to decide about a key, cached as one value."""

    authkey_id: int
    name: str
    company_id: int
    company_status: str
    enabled: bool
    valid_from: datetime | None
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
    NOT_YET_VALID = "not_yet_valid"  # before the key's valid_from
    EXPIRED = "expired"  # at or after the key's expires_at (validTo)
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
    order: shape → exists → company status → enabled → validity window → IP security."""
    if not keys.is_well_formed(presented):
        return AuthResult(None, Refusal.MALFORMED)
    return authenticate_digest(keys.digest(presented), ip)


def authenticate_digest(digest: str, ip: str, *, cached: bool = True) -> AuthResult:
    """The checks after the shape check, for a key known by its secret's digest (an API key,
    or the key behind an OAuth access token)."""
    grant = _grant_for_digest(digest) if cached else load_grant(digest)
    if grant is None:
        return AuthResult(None, Refusal.UNKNOWN)
    now = timezone.now()
    if grant.secret_valid_until is not None and grant.secret_valid_until <= now:
        return AuthResult(None, Refusal.UNKNOWN)
    return AuthResult(grant, decide(grant, ip, now))


def decide(grant: KeyGrant, ip: str, now: datetime) -> Refusal | None:
    """The checks on a known key, in the documented order. The API and the panel's IP check
    tool (which asks "would this key be accepted from that IP?") both decide here."""
    if grant.company_status != Company.Status.ACTIVE:
        return Refusal.COMPANY_INACTIVE
    if not grant.enabled:
        return Refusal.DISABLED
    if grant.valid_from is not None and now < grant.valid_from:
        return Refusal.NOT_YET_VALID
    if grant.expires_at is not None and grant.expires_at <= now:
        return Refusal.EXPIRED
    if not grant.ip_allowed(parse_client_ip(ip)):
        return Refusal.IP_NOT_ALLOWED
    return None


def grant_for_authkey(authkey_id: int) -> KeyGrant | None:
    """The key's grant through its current secret, fresh from the database (not cached)."""
    digest = (
        KeySecret.objects.filter(authkey_id=authkey_id, valid_until__isnull=True)
        .values_list("digest", flat=True)
        .first()
    )
    return load_grant(digest) if digest is not None else None


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


_GRANT_COLUMNS = (
    "valid_until",
    "authkey_id",
    "authkey__name",
    "authkey__company_id",
    "authkey__company__status",
    "authkey__enabled",
    "authkey__valid_from",
    "authkey__expires_at",
    "authkey__ip_security",
    "authkey__company__api_security__additional_security",
    "authkey__rule_id",
    "authkey__rule__all_services",
    "key_ips",
    "company_ips",
    "rule_services",
)
_PLACEHOLDER_DIGEST = "0" * 64
_compiled: dict[str, tuple[str, list[Any], int]] = {}


def _grant_queryset(digest: str):  # type: ignore[no-untyped-def]
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
    return (
        KeySecret.objects.filter(digest=digest)
        .annotate(
            key_ips=Subquery(key_ips),
            company_ips=Subquery(company_ips),
            rule_services=Subquery(rule_services),
        )
        .values_list(*_GRANT_COLUMNS)
    )


def _grant_sql() -> tuple[str, list[Any], int]:
    """The statement, compiled once per database vendor: building and compiling this ORM query
    costs ~50 times more than running it."""
    vendor = connection.vendor
    if vendor not in _compiled:
        sql, params = _grant_queryset(_PLACEHOLDER_DIGEST).query.sql_with_params()
        _compiled[vendor] = (sql, list(params), list(params).index(_PLACEHOLDER_DIGEST))
    return _compiled[vendor]


def _as_datetime(value: object) -> datetime | None:
    """Raw cursors skip Django's converters: SQLite gives naive UTC datetimes (or text)."""
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else parse_datetime(str(value))
    if parsed is not None and timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def load_grant(digest: str) -> KeyGrant | None:
    """One SQL statement: the secret, its key, company, API security, rule and both allow-lists."""
    sql, params, digest_index = _grant_sql()
    params = list(params)
    params[digest_index] = digest
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    (valid_until, authkey_id, name, company_id, status, enabled, valid_from, expires_at, ip_security,
     additional_security, rule_id, all_services, key_ips, company_ips, rule_services) = row  # fmt: skip
    return KeyGrant(
        authkey_id=authkey_id,
        name=name,
        company_id=company_id,
        company_status=status,
        enabled=bool(enabled),
        valid_from=_as_datetime(valid_from),
        expires_at=_as_datetime(expires_at),
        secret_valid_until=_as_datetime(valid_until),
        ip_security=bool(ip_security),
        additional_security=bool(additional_security),
        rule_id=rule_id,
        all_services=bool(all_services),
        services=frozenset(code for code in (rule_services or "").split(",") if code),
        key_ips=AllowList.parse(key_ips),
        company_ips=AllowList.parse(company_ips),
    )


def forget_local() -> None:
    """Drop this process's memo (tests; a process that must see a change at once)."""
    _local.clear()


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
