"""The invisible-character table behind "text must contain a visible character" matches the
Unicode database of this Python, and the published pattern says the same as the validator."""

from __future__ import annotations

import re
import unicodedata

from moderation.api.schemas import INVISIBLE_RANGES, TEXT_PATTERN, _not_blank

# Format characters that do render: Arabic and Syriac number and end-of-ayah marks, Kaithi
# number signs (they prefix digits and show as marks).
VISIBLE_FORMAT = {0x0600, 0x0601, 0x0602, 0x0603, 0x0604, 0x0605, 0x06DD, 0x070F}
VISIBLE_FORMAT |= {0x0890, 0x0891, 0x08E2, 0x110BD, 0x110CD}
INVISIBLE_CATEGORIES = {"Cc", "Cf", "Zs", "Zl", "Zp"}


def invisible(c: int) -> bool:
    return any(lo <= c <= hi for lo, hi in INVISIBLE_RANGES)


def test_every_control_format_and_space_character_is_in_the_table() -> None:
    missing = [
        hex(c)
        for c in range(0x110000)
        if not 0xD800 <= c <= 0xDFFF
        and (unicodedata.category(chr(c)) in INVISIBLE_CATEGORIES or chr(c).isspace())
        and c not in VISIBLE_FORMAT
        and not invisible(c)
    ]
    assert missing == []


def test_the_table_holds_no_letter_digit_or_symbol_but_the_known_fillers() -> None:
    fillers = {0x115F, 0x1160, 0x3164, 0xFFA0, 0x2800, 0x034F, 0x180E}
    fillers |= set(range(0xFE00, 0xFE10)) | set(range(0xE0100, 0xE01F0))
    odd = [
        hex(c)
        for lo, hi in INVISIBLE_RANGES
        for c in range(lo, hi + 1)
        if unicodedata.category(chr(c)) not in INVISIBLE_CATEGORIES and c not in fillers
    ]
    assert odd == []


def test_pattern_and_validator_agree() -> None:
    pattern = re.compile(TEXT_PATTERN)
    for text in ["\u200b", "\u3164 \u2800", "\U000e0041", "a", "\u200ba", "語", "😀", "؀x"]:
        try:
            _not_blank(text)
            accepted = True
        except ValueError:
            accepted = False
        assert accepted == bool(pattern.search(text)), text
