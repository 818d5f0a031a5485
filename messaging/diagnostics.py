"""The panel's debugging tools (seed 000 "How to debug if my API is not working?").

`ip_check` answers "would a request from IP X with key K be accepted, and why not?" by running the
API's own decision (`authkeys.auth.decide`, then `messaging.api.key_refusal` for the catalogue code
and the global blacklist) on the key's fresh grant, and explains each step. It changes nothing:
no Failed Logs row, no Recent IP, no "last used".
"""

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from accounts.models import Company
from authkeys import auth
from authkeys.auth import KeyGrant
from authkeys.ipaddrs import parse_client_ip
from authkeys.models import AuthKey, CompanyAllowedIP, KeyAllowedIP, Service
from messaging import api, blacklist
from messaging.catalogue import ApiError, Code


@dataclass(frozen=True)
class Step:
    label: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class IpCheck:
    authkey: AuthKey
    ip: str
    error: ApiError | None
    steps: list[Step] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.error is None


def _matching(networks: list[str], ip: str) -> str | None:
    address = ipaddress.ip_address(ip)
    for network in networks:
        if address in ipaddress.ip_network(network, strict=False):
            return network
    return None


def _ip_step(grant: KeyGrant, authkey: AuthKey, ip: str) -> Step:
    if not (grant.ip_security or grant.additional_security):
        return Step(
            "IP security",
            True,
            "IP security is off for this key and Additional Security is off: any IP is accepted.",
        )
    why = "IP security is on for this key" if grant.ip_security else "Additional Security is on"
    key_networks = list(KeyAllowedIP.objects.filter(authkey=authkey).values_list("network", flat=True))
    company_networks = list(
        CompanyAllowedIP.objects.filter(company_id=authkey.company_id).values_list("network", flat=True)
    )
    match = _matching(key_networks, ip)
    if match is not None:
        return Step("IP security", True, f"{why}; {ip} is whitelisted for this key ({match}).")
    match = _matching(company_networks, ip)
    if match is not None:
        return Step("IP security", True, f"{why}; {ip} is whitelisted for all keys of the company ({match}).")
    return Step(
        "IP security",
        False,
        f"{why}, and {ip} is in neither the key's whitelist ({len(key_networks)} entries) nor the "
        f"company's ({len(company_networks)} entries): error 418. Whitelist it on the key's IP page, "
        "from Recent IPs or from Failed Logs.",
    )


def ip_check(*, authkey: AuthKey, ip: str, now: datetime | None = None) -> IpCheck:
    """Explain the API's verdict for `authkey` called from `ip` (already a valid address)."""
    now = now or timezone.now()
    canonical = str(parse_client_ip(ip) or ip)
    grant = auth.grant_for_authkey(authkey.pk)
    if grant is None:
        missing = ApiError(Code.INVALID_AUTHKEY, "This key has no current secret.")
        return IpCheck(authkey, canonical, missing, [Step("Key", False, missing.detail)])
    error = api.key_refusal(auth.decide(grant, canonical, now), grant, canonical)
    company_active = grant.company_status == Company.Status.ACTIVE
    expired = grant.expires_at is not None and grant.expires_at <= now
    not_yet = grant.valid_from is not None and now < grant.valid_from
    if not_yet:
        assert grant.valid_from is not None
        expiry = f"The key is not valid before {grant.valid_from:%Y-%m-%d %H:%M} UTC."
    elif grant.expires_at is None:
        expiry = "The key does not expire."
    elif expired:
        expiry = f"The key expired at {grant.expires_at:%Y-%m-%d %H:%M} UTC."
    else:
        expiry = f"The key is valid until {grant.expires_at:%Y-%m-%d %H:%M} UTC."
    blocked = blacklist.is_blocked(canonical)
    if grant.all_services:
        services = "Its rule allows every service."
    else:
        names = sorted(Service.objects.filter(code__in=grant.services).values_list("name", flat=True))
        services = "Its rule allows: " + (", ".join(names) if names else "no service") + "."
    steps = [
        Step(
            "Company",
            company_active,
            "The company is active."
            if company_active
            else f"The company's status is “{grant.company_status}”: every key is refused.",
        ),
        Step(
            "Key enabled",
            grant.enabled,
            "The key is enabled." if grant.enabled else "The key is disabled: enable it on the Authkey page.",
        ),
        Step("Expiry", not (expired or not_yet), expiry),
        _ip_step(grant, authkey, canonical),
        Step(
            "Global blacklist",
            not blocked,
            "The IP is not on the provider's blacklist."
            if not blocked
            else "The IP is on the provider's global blacklist (error 208): contact support.",
        ),
        Step("Services", True, services),
    ]
    return IpCheck(authkey, canonical, error, steps)
