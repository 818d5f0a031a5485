"""The global IP blacklist (error 208), cached like key grants: a set/range lookup per request."""

import time

from django.core.cache import cache
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from authkeys.auth import AllowList
from authkeys.ipaddrs import parse_client_ip
from messaging.models import BlockedIP

_CACHE_KEY = "messaging:blacklist"
_LOCAL_SECONDS = 1.0
_local: tuple[float, AllowList] | None = None


def _load() -> AllowList:
    global _local
    now = time.monotonic()
    if _local is not None and _local[0] > now:
        return _local[1]
    joined = cache.get(_CACHE_KEY)
    if joined is None:
        joined = ",".join(BlockedIP.objects.values_list("network", flat=True))
        cache.set(_CACHE_KEY, joined, 300)
    networks = AllowList.parse(joined)
    _local = (now + _LOCAL_SECONDS, networks)
    return networks


def is_blocked(ip: str) -> bool:
    address = parse_client_ip(ip)
    return address is not None and _load().allows(address)


def forget() -> None:
    global _local
    cache.delete(_CACHE_KEY)
    _local = None


@receiver([post_save, post_delete], sender=BlockedIP)
def _on_change(**kwargs: object) -> None:
    forget()
