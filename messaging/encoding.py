"""SMS text encoding and segment counting, as SMS providers (MSG91, Infobip, GatewayAPI) count it.

A message goes out as GSM-7 when every character is in the GSM 03.38 default alphabet (basic table
or extension table, 3GPP TS 23.038), otherwise as UCS-2 (UTF-16).

* GSM-7: basic characters cost 1 septet, extension characters 2 (the escape 0x1B plus the
  character). 160 septets fit one SMS; a concatenated SMS carries 153 per part (the user data
  header takes the rest).
* UCS-2: every UTF-16 code unit costs 1, so characters outside the BMP (most emoji) cost 2.
  70 units fit one SMS; a concatenated SMS carries 67 per part.

Parts are filled character by character: a part never ends in the middle of a GSM-7 escape
sequence or a UTF-16 surrogate pair, so a multipart message can need more parts than
``ceil(units / per_part)``.

No national language shift tables: Turkish, Spanish, Portuguese and Indian-language texts that
need them are counted as UCS-2, which is what providers bill unless the shift tables are enabled.

Dependency-free and cheap: plain ASCII text takes a fast path (an O(1) ``isascii()`` and one set
scan), and parts are only filled one by one for multipart texts that contain 2-unit characters,
visiting just those characters.
"""

import re
from dataclasses import dataclass
from typing import Literal

type Encoding = Literal["gsm7", "ucs2"]

# The 128 positions of the basic table minus 0x1B (the escape to the extension table).
GSM7_BASIC: frozenset[str] = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)

# Reachable through the escape 0x1B; each costs 2 septets.
GSM7_EXTENSION: frozenset[str] = frozenset("\f^{}\\[~]|€")

_GSM7: frozenset[str] = GSM7_BASIC | GSM7_EXTENSION

# The ASCII characters that are not single-septet GSM-7: the control characters other than
# line feed and carriage return, DEL, the backtick (not GSM-7 at all) and ^ { } \ [ ~ ] |
# (extension table, 2 septets). ASCII text without any of them is all 1-septet GSM-7.
_ASCII_NOT_GSM7_BASIC: frozenset[str] = frozenset(chr(code) for code in range(128)) - GSM7_BASIC


@dataclass(frozen=True)
class Segmentation:
    encoding: Encoding
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    parts: int
    per_part_limit: int  # the single-SMS limit when parts == 1, the multipart limit otherwise
    remaining_in_last_part: int


@dataclass(frozen=True)
class _Scheme:
    encoding: Encoding
    single_limit: int
    multipart_limit: int
    two_unit_char: re.Pattern[str]


_GSM7_SCHEME = _Scheme(
    "gsm7", 160, 153, two_unit_char=re.compile("[" + re.escape("".join(sorted(GSM7_EXTENSION))) + "]")
)
_UCS2_SCHEME = _Scheme("ucs2", 70, 67, two_unit_char=re.compile("[\U00010000-\U0010ffff]"))  # surrogate pairs

GSM7_SINGLE_LIMIT = _GSM7_SCHEME.single_limit
GSM7_MULTIPART_LIMIT = _GSM7_SCHEME.multipart_limit
UCS2_SINGLE_LIMIT = _UCS2_SCHEME.single_limit
UCS2_MULTIPART_LIMIT = _UCS2_SCHEME.multipart_limit


def segment(text: str, *, force_unicode: bool = False) -> Segmentation:
    """How ``text`` is encoded and how many SMS parts it takes. Empty text is 1 part of 0 units."""
    if not force_unicode:
        if text.isascii() and _ASCII_NOT_GSM7_BASIC.isdisjoint(text):
            return _segmentation(_GSM7_SCHEME, text, len(text))
        if _GSM7.issuperset(text):
            escapes = sum(text.count(char) for char in GSM7_EXTENSION)
            return _segmentation(_GSM7_SCHEME, text, len(text) + escapes)
    # "surrogatepass": a lone surrogate (which no valid text has) counts as the 1 unit it is.
    return _segmentation(_UCS2_SCHEME, text, len(text.encode("utf-16-le", "surrogatepass")) // 2)


def part_count(text: str, *, force_unicode: bool = False) -> int:
    return segment(text, force_unicode=force_unicode).parts


def _segmentation(scheme: _Scheme, text: str, units: int) -> Segmentation:
    if units <= scheme.single_limit:
        return Segmentation(scheme.encoding, units, 1, scheme.single_limit, scheme.single_limit - units)
    limit = scheme.multipart_limit
    if units == len(text):  # every character costs 1 unit, so a part can end anywhere
        parts, used = -(-units // limit), (units - 1) % limit + 1
    else:
        parts, used = _fill_parts(text, scheme.two_unit_char, limit)
    return Segmentation(scheme.encoding, units, parts, limit, limit - used)


def _fill_parts(text: str, two_unit_char: re.Pattern[str], limit: int) -> tuple[int, int]:
    """Fill parts of ``limit`` units in order: (number of parts, units used in the last one).

    A 2-unit character (GSM-7 escape sequence, UTF-16 surrogate pair) must stay in one part: when
    it does not fit in the current part it starts the next one. Only those characters are
    visited; the 1-unit characters between them are added in bulk.
    """
    parts, used, position = 1, 0, 0
    for match in two_unit_char.finditer(text):
        parts, used = _add_one_unit_chars(parts, used, match.start() - position, limit)
        if used + 2 > limit:
            parts, used = parts + 1, 0
        used += 2
        position = match.end()
    return _add_one_unit_chars(parts, used, len(text) - position, limit)


def _add_one_unit_chars(parts: int, used: int, count: int, limit: int) -> tuple[int, int]:
    used += count
    if used > limit:
        overflowing_parts = (used - 1) // limit
        parts, used = parts + overflowing_parts, used - overflowing_parts * limit
    return parts, used
