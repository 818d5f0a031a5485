"""API key format: `smsp_` + 32 random base62 characters + a 6-character base62 CRC32 checksum.

32 base62 characters carry ~190 bits from `secrets`. The checksum lets secret scanners and the
API reject a mistyped or made-up key without touching the database. The database stores only a
keyed digest (HMAC-SHA256) and a short display prefix.
"""

import hashlib
import hmac
import secrets
import string
import zlib
from functools import cache

from django.conf import settings

PREFIX = "smsp_"
BODY_LENGTH = 32
CHECKSUM_LENGTH = 6
KEY_LENGTH = len(PREFIX) + BODY_LENGTH + CHECKSUM_LENGTH
DISPLAY_PREFIX_LENGTH = len(PREFIX) + 6
_ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
_ALPHABET_SET = frozenset(_ALPHABET)


def _base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, remainder = divmod(number, 62)
        chars.append(_ALPHABET[remainder])
    return "".join(reversed(chars))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode("ascii")), CHECKSUM_LENGTH)


def generate_key() -> str:
    body = "".join(secrets.choice(_ALPHABET) for _ in range(BODY_LENGTH))
    return f"{PREFIX}{body}{_checksum(body)}"


def is_well_formed(presented: str) -> bool:
    """Shape and checksum only: no database, constant work for any input."""
    if len(presented) != KEY_LENGTH or not presented.startswith(PREFIX):
        return False
    rest = presented[len(PREFIX) :]
    if not _ALPHABET_SET.issuperset(rest):
        return False
    body, checksum = rest[:BODY_LENGTH], rest[BODY_LENGTH:]
    return hmac.compare_digest(_checksum(body), checksum)


@cache
def _digest_secret() -> bytes:
    # A dedicated secret so that rotating SECRET_KEY does not invalidate every API key.
    configured = getattr(settings, "AUTHKEY_DIGEST_SECRET", "") or settings.SECRET_KEY
    return hashlib.sha256(b"authkeys.digest:" + configured.encode()).digest()


def digest(presented: str) -> str:
    return hmac.new(_digest_secret(), presented.encode(), hashlib.sha256).hexdigest()


def display_prefix(key: str) -> str:
    return key[:DISPLAY_PREFIX_LENGTH]
