"""Endpoint secrets and the two signatures on every webhook request.

Secret. 32 bytes derived as HMAC-SHA256(K, "<endpoint id>:<salt>"), K = SHA-256 of
"webhooks.secret:" + WEBHOOK_SECRET_KEY (default SECRET_KEY); the salt is 16 random bytes stored
in the EndpointSecret row. Shown to the customer once, in the Standard Webhooks form
`whsec_<base64 of the 32 bytes>` (50 characters).

Why 32 bytes and not more (GatewayAPI's "note on key length"): HMAC-SHA256 yields 256 bits, so a
256-bit key already makes brute force the hardest possible attack; HMAC hashes any key longer than
its 64-byte block down to 32 bytes anyway, and Standard Webhooks verifiers accept 24 to 64 bytes.
A longer key adds no strength and only costs every delivery.

Signatures (computed over the exact bytes sent as the body):

    Signature: v1=<hex HMAC-SHA256(key = the whole `whsec_…` string as UTF-8, msg = raw body)>
        GatewayAPI's scheme: the receiver uses the secret exactly as shown. The timestamp is the
        envelope's `timestamp` field (inside the signed body).
    webhook-id: <event id>          (the same on every retry of one event: the idempotency key)
    webhook-timestamp: <Unix seconds of this attempt>
    webhook-signature: v1,<base64 HMAC-SHA256(key = base64-decoded part after `whsec_`,
                                              msg = "<webhook-id>.<webhook-timestamp>.<raw body>")>
        Standard Webhooks.

During a secret rotation's grace period both headers carry one entry per valid secret, newest
first, separated by a space (`v1=<new> v1=<old>`, `v1,<new> v1,<old>`); a receiver accepts the
request if any entry matches.
"""

import base64
import hashlib
import hmac
import secrets
from functools import cache

from django.conf import settings

PREFIX = "whsec_"
KEY_BYTES = 32


@cache
def _master_key() -> bytes:
    configured = getattr(settings, "WEBHOOK_SECRET_KEY", "") or settings.SECRET_KEY
    return hashlib.sha256(b"webhooks.secret:" + configured.encode()).digest()


def new_salt() -> str:
    return secrets.token_hex(16)


def derive_key(endpoint_id: int, salt: str) -> bytes:
    """The 32 secret bytes of one EndpointSecret (never stored)."""
    return hmac.new(_master_key(), f"{endpoint_id}:{salt}".encode(), hashlib.sha256).digest()


def secret_text(key: bytes) -> str:
    """The form shown to the customer: `whsec_` + base64 (Standard Webhooks)."""
    return PREFIX + base64.b64encode(key).decode("ascii")


def gatewayapi_signature(secret: str, body: bytes) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def standard_signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")


def headers(keys: list[bytes], *, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The signature headers of one request, signed with every key (newest first)."""
    if not keys:
        raise ValueError("an endpoint always has a current secret")
    return {
        "Signature": " ".join(gatewayapi_signature(secret_text(key), body) for key in keys),
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(standard_signature(key, msg_id, timestamp, body) for key in keys),
    }
