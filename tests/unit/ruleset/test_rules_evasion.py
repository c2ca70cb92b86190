"""Evasion suite generated from the default word lists, and innocent words that must
stay clean (the Scunthorpe problem)."""

from __future__ import annotations

import random
import unicodedata
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from moderation.domain.verdict import Status
from moderation.ruleset import RuleContext, Ruleset, load_ruleset

ROOT = Path(__file__).resolve().parents[3]
DATA = Path(__file__).resolve().parent / "data"
WORD_RULES = {"blocked": "blocked-words", "suspect": "suspect-words"}

LEET = {"a": "4@", "e": "3", "i": "1!", "o": "0", "s": "5$", "t": "7", "l": "1", "g": "9", "b": "8"}
HOMOGLYPHS = {
    "a": "аα", "c": "сϲ", "e": "еε", "i": "іι", "j": "ј", "k": "кκ", "o": "оο",
    "p": "рρ", "s": "ѕ", "x": "хχ", "y": "у", "h": "һ", "n": "п", "t": "т", "b": "в",
}  # fmt: skip
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]
SEPARATORS = [" ", ".", "-", "_", "*", " . ", ". "]


def listed_words(name: str) -> list[str]:
    out = []
    for line in (ROOT / "rules" / "words" / f"{name}.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and " " not in line:
            out.append(line.rstrip("*"))
    return out


def homoglyph(w: str, rng: random.Random) -> str:
    chars = list(w)
    spots = [i for i, ch in enumerate(chars) if ch in HOMOGLYPHS]
    for i in rng.sample(spots, k=max(1, len(spots) // 2)) if spots else []:
        chars[i] = rng.choice(HOMOGLYPHS[chars[i]])
    return "".join(chars)


def zero_width(w: str, rng: random.Random) -> str:
    return (
        "".join(ch + (rng.choice(ZERO_WIDTH) if rng.random() < 0.6 else "") for ch in w[:-1])
        + w[-1]
    )


def leet(w: str, rng: random.Random) -> str:
    chars = list(w)
    spots = [i for i, ch in enumerate(chars) if ch in LEET]
    for i in rng.sample(spots, k=max(1, (len(spots) + 1) // 2)) if spots else []:
        chars[i] = rng.choice(LEET[chars[i]])
    return "".join(chars)


def spacing(w: str, rng: random.Random) -> str:
    # separate visible letters, keeping marks and invisible characters with their letter
    units: list[str] = []
    for ch in w:
        if units and (unicodedata.combining(ch) or unicodedata.category(ch) == "Cf"):
            units[-1] += ch
        else:
            units.append(ch)
    return rng.choice(SEPARATORS).join(units)


def repeats(w: str, rng: random.Random) -> str:
    chars = list(w)
    for i in rng.sample(range(len(chars)), k=min(len(chars), rng.randint(1, 3))):
        chars[i] = chars[i] * rng.randint(2, 5)
    return "".join(chars)


def case(w: str, rng: random.Random) -> str:
    return "".join(ch.upper() if rng.random() < 0.5 else ch for ch in w)


def fullwidth(w: str, rng: random.Random) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if rng.random() < 0.7 else ch for ch in w)


def diacritics(w: str, rng: random.Random) -> str:
    marks = ["\u0301", "\u0308", "\u0327", "\u0336", "\u0303"]
    return "".join(ch + (rng.choice(marks) if rng.random() < 0.5 else "") for ch in w)


def mixed(w: str, rng: random.Random) -> str:
    for step in rng.sample([homoglyph, leet, repeats, case, zero_width, diacritics], k=2):
        w = step(w, rng)
    return spacing(w, rng) if rng.random() < 0.3 else w


KINDS: dict[str, Callable[[str, random.Random], str]] = {
    "homoglyph": homoglyph,
    "zero_width": zero_width,
    "leet": leet,
    "spacing": spacing,
    "repeats": repeats,
    "case": case,
    "fullwidth": fullwidth,
    "diacritics": diacritics,
    "mixed": mixed,
}
FRAMES = ["{w}", "honestly you {w}, seriously", "what {w} is this?", "{w}!!! unbelievable"]


def variants(per_kind: int = 4, seed: int = 20240501) -> list[tuple[str, str, str, str]]:
    """(list name, word, kind, variant); deduplicated, deterministic."""
    rng = random.Random(seed)
    out: dict[str, tuple[str, str, str, str]] = {}
    for name in WORD_RULES:
        for word in listed_words(name):
            for kind, make in KINDS.items():
                for _ in range(per_kind):
                    v = make(word, rng)
                    if v != word:
                        out.setdefault(v, (name, word, kind, v))
    return list(out.values())


@pytest.fixture(scope="module")
def default_rules() -> Ruleset:
    return load_ruleset([ROOT / "rules"])


def caught(rs: Ruleset, list_name: str, variant: str, frame: str) -> bool:
    text = frame.format(w=variant)
    start = text.index(variant)
    out = rs.evaluate(RuleContext(comment_id="c", article_id="a", author_id="u", text=text))
    rule_id = WORD_RULES[list_name]
    for reason in out.reasons:
        if reason.rule_id == rule_id:
            # the span must point at the obfuscated word in the original text
            return any(s.start <= start and s.end >= start + len(variant) for s in reason.spans)
    return False


def test_evasion_suite_catches_at_least_99_percent(default_rules: Ruleset) -> None:
    cases = variants()
    assert len(cases) >= 2000
    missed: list[tuple[str, str, str]] = []
    per_kind: Counter[str] = Counter()
    for i, (name, word, kind, variant) in enumerate(cases):
        per_kind[kind] += 1
        if not caught(default_rules, name, variant, FRAMES[i % len(FRAMES)]):
            missed.append((kind, word, variant))
    rate = 1 - len(missed) / len(cases)
    assert set(per_kind) == set(KINDS)
    assert rate >= 0.99, f"caught {rate:.2%} of {len(cases)}; missed e.g. {missed[:20]}"


def test_innocent_words_containing_listed_words_stay_clean(default_rules: Ruleset) -> None:
    lines = (DATA / "innocent_words.txt").read_text(encoding="utf-8").splitlines()
    innocent = [w for w in lines if w and not w.startswith("#")]
    assert len(innocent) >= 500
    listed = [w for name in WORD_RULES for w in listed_words(name)]
    # each innocent word really contains a listed word: this is the Scunthorpe problem
    assert all(any(x in w for x in listed) for w in innocent)
    flagged = []
    for word in innocent:
        for text in (word, word.capitalize(), f"The {word} was discussed."):
            out = default_rules.evaluate(
                RuleContext(comment_id="c", article_id="a", author_id="u", text=text)
            )
            if out.status != Status.APPROVED or out.reasons:
                flagged.append(text)
    assert flagged == []
