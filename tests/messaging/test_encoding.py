import random
import string

import pytest

from messaging import encoding
from messaging.encoding import GSM7_BASIC, GSM7_EXTENSION, Encoding, Segmentation, part_count, segment

EMOJI = "\U0001f600"  # 😀, outside the BMP: a surrogate pair in UTF-16
HINDI = "नमस्ते, आपका OTP 123456 है"


def reference_segment(text: str, *, force_unicode: bool = False) -> Segmentation:
    """The slow, obvious model: cost every character, then fill parts one character at a time."""
    encoding_name: Encoding
    if not force_unicode and all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text):
        encoding_name, single, multi = "gsm7", 160, 153
        costs = [2 if char in GSM7_EXTENSION else 1 for char in text]
    else:
        encoding_name, single, multi = "ucs2", 70, 67
        costs = [2 if ord(char) > 0xFFFF else 1 for char in text]
    units = sum(costs)
    if units <= single:
        return Segmentation(encoding_name, units, 1, single, single - units)
    parts, used = 1, 0
    for char_cost in costs:
        if used + char_cost > multi:
            parts, used = parts + 1, 0
        used += char_cost
    return Segmentation(encoding_name, units, parts, multi, multi - used)


def test_tables_match_3gpp_ts_23_038() -> None:
    assert len(GSM7_BASIC) == 127  # 128 positions minus the escape 0x1B
    assert len(GSM7_EXTENSION) == 10
    assert not GSM7_BASIC & GSM7_EXTENSION
    assert "\x1b" not in GSM7_BASIC | GSM7_EXTENSION
    printable_ascii = {chr(code) for code in range(0x20, 0x7F)}
    assert printable_ascii - GSM7_BASIC == set("`^{}\\[~]|")
    assert printable_ascii - GSM7_BASIC - GSM7_EXTENSION == {"`"}


@pytest.mark.parametrize(
    ("text", "encoding_name", "units", "parts", "per_part_limit", "remaining"),
    [
        ("", "gsm7", 0, 1, 160, 160),
        ("a" * 160, "gsm7", 160, 1, 160, 0),
        ("a" * 161, "gsm7", 161, 2, 153, 145),
        ("a" * 306, "gsm7", 306, 2, 153, 0),
        ("a" * 307, "gsm7", 307, 3, 153, 152),
        ("é" * 160, "gsm7", 160, 1, 160, 0),
        ("é" * 161, "gsm7", 161, 2, 153, 145),
        ("ç" * 70, "ucs2", 70, 1, 70, 0),
        ("ç" * 71, "ucs2", 71, 2, 67, 63),
        ("ç" * 134, "ucs2", 134, 2, 67, 0),
        ("ç" * 135, "ucs2", 135, 3, 67, 66),
    ],
)
def test_part_boundaries(
    text: str, encoding_name: Encoding, units: int, parts: int, per_part_limit: int, remaining: int
) -> None:
    assert segment(text) == Segmentation(encoding_name, units, parts, per_part_limit, remaining)
    assert part_count(text) == parts


@pytest.mark.parametrize(
    ("text", "units", "parts"),
    [
        ("€", 2, 1),
        ("€" * 80, 160, 1),
        ("€" * 81, 162, 2),
        ("a" * 159 + "{", 161, 2),
        ("a" * 158 + "{", 160, 1),
        ("\f^{}\\[~]|€", 20, 1),
    ],
)
def test_extension_characters_cost_two_septets(text: str, units: int, parts: int) -> None:
    result = segment(text)
    assert result.encoding == "gsm7"
    assert (result.units, result.parts) == (units, parts)


def test_escape_sequence_is_not_split_across_parts() -> None:
    # 154 septets fit one SMS (160): no concatenation, so no part boundary to respect.
    assert segment("a" * 152 + "€") == Segmentation("gsm7", 154, 1, 160, 6)
    assert segment("a" * 152 + "€" + "a" * 6) == Segmentation("gsm7", 160, 1, 160, 0)
    # 161 septets: part 1 takes the 152 "a" (its 153rd septet stays empty, the € does not fit),
    # part 2 holds the whole € (2 septets) plus 7 "a". Splitting the € would leave 145, not 144.
    assert segment("a" * 152 + "€" + "a" * 7) == Segmentation("gsm7", 161, 2, 153, 153 - 9)


