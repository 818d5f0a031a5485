"""SSRF protection for webhook URLs: checked when an endpoint is saved and again before every send.

1. The URL: http or https only, a host, no user:password@, no fragment, a valid port. IPv4 hosts
   must be four decimal numbers: the shorthand and octal/hex forms that browsers and libc accept
   (http://2130706433/, http://0177.0.0.1/, http://0x7f.1/, http://127.1/) are refused outright,
   as is any host whose last label is numeric but is not a dotted quad.
2. The host is resolved (getaddrinfo) and EVERY address must be public: loopback, private
   (RFC 1918), CGNAT 100.64.0.0/10, link-local 169.254.0.0/16 (cloud metadata 169.254.169.254) and
   fe80::/10, unique-local fc00::/7, 0.0.0.0/::, multicast, reserved, documentation and
   benchmarking ranges are refused, also when embedded in IPv6 (IPv4-mapped ::ffff:a.b.c.d,
   IPv4-compatible, NAT64 64:ff9b::/96, 6to4 2002::/16, Teredo).
3. The caller connects to one of the checked addresses (never resolving the name again), sending
   the name as Host header and, for https, as SNI and the name the certificate must match
   (webhooks/client.py). A DNS answer that changes between check and connect cannot redirect it.

WEBHOOKS_ALLOW_PRIVATE (development and tests only) lets loopback, RFC 1918, unique-local and
CGNAT addresses through; link-local (metadata), unspecified, multicast and reserved stay refused.
"""

import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2000
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$", re.IGNORECASE)


class UnsafeURL(ValueError):
    """The URL may not be used as a webhook target; the message says why (shown to the user)."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # IDNA-encoded name, or the IP literal (without brackets)
    port: int
    path: str  # path and query, at least "/"
    host_header: str  # host[:port] as sent in the Host header

    @property
    def is_ip_literal(self) -> bool:
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            return False
        return True


def parse(url: str) -> Target:
    """Check the URL's form (step 1). Raises UnsafeURL."""
    url = (url or "").strip()
    if not url:
        raise UnsafeURL("Enter the URL of your webhook receiver.")
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeURL(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    if any(ord(ch) < 33 or ch == "\\" for ch in url):
        raise UnsafeURL("The URL contains spaces, control characters or backslashes.")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeURL("Only http:// and https:// URLs can receive webhooks.")
    if "@" in parts.netloc:
        raise UnsafeURL("The URL must not contain a user name or password (user:password@).")
    if parts.fragment or url.endswith("#"):
        raise UnsafeURL("The URL must not contain a #fragment.")
    try:
        port = parts.port
        if port is None:
            port = 443 if scheme == "https" else 80
    except ValueError:
        raise UnsafeURL("The port in the URL is not a number between 0 and 65535.") from None
    if port == 0:
        raise UnsafeURL("Port 0 cannot receive webhooks.")
    raw_host = parts.hostname or ""
    if not raw_host:
        raise UnsafeURL("The URL has no host name.")
    host = _check_host(raw_host, bracketed=parts.netloc.split("@")[-1].startswith("["))
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    shown = f"[{host}]" if ":" in host else host
    default_port = 443 if scheme == "https" else 80
    host_header = shown if port == default_port else f"{shown}:{port}"
    return Target(scheme=scheme, host=host, port=port, path=path, host_header=host_header)


def _check_host(host: str, *, bracketed: bool) -> str:
    host = host.lower()
    if bracketed:
        if "%" in host:
            raise UnsafeURL("IPv6 zone identifiers (%…) are not allowed in webhook URLs.")
        try:
            return str(ipaddress.IPv6Address(host))
        except ValueError:
            raise UnsafeURL("The IPv6 address in the URL is not valid.") from None
    host = host.removesuffix(".")
    labels = host.split(".")
    if _NUMERIC_LABEL.match(labels[-1]):
        # WHATWG URL parsing (and inet_aton) reads such a host as an IPv4 address: only the
        # canonical dotted-quad form is accepted, everything else is a disguise.
        if len(labels) == 4 and all(
            label.isdigit() and (label == "0" or not label.startswith("0")) and int(label) <= 255
            for label in labels
        ):
            return host
        raise UnsafeURL(
            "Write an IPv4 address as four decimal numbers (like 203.0.113.10): decimal, octal, "
            "hexadecimal and shortened forms are refused."
        )
    try:
        encoded = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise UnsafeURL("The host name is not a valid domain name.") from None
    if len(encoded) > 253 or not all(_HOST_LABEL.match(label) for label in encoded.split(".")):
        raise UnsafeURL("The host name is not a valid domain name.")
    return encoded


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if int(address) >> 32 == 0 and int(address) > 1:  # deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(address))
    return None


def refusal(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why this address may not be a webhook target, or None if it may."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            reason = refusal(embedded, allow_private=allow_private)
            return f"{reason} (inside the IPv6 address {address})" if reason else None
    if address.is_unspecified:
        return f"{address} is the unspecified address"
    if address.is_multicast:
        return f"{address} is a multicast address"
    if address.is_link_local:
        return f"{address} is link-local (this includes the cloud metadata address 169.254.169.254)"
    if address.is_loopback:
        return None if allow_private else f"{address} is a loopback address"
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return None if allow_private else f"{address} is in the carrier-grade NAT range 100.64.0.0/10"
    if isinstance(address, ipaddress.IPv6Address) and address in ipaddress.ip_network("fc00::/7"):
        return None if allow_private else f"{address} is a unique-local IPv6 address"
    if address.is_private and _is_rfc1918(address):
        return None if allow_private else f"{address} is a private address"
    if address.is_reserved or not address.is_global:
        return f"{address} is a reserved or non-public address"
    return None


def _is_rfc1918(address: IPAddress) -> bool:
    return isinstance(address, ipaddress.IPv4Address) and any(
        address in ipaddress.ip_network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
    )


def resolve(target: Target) -> list[IPAddress]:
    """Every address the host resolves to, in resolver order (an IP literal: itself)."""
    if target.is_ip_literal:
        return [ipaddress.ip_address(target.host)]
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise UnsafeURL(f"The host name {target.host} could not be resolved.") from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        # An IPv6 sockaddr may carry a %zone in its text form on some resolvers.
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UnsafeURL(f"The host name {target.host} has no addresses.")
    return addresses


def check(url: str, *, allow_private: bool | None = None) -> tuple[Target, list[IPAddress]]:
    """Steps 1 and 2: the parsed URL and its checked addresses. Raises UnsafeURL."""
    if allow_private is None:
        allow_private = settings.WEBHOOKS_ALLOW_PRIVATE
    target = parse(url)
    addresses = resolve(target)
    for address in addresses:
        reason = refusal(address, allow_private=allow_private)
        if reason:
            raise UnsafeURL(f"Webhooks cannot be sent to {target.host}: {reason}.")
    return target, addresses
