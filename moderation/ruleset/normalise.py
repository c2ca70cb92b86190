"""Text normalisation for word matching, built to defeat the usual evasions.

A comment is reduced to a list of *words* (tokens) in a canonical alphabet:

1. Unicode NFKD (compatibility forms: fullwidth, math bold, ligatures, circled letters),
   combining marks and format characters (zero-width spaces and joiners, soft hyphen,
   bidi controls) dropped, case folded, confusable Cyrillic/Greek/IPA letters mapped to
   the Latin letter they imitate.
2. Tokens are runs of letters, digits and the symbols leetspeak uses (``@ $ ! | + €``).
   Runs of at least three single-character tokens separated by one to three separator
   characters (``f u c k``, ``f.u.c.k``, ``f-u-c-k``) are joined into one token.
3. In tokens that contain at least one letter, leetspeak symbols and digits become
   letters (``sh1t``); a token made only of digits (``2024``, ``1488``) is kept as is.
   ``!`` and ``+`` at the edges of a token are punctuation, not letters.
4. ``l`` is folded into ``i`` (``1``, ``!`` and ``|`` read as either), and runs of a
   repeated character are collapsed; the run lengths are kept so that a pattern with a
   double letter (``ass``) is not found in a word with a single one (``as``).

Matching then only ever compares *whole* canonical words or phrases, which is what
keeps "Scunthorpe", "assessment", "cocktail", "classic" and "Essex" clean. Offsets of
every token into the original text are computed lazily, only for comments that match,
because the offset-tracking path is several times slower than the plain one.
"""

from __future__ import annotations

import operator
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Final

# Lookalikes seen in evasion attempts. Keys are compared before case folding, so upper
# case forms whose lower case no longer looks Latin (Cyrillic В, Greek Η) map correctly.
_CONFUSABLES: Final[dict[str, str]] = {
    # Cyrillic
    "а": "a", "А": "a", "в": "b", "В": "b", "Ь": "b", "ь": "b", "с": "c", "С": "c",
    "ԁ": "d", "е": "e", "Е": "e", "ё": "e", "Ё": "e", "є": "e", "Є": "e", "һ": "h",
    "Н": "h", "н": "h", "і": "i", "І": "i", "ї": "i", "Ї": "i", "ј": "j", "Ј": "j",
    "к": "k", "К": "k", "ӏ": "l", "Ӏ": "l", "м": "m", "М": "m", "п": "n", "о": "o",
    "О": "o", "р": "p", "Р": "p", "ԛ": "q", "Ԛ": "q", "г": "r", "ѕ": "s", "Ѕ": "s",
    "т": "t", "Т": "t", "у": "y", "У": "y", "ү": "y", "Ү": "y", "ԝ": "w", "Ԝ": "w",
    "х": "x", "Х": "x", "з": "3", "З": "3", "б": "6",
    # Greek
    "α": "a", "Α": "a", "β": "b", "Β": "b", "ϲ": "c", "Ϲ": "c", "ε": "e", "Ε": "e",
    "Η": "h", "η": "n", "ι": "i", "Ι": "i", "ϳ": "j", "κ": "k", "Κ": "k", "Μ": "m",
    "ν": "v", "Ν": "n", "ο": "o", "Ο": "o", "ρ": "p", "Ρ": "p", "τ": "t", "Τ": "t",
    "υ": "u", "Υ": "y", "χ": "x", "Χ": "x", "ω": "w", "Ζ": "z", "σ": "o", "ς": "c",
    "μ": "u", "γ": "y",
    # Latin letters without a decomposition, IPA and small capitals
    "ı": "i", "ł": "l", "Ł": "l", "ø": "o", "Ø": "o", "đ": "d", "Đ": "d", "ħ": "h",
    "ŧ": "t", "ɡ": "g", "ɑ": "a", "ɪ": "i", "ʏ": "y", "ᴀ": "a", "ʙ": "b", "ᴄ": "c",
    "ᴅ": "d", "ᴇ": "e", "ɢ": "g", "ʜ": "h", "ᴊ": "j", "ᴋ": "k", "ʟ": "l", "ᴍ": "m",
    "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ʀ": "r", "ꜱ": "s", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v",
    "ᴡ": "w", "ᴢ": "z", "ß": "ss", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe",
    "ð": "d", "Ð": "d", "ƒ": "f", "ſ": "s", "ꞵ": "b", "ɩ": "i", "ᥒ": "n",
}  # fmt: skip

