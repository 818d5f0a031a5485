"""Parsing of allow-list entries: IPv4, IPv6 or CIDR, strictly, with the entry named in errors."""

import functools
import ipaddress
import re

from django.core.exceptions import ValidationError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_IPV4_LIKE = re.compile(r"^[0-9.]+$")


def parse_entry(raw: str) -> IPNetwork:
    """One entry → a network (a single address is a /32 or /128). Raises ValidationError."""
    text = raw if isinstance(raw, str) else ""
    entry = text.strip()
    if not entry:
        raise ValidationError("An empty entry is not an IP address.", code="empty")
    if any(ch.isspace() for ch in entry):
        raise ValidationError(
            "“%(entry)s”: an IP address has no spaces.", code="invalid", params={"entry": entry}
        )
    if "%" in entry:
        raise ValidationError(
            "“%(entry)s”: zone ids (the part after %%) are not allowed; enter the address alone.",
            code="zone",
            params={"entry": entry},
        )
    address, slash, prefix = entry.partition("/")
    if slash and not (prefix.isascii() and prefix.isdigit()):
        raise ValidationError(
            "“%(entry)s”: the prefix length after / must be a number.",
            code="invalid",
            params={"entry": entry},
        )
    if _IPV4_LIKE.match(address):
        octets = address.split(".")
        if len(octets) != 4:
            raise ValidationError(
                "“%(entry)s”: an IPv4 address has four numbers separated by dots.",
                code="invalid",
                params={"entry": entry},
            )
        for octet in octets:
            if octet == "" or int(octet) > 255:
                raise ValidationError(
                    "“%(entry)s”: each IPv4 number must be between 0 and 255.",
                    code="invalid",
                    params={"entry": entry},
                )
            if len(octet) > 1 and octet.startswith("0"):
                raise ValidationError(
                    "“%(entry)s”: numbers with leading zeros are ambiguous (octal); write %(fixed)s.",
                    code="leading_zero",
                    params={"entry": entry, "fixed": ".".join(str(int(o)) for o in octets)},
                )
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise ValidationError(
            "“%(entry)s” is not an IPv4 or IPv6 address.", code="invalid", params={"entry": entry}
        ) from None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
        if slash:
            mapped_prefix = int(prefix) - 96
            if mapped_prefix < 0:
                raise ValidationError(
                    "“%(entry)s”: an IPv4-mapped network needs a prefix of at least /96.",
                    code="invalid",
                    params={"entry": entry},
                )
            prefix = str(mapped_prefix)
    max_prefix = ip.max_prefixlen
    if slash and int(prefix) > max_prefix:
        raise ValidationError(
            "“%(entry)s”: the prefix length must be at most /%(max)d for IPv%(version)d.",
            code="prefix",
            params={"entry": entry, "max": max_prefix, "version": ip.version},
        )
    try:
        return ipaddress.ip_network(f"{ip}/{prefix if slash else max_prefix}", strict=False)
    except ValueError:
        raise ValidationError(
            "“%(entry)s” is not a valid network.", code="invalid", params={"entry": entry}
        ) from None


def canonical(network: IPNetwork) -> str:
    """A single address is shown without its /32 or /128."""
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


def normalize_entry(raw: str) -> str:
    return canonical(parse_entry(raw))


@functools.lru_cache(maxsize=4096)  # addresses are immutable; each request parses its IP twice or more
def parse_client_ip(raw: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """A request's IP, IPv4-mapped IPv6 unmapped; None when it is not an address."""
    try:
        ip = ipaddress.ip_address(raw.strip())
    except (ValueError, AttributeError):
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return None
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
    return ip
