"""Sending policy, applied by the pipeline (messaging/api.py `_validate`) for every dialect:

    contact groups (309) → sender blacklist (603) → sender approval (203) → route resolution
      (209, 210) → route state (306, 602) → DLT (211, 203) → hard-block keywords (402)

Everything here is staff-managed in the admin. The global tables (routes, blacklisted senders,
keywords) are small and read on every request, so they are cached like the IP blacklist
(messaging/blacklist.py): a shared cache entry plus a short process-local copy, dropped on every
save/delete. Per-company rows (routing, approved sender IDs, groups) are one indexed query each,
made only when the request needs them (no default route given, a DLT route, the approval
setting on, a group_id): a warm request naming a plain route makes no query here.
"""

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import cache
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from messaging.catalogue import ApiError, Code
from messaging.models import (
    BlockedKeyword,
    BlockedSender,
    CompanyRouting,
    ContactGroup,
    GroupMember,
    Route,
    SenderId,
)

if TYPE_CHECKING:
    from messaging.api import Principal, SendRequest

_LOCAL_SECONDS = 1.0
_SHARED_SECONDS = 300
# MSG91 route numbers → route codes; any other value is taken as a route code.
ROUTE_ALIASES = {"4": "transactional", "1": "promotional"}
# What the data migration seeds. An empty route table (e.g. flushed by a transactional test, or a
# database created without migrations) means these, so that sending never silently stops.
BUILTIN_ROUTES: dict[str, tuple[bool, bool, bool]] = {
    "transactional": (True, True, False),
    "promotional": (True, True, False),
}


@dataclass(frozen=True)
class RouteState:
    code: str
    available: bool
    enabled: bool
    requires_dlt: bool


class _Cached:
    """A JSON-able value loaded from the database, shared through the cache, copied locally."""

    def __init__(self, key: str, load: Callable[[], Any], build: Callable[[Any], Any]) -> None:
        self.key, self._load, self._build = key, load, build
        self._local: tuple[float, Any] | None = None

    def get(self) -> Any:
        now = time.monotonic()
        if self._local is not None and self._local[0] > now:
            return self._local[1]
        raw = cache.get(self.key)
        if raw is None:
            raw = self._load()
            cache.set(self.key, raw, _SHARED_SECONDS)
        value = self._build(raw)
        self._local = (now + _LOCAL_SECONDS, value)
        return value

    def forget(self) -> None:
        cache.delete(self.key)
        self._local = None


def _keyword_regex(words: list[str]) -> re.Pattern[str] | None:
    if not words:
        return None
    # Whole words: no letter, digit or underscore on either side (also for keywords that start or
    # end with punctuation, where \b would not do).
    alternatives = "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


_routes = _Cached(
    "messaging:policy:routes",
    lambda: [
        [r.code, r.available, r.enabled, r.requires_dlt]
        for r in Route.objects.only("code", "available", "enabled", "requires_dlt")
    ],
    lambda rows: (
        {row[0]: RouteState(*row) for row in rows}
        or {code: RouteState(code, *flags) for code, flags in BUILTIN_ROUTES.items()}
    ),
)
_blocked_senders = _Cached(
    "messaging:policy:senders",
    lambda: list(BlockedSender.objects.values_list("sender", flat=True)),
    frozenset,
)
_keywords = _Cached(
    "messaging:policy:keywords",
    lambda: list(BlockedKeyword.objects.values_list("keyword", flat=True)),
    _keyword_regex,
)
_ALL = (_routes, _blocked_senders, _keywords)


def forget() -> None:
    for cached in _ALL:
        cached.forget()


@receiver([post_save, post_delete], sender=Route)
def _on_route_change(**kwargs: object) -> None:
    _routes.forget()


@receiver([post_save, post_delete], sender=BlockedSender)
def _on_sender_change(**kwargs: object) -> None:
    _blocked_senders.forget()


@receiver([post_save, post_delete], sender=BlockedKeyword)
def _on_keyword_change(**kwargs: object) -> None:
    _keywords.forget()


# --- Checks -------------------------------------------------------------------------------------