_LEET: Final = str.maketrans(
    {
        "0": "o", "1": "i", "2": "z", "3": "e", "4": "a", "5": "s", "6": "g", "7": "t",
        "8": "b", "9": "g", "@": "a", "$": "s", "!": "i", "|": "i", "+": "t", "€": "e",
    }
)  # fmt: skip
# `l` and `i` are both written `1`, `!` or `|`; folding them keeps `ki11` equal to `kill`.
_FOLD: Final = str.maketrans({"l": "i"})

_TOKEN_CHARS = r"[\w@$!|+€]"
# `_` counts as part of a token and is then deleted, so `f_u_c_k` and `sh_it` read whole.
_TOKEN_RE: Final = re.compile(_TOKEN_CHARS + "+")
# One spaced-out character; trailing `!` is allowed so `f.u.c.k!!!` still joins.
_UNIT = rf"{_TOKEN_CHARS}!*(?!{_TOKEN_CHARS})"
_SPACED_RE: Final = re.compile(
    rf"(?<!{_TOKEN_CHARS}){_UNIT}(?:[\s.\-*,/\\·•~'\"^:;=]{{1,3}}{_UNIT}){{2,}}"
)
_NOT_TOKEN_RE: Final = re.compile(r"[^\w@$!|+€]+")
_SPECIAL_RE: Final = re.compile(r"[0-9_@$!|+€]")
_ALPHA_RE: Final = re.compile(r"[^\W\d_]")
_COLLAPSE_RE: Final = re.compile(r"(.)\1+")
_RUN_RE: Final = re.compile(r"(.)\1*")
_EDGE: Final = "!+_"
_first_group: Final = operator.itemgetter(1)


class _Table(dict[int, int | str | None]):
    """str.translate table computed per code point on first use, then cached."""

    def __missing__(self, code: int) -> int | str | None:
        ch = chr(code)
        value: int | str | None
        if ch in _CONFUSABLES:
            value = _CONFUSABLES[ch]
        elif unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            value = None
        else:
            value = code
        self[code] = value
        return value


_TABLE: Final = _Table()


def prepare(text: str) -> str:
    """Case-folded text with lookalikes mapped and invisible characters removed."""
    if text.isascii():
        # ASCII lower() keeps every offset, which is what lets spans skip a map.
        return text.lower()
    return unicodedata.normalize("NFKD", text).translate(_TABLE).casefold().translate(_TABLE)


def prepare_with_offsets(text: str) -> tuple[str, list[int]]:
    """`prepare(text)` and, for each of its characters, the index of the original one."""
    if text.isascii():
        return text.lower(), list(range(len(text)))
    parts: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        piece = unicodedata.normalize("NFKD", ch).translate(_TABLE).casefold().translate(_TABLE)
        parts.append(piece)
        origin.extend([i] * len(piece))
    return "".join(parts), origin


def _join_spaced(match: re.Match[str]) -> str:
    return _NOT_TOKEN_RE.sub("", match.group())


def _clean(token: str) -> str:
    token = token.strip(_EDGE).replace("_", "")
    if _ALPHA_RE.search(token):
        return token.translate(_LEET)
    return token


# Same tokens as _TOKEN_RE for ASCII text: every byte that is not a token character
# becomes a space, then split(). About five times faster than findall.
_ASCII_TOKEN_BYTES = frozenset(
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@$!|+"
)
_ASCII_SPLIT: Final = bytes(b if b in _ASCII_TOKEN_BYTES else 32 for b in range(256))


def _tokens(prepared: str) -> list[str]:
    if prepared.isascii():
        return prepared.encode("ascii").translate(_ASCII_SPLIT).decode("ascii").split()
    found: list[str] = _TOKEN_RE.findall(prepared)
    return found


