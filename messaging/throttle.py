"""Brute-force throttle for the API's password-style credentials.

Guarded: a company user's email and password (Infobip `Authorization: Basic`, `POST
/auth/1/session`, SMSGatewayCenter `userId`/`password`) and OAuth client credentials (`POST
/auth/1/oauth2/token`, `client_id` + `client_secret`). API keys themselves are not: ~190 random
bits (and a checksum that refuses a mistyped key without a query) leave nothing to guess.

Failures are counted in the shared cache (Redis in production, so every web process sees the same
counts) under two keys: the username (case-folded, stored as a digest, never in clear) and the
client IP. Each count lives API_AUTH_FAILURE_WINDOW_SECONDS from its first failure (a fixed
window). Once either count reaches its limit (API_AUTH_FAILURES_PER_USERNAME,
API_AUTH_FAILURES_PER_IP) the credentials are refused *before* the password is checked — a right
password is refused too, so guessing on is pointless — until the window ends.

A success resets nothing: clearing the IP count on success would let an attacker with an account
of his own interleave a good login between guesses, and clearing the username count would let a
third party's activity reopen a lock. Only attempts with a password (or client secret) count;
malformed or incomplete credentials are refused anyway and guess nothing.

Trade-offs (documented in the README): someone who knows a user's email can keep that user's API
password credentials locked (never the panel login, nor API keys) for as long as he keeps failing;
that is the price of a per-username limit, which no IP rotation gets around. Concurrent attempts
that all pass the check before any failure is counted can overshoot a limit by the concurrency.
The refusal costs one cache round trip and no password hash.
"""

import hashlib

from django.conf import settings
from django.core.cache import cache

from messaging.catalogue import ApiError, Code

_PREFIX = "messaging:authfail"


class Throttled(ApiError):
    """Too many failed attempts: refused without checking the credentials. Dialects answer it
    with their "too many requests" shape (HTTP 429) and a Retry-After of `retry_after` seconds."""

    def __init__(self, code: Code, detail: str, *, retry_after: int, company_id: int | None = None) -> None:
        super().__init__(code, detail)
        self.retry_after = retry_after
        self.company_id = company_id


def _keys(username: str, ip: str) -> tuple[str, str]:
    folded = hashlib.sha256(username.strip().casefold().encode()).hexdigest()[:32]
    return f"{_PREFIX}:user:{folded}", f"{_PREFIX}:ip:{ip}"


def check(*, username: str, ip: str, code: Code, company_id: int | None = None) -> None:
    """Raise Throttled (with catalogue `code`) while the username or the IP is locked."""
    user_key, ip_key = _keys(username, ip)
    counts = cache.get_many([user_key, ip_key])
    if (
        counts.get(user_key, 0) >= settings.API_AUTH_FAILURES_PER_USERNAME
        or counts.get(ip_key, 0) >= settings.API_AUTH_FAILURES_PER_IP
    ):
        window = settings.API_AUTH_FAILURE_WINDOW_SECONDS
        raise Throttled(
            code,
            "Too many failed sign-in attempts for this username or from this IP: "
            f"refused without checking; try again in at most {window} seconds.",
            retry_after=window,
            company_id=company_id,
        )


def failed(*, username: str, ip: str) -> None:
    """Count one failed attempt against the username and the IP."""
    window = settings.API_AUTH_FAILURE_WINDOW_SECONDS
    for key in _keys(username, ip):
        cache.add(key, 0, timeout=window)  # starts the window; no-op while one runs
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr: start again
            cache.set(key, 1, timeout=window)