def with_groups(company_id: int, request: "SendRequest") -> "SendRequest":
    """The request with its contact groups' numbers added to `mobiles` (309 for a group id that is
    unknown, malformed or another company's). Members are stored with their country code."""
    raw = (request.group_ids or "").strip()
    if not raw:
        return request
    items = [item.strip() for item in raw.split(",") if item.strip()]
    if not items or not all(item.isascii() and item.isdigit() and len(item) <= 18 for item in items):
        raise ApiError(Code.GROUP_NOT_YOURS, f"Invalid group id in {raw[:40]!r}.")
    ids = {int(item) for item in items}
    found = set(ContactGroup.objects.filter(company_id=company_id, pk__in=ids).values_list("pk", flat=True))
    if missing := sorted(ids - found):
        raise ApiError(Code.GROUP_NOT_YOURS, f"Group {missing[0]} does not belong to this account.")
    numbers = [
        "+" + msisdn
        for msisdn in GroupMember.objects.filter(group_id__in=ids).values_list("msisdn", flat=True)
    ]
    mobiles = request.mobiles
    given = (
        list(mobiles)
        if isinstance(mobiles, list)
        else [m for m in str(mobiles or "").split(",") if m.strip()]
    )
    return replace(request, mobiles=given + numbers)


def _company_routing(company_id: int) -> tuple[str | None, str]:
    """→ (the company's default route code, its DLT entity id); read only when needed."""
    row = (
        CompanyRouting.objects.filter(company_id=company_id)
        .values_list("default_route__code", "dlt_entity_id")
        .first()
    )
    return (row[0], row[1] or "") if row is not None else (None, "")


def _resolve_route(company_id: int, requested: str | None) -> RouteState:
    routes: dict[str, RouteState] = _routes.get()
    name = (requested or "").strip().lower()
    if not name:
        company_default, _ = _company_routing(company_id)
        code = company_default or getattr(settings, "SMS_DEFAULT_ROUTE", "transactional")
        if code not in routes:
            raise ApiError(Code.DEFAULT_ROUTE_NOT_FOUND, "No route given and no default route is configured.")
        return routes[code]
    code = ROUTE_ALIASES.get(name, name)
    if code not in routes:
        raise ApiError(
            Code.ROUTE_UNDETERMINED,
            f"Unknown route {requested!r}: use 4 (transactional) or 1 (promotional).",
        )
    return routes[code]


def check(grant: "Principal", request: "SendRequest", sender: str, text: str) -> str:
    """Sender, route, DLT and keyword policy for a request whose fields are already valid. Returns
    the route code to record on the Message; raises ApiError."""
    key = sender.upper()
    if key in _blocked_senders.get():
        raise ApiError(Code.SENDER_BLACKLISTED, f"Sender ID {sender} is blacklisted, please use another one.")
    if (
        getattr(settings, "SMS_REQUIRE_APPROVED_SENDER", False)
        and not SenderId.objects.filter(
            company_id=grant.company_id, sender=key, status=SenderId.Status.APPROVED
        ).exists()
    ):
        raise ApiError(Code.INVALID_SENDER, f"Sender ID {sender} is not approved")
    route = _resolve_route(grant.company_id, request.route)
    if not route.available:
        raise ApiError(Code.ROUTE_UNAVAILABLE, f"The route {route.code!r} is currently unavailable.")
    if not route.enabled:
        raise ApiError(
            Code.ROUTE_DISABLED, f"The route {route.code!r} is disabled, kindly select another route."
        )
    if route.requires_dlt:
        if not (request.dlt_template_id or "").strip():
            raise ApiError(Code.DLT_TEMPLATE_MISSING, f"The route {route.code!r} needs DLT_TE_ID.")
        if not _company_routing(grant.company_id)[1].strip():
            raise ApiError(Code.INVALID_SENDER, "DLT Entity Id Missing")
    keywords: re.Pattern[str] | None = _keywords.get()
    if keywords is not None and keywords.search(text):
        raise ApiError(Code.HARD_BLOCK_KEYWORDS)
    return route.code
