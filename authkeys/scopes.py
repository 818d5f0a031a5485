"""API scopes (Infobip's `product:resource:action` names, seed 003) as a view of the Service
catalogue behind Rules: a rule and a scope set are two views of one permission model.

- Every service has one canonical scope; reading a key's scopes gives the canonical scope of each
  service its rule allows (every service for the built-in "All services" rule), sorted.
- Writing scopes accepts the canonical names and Infobip's broader ones, each expanding to a set
  of services; the key then gets a rule allowing exactly the union (authkeys.services
  .rule_for_services finds or creates it). So scopes → services → scopes gives the canonical
  spelling of the same permission, and services → scopes → services is the identity.

Infobip's own names are used where Infobip has one (sms:message:send, message:send, sms:manage,
sms:logs:read, 2fa:manage, 2fa:pin:send, account-management:manage); `sms:flow:send` (MSG91 flows)
and `balance:read` follow Infobip's patterns for the services Infobip has no scope for (Infobip
reads the balance with account-management:manage, which here means managing keys).
"""

from collections.abc import Iterable

from authkeys import services_catalogue as sc

# service code → its canonical scope
CANONICAL: dict[str, str] = {
    sc.SMS_SEND: "sms:message:send",
    sc.SMS_FLOW: "sms:flow:send",
    sc.OTP: "2fa:pin:send",
    sc.REPORTS: "sms:logs:read",
    sc.BALANCE: "balance:read",
    sc.KEY_MANAGEMENT: "account-management:manage",
}

# every accepted scope → the services it grants
SCOPES: dict[str, frozenset[str]] = {
    **{scope: frozenset({code}) for code, scope in CANONICAL.items()},
    # Infobip: any message on any channel; here SMS and flows (templated SMS).
    "message:send": frozenset({sc.SMS_SEND, sc.SMS_FLOW}),
    # Infobip: every SMS API endpoint (send, reports, logs).
    "sms:manage": frozenset({sc.SMS_SEND, sc.SMS_FLOW, sc.REPORTS}),
    # Infobip: every 2FA endpoint.
    "2fa:manage": frozenset({sc.OTP}),
}


class UnknownScope(ValueError):
    def __init__(self, index: int, scope: str) -> None:
        super().__init__(scope)
        self.index = index
        self.scope = scope


def services_for(scopes: Iterable[str]) -> frozenset[str]:
    """Scope names → the service codes they grant. Raises UnknownScope for the first unknown one
    (index in the input, for the caller's error message)."""
    granted: set[str] = set()
    for index, scope in enumerate(scopes):
        services = SCOPES.get(scope)
        if services is None:
            raise UnknownScope(index, scope)
        granted |= services
    return frozenset(granted)


def scopes_for(services: Iterable[str]) -> list[str]:
    """Service codes → their canonical scopes, sorted (codes outside the catalogue are ignored)."""
    return sorted(CANONICAL[code] for code in set(services) if code in CANONICAL)


def known_scopes() -> list[str]:
    return sorted(SCOPES)