def _may_join(prepared: str, tokens: list[str]) -> bool:
    """Joining needs three single-character tokens; counting them is much cheaper than
    running the joining pattern over every comment."""
    if "!" not in prepared:
        return list(map(len, tokens)).count(1) >= 3
    return sum(len(t.rstrip("!")) == 1 for t in tokens) >= 3


def _raw_tokens(prepared: str) -> tuple[str, list[str]]:
    tokens = _tokens(prepared)
    if _may_join(prepared, tokens) and _SPACED_RE.search(prepared):
        prepared = _SPACED_RE.sub(_join_spaced, prepared)
        tokens = _tokens(prepared)
    return prepared, tokens


def words(prepared: str) -> list[str]:
    """Canonical (folded, not collapsed) words of a prepared text."""
    joined = joined_words(prepared)
    return joined.split(" ") if joined else []


def joined_words(prepared: str) -> str:
    prepared, tokens = _raw_tokens(prepared)
    if _SPECIAL_RE.search(prepared):
        tokens = [t for t in map(_clean, tokens) if t]
    return " ".join(tokens).translate(_FOLD)


def word_spans(prepared: str) -> list[tuple[int, int]]:
    """Offsets into `prepared` of each word `words(prepared)` returns, in order."""
    spans: list[tuple[int, int]] = []
    joins = _may_join(prepared, _tokens(prepared))
    regions = [m.span() for m in _SPACED_RE.finditer(prepared)] if joins else []
    region_i = 0
    for m in _TOKEN_RE.finditer(prepared):
        start = m.start()
        while region_i < len(regions) and regions[region_i][1] <= start:
            region_i += 1
        if region_i < len(regions) and regions[region_i][0] <= start:
            r_start, r_end = regions[region_i]
            # the whole joined region is one word, reported at its first token
            if start == r_start and _clean(_NOT_TOKEN_RE.sub("", prepared[r_start:r_end])):
                spans.append((r_start, r_end))
            continue
        raw = m.group()
        stripped = raw.strip(_EDGE)
        if stripped and _clean(raw):
            lead = len(raw) - len(raw.lstrip(_EDGE))
            spans.append((start + lead, start + lead + len(stripped)))
    return spans


def collapse(joined: str) -> str:
    return _COLLAPSE_RE.sub(_first_group, joined)


def runs(joined: str) -> list[int]:
    """Length of each run of a repeated character, in order."""
    return [m.end() - m.start() for m in _RUN_RE.finditer(joined)]


@dataclass
class Normalised:
    """A comment's canonical words, with offsets into the original text on demand."""

    text: str
    prepared: str
    words: list[str]
    # " w1 w2 ... " with repeats collapsed: spaces at both ends make every pattern a
    # whole-word pattern, so the automaton never reports a match inside a word.
    collapsed: str
    _spans: list[tuple[int, int]] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, text: str) -> Normalised:
        prepared = prepare(text)
        joined = joined_words(prepared)
        return cls(text, prepared, joined.split(" ") if joined else [], f" {collapse(joined)} ")

    def span(self, first: int, count: int) -> tuple[int, int]:
        """Original-text offsets covering words first .. first+count-1."""
        if self._spans is None:
            self._spans = self._original_spans()
        if first + count > len(self._spans):
            # Both paths are tested to agree; if they ever do not, blame the whole text
            # rather than point at the wrong words.
            return 0, len(self.text)
        return self._spans[first][0], self._spans[first + count - 1][1]

    def _original_spans(self) -> list[tuple[int, int]]:
        prepared, origin = prepare_with_offsets(self.text)
        n = len(self.text)
        kept = bytearray(n)
        for i in origin:
            kept[i] = 1
        spans: list[tuple[int, int]] = []
        for s, e in word_spans(prepared):
            end = origin[e - 1] + 1
            # take in trailing characters that normalised to nothing (marks, zero-width)
            while end < n and not kept[end]:
                end += 1
            spans.append((origin[s], end))
        return spans


def canonical_phrase(phrase: str) -> list[str]:
    """The canonical words of a list entry or pattern, normalised like comments are."""
    return words(prepare(phrase))