def test_escape_sequence_moved_to_next_part_can_add_a_part() -> None:
    # 306 septets would be 2 parts by arithmetic; the € starts part 2, pushing one "a" to part 3.
    result = segment("a" * 152 + "€" + "a" * 152)
    assert result == Segmentation("gsm7", 306, 3, 153, 152)


@pytest.mark.parametrize(
    ("text", "units", "parts", "remaining"),
    [
        (EMOJI, 2, 1, 68),
        (EMOJI * 35, 70, 1, 0),
        (EMOJI * 36, 72, 2, 67 - 6),  # 33 pairs fill 66 of part 1, the last 3 go to part 2
        ("a" * 68 + EMOJI, 70, 1, 0),
        ("a" * 66 + EMOJI + "a" * 5, 73, 2, 60),  # the pair is not split: it starts part 2
        ("a" * 66 + EMOJI + "a" * 66, 134, 3, 66),  # arithmetic would say 2
    ],
)
def test_surrogate_pairs_cost_two_units_and_are_not_split(
    text: str, units: int, parts: int, remaining: int
) -> None:
    assert segment(text) == Segmentation("ucs2", units, parts, 67 if parts > 1 else 70, remaining)


@pytest.mark.parametrize(
    ("text", "units", "parts"),
    [
        ("", 0, 1),
        ("Hello", 5, 1),
        ("a" * 70, 70, 1),
        ("a" * 71, 71, 2),
        ("€", 1, 1),  # one BMP code unit in UCS-2
    ],
)
def test_force_unicode(text: str, units: int, parts: int) -> None:
    result = segment(text, force_unicode=True)
    assert (result.encoding, result.units, result.parts) == ("ucs2", units, parts)
    assert part_count(text, force_unicode=True) == parts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ça va? Café", "gsm7"),
        ("é", "gsm7"),
        ("Ç", "gsm7"),
        ("ç", "ucs2"),  # lowercase c-cedilla is not in the basic table
        ("Français: ça", "ucs2"),
        ("`", "ucs2"),
        ("run `ls`", "ucs2"),
        ("\t", "ucs2"),
        ("\x00", "ucs2"),
        ("\x1b", "ucs2"),  # the escape itself is not a character of the alphabet
        ("\x7f", "ucs2"),
        ("\f", "gsm7"),  # form feed is in the extension table
        ("line 1\nline 2\r\nline 3", "gsm7"),
        ("ΔΦΓΛΩΠΨΣΘΞ Øø Åå Ææ ß ¡¿ §¤ £¥$@ _", "gsm7"),
        ("Grüße aus Köln", "gsm7"),
        ("ÿ", "ucs2"),
        ("á", "ucs2"),  # only à is in the basic table
        (HINDI, "ucs2"),
        ("Hi " + EMOJI, "ucs2"),
        ("price 5€ ~ [ok] {x} a|b a^b c:\\", "gsm7"),
    ],
)
def test_encoding_choice(text: str, expected: str) -> None:
    assert segment(text).encoding == expected


def test_newline_and_carriage_return_are_one_septet_each() -> None:
    assert segment("a\r\nb").units == 4


def test_hindi_counts_utf16_units() -> None:
    result = segment(HINDI)
    assert (result.encoding, result.units, result.parts) == ("ucs2", len(HINDI), 1)
    assert segment(HINDI * 3).parts == 2  # 78 units


def test_ascii_fast_path_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    text = ("Your OTP is 123456. Do not share it. -ACME " * 4)[:150]
    # With the general GSM-7 table emptied, only the ASCII fast path can still answer GSM-7.
    monkeypatch.setattr(encoding, "_GSM7", frozenset())
    expected = Segmentation("gsm7", 150, 1, 160, 10)
    results = {segment(text) for _ in range(10_000)}
    assert results == {expected}


@pytest.mark.parametrize("seed", range(5))
def test_matches_reference_model_on_random_texts(seed: int) -> None:
    rng = random.Random(seed)
    alphabets = [
        string.ascii_letters + " .,",
        string.ascii_letters + "€{}[]",
        "".join(sorted(GSM7_BASIC | GSM7_EXTENSION)),
        string.ascii_letters + EMOJI + "ç",
        "aé€" + EMOJI + "\U0001f44d",
    ]
    for _ in range(400):
        alphabet = rng.choice(alphabets)
        text = "".join(rng.choices(alphabet, k=rng.randrange(0, 500)))
        force_unicode = rng.random() < 0.2
        assert segment(text, force_unicode=force_unicode) == reference_segment(
            text, force_unicode=force_unicode
        ), text
