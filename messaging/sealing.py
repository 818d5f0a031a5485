"""Sealing a text that holds a secret (an OTP SMS) so that the database never holds it in clear.

The delivery worker must hand the real text to the gateway, and it reads everything from the
Message row (an outbox: no secret may travel in a task payload). So the row keeps the masked text
in `Message.text` and the real one only sealed in `Message.sealed_text`: encrypted with a keystream
of HMAC-SHA256 blocks (key, random 16-byte nonce, counter) and authenticated with an HMAC tag, the
key derived from `SMS_SEAL_SECRET` (default: derived from SECRET_KEY). The worker unseals it in
memory just before the hand-over, and the outbox clears the column once the message is submitted
or expired. Standard-library only: HMAC-SHA256 as a PRF in counter mode is a sound stream cipher
for short texts with a fresh random nonce each time.
"""

import base64
import hashlib
import hmac
import secrets
from functools import cache

from django.conf import settings

NONCE_BYTES = 16
TAG_BYTES = 16


class SealError(ValueError):
    """The sealed text was altered, or sealed under another key."""


def _key(purpose: bytes) -> bytes:
    return _derive(getattr(settings, "SMS_SEAL_SECRET", "") or settings.SECRET_KEY, purpose)


@cache  # every send fingerprints its text: derive each key once per configured secret
def _derive(configured: str, purpose: bytes) -> bytes:
    return hmac.new(configured.encode(), b"sms-portal.seal." + purpose, hashlib.sha256).digest()


def _keystream(nonce: bytes, length: int) -> bytes:
    key = _key(b"stream")
    blocks = (length + 31) // 32
    stream = b"".join(
        hmac.new(key, nonce + block.to_bytes(4, "big"), hashlib.sha256).digest() for block in range(blocks)
    )
    return stream[:length]


def _tag(nonce: bytes, ciphertext: bytes) -> bytes:
    return hmac.new(_key(b"tag"), nonce + ciphertext, hashlib.sha256).digest()[:TAG_BYTES]


def fingerprint(text: str) -> str:
    """A keyed digest of a text that may carry a secret (the duplicate window's key): unlike a
    plain hash, a low-entropy code in it cannot be guessed back from the digest."""
    return hmac.new(_key(b"fingerprint"), text.encode(), hashlib.sha256).hexdigest()


def seal(text: str) -> str:
    plain = text.encode()
    nonce = secrets.token_bytes(NONCE_BYTES)
    ciphertext = bytes(a ^ b for a, b in zip(plain, _keystream(nonce, len(plain)), strict=True))
    return base64.urlsafe_b64encode(nonce + ciphertext + _tag(nonce, ciphertext)).decode()


def unseal(sealed: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(sealed.encode())
    except ValueError:
        raise SealError("not a sealed text") from None
    if len(raw) < NONCE_BYTES + TAG_BYTES:
        raise SealError("not a sealed text")
    nonce, ciphertext, tag = raw[:NONCE_BYTES], raw[NONCE_BYTES:-TAG_BYTES], raw[-TAG_BYTES:]
    if not hmac.compare_digest(tag, _tag(nonce, ciphertext)):
        raise SealError("the sealed text was altered or sealed under another key")
    return bytes(a ^ b for a, b in zip(ciphertext, _keystream(nonce, len(ciphertext)), strict=True)).decode()
