"""Matchers that several conditions share: the word-list automaton and link extraction."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import ahocorasick

from moderation.ruleset.normalise import (
    COMMON_SHORT,
    FRAGMENT_SEPS,
    INFLECTION_EXCEPTIONS,
    SPACED_SEP_RE,
    Normalised,
    Piece,
    bang_words,
    canonical_phrase,
    collapse,
    inflections,
    read,
    runs,
    split_runs,
)


@dataclass(frozen=True)
class Entry:
    """One list entry in canonical form."""

    list_name: str
    raw: str
    collapsed: str  # " w1 w2" (+ " " unless prefix): spaces anchor whole words
    runs: tuple[int, ...]  # run lengths of the uncollapsed canonical form, spaces included
    words: int
    prefix: bool
    needs_run_check: bool
    form: bool = False  # an inflected form of the entry ("shitting" for "shit")


@dataclass(frozen=True)
class Hit:
    list_name: str
    raw: str
    first_word: int
    words: int


def make_entry(list_name: str, raw: str) -> Entry | None:
    """None when the entry normalises to nothing (only punctuation)."""
    text = raw.strip()
    prefix = text.endswith("*")
    ws = canonical_phrase(text.rstrip("*"))
    if not ws:
        return None
    joined = " ".join(ws)
    entry_runs = tuple(runs(joined))
    collapsed = " " + collapse(joined) + ("" if prefix else " ")
    return Entry(
        list_name=list_name,
        raw=text,
        collapsed=collapsed,
        runs=entry_runs,
        words=len(ws),
        prefix=prefix,
        needs_run_check=any(r > 1 for r in entry_runs),
    )


class WordMatcher:
    """All word lists of a ruleset in one Aho-Corasick automaton.

    Whole words only, except in runs of single letters and short fragments ("is a f u c k",
    "fu ck", "sh it"): there a listed word may be joined from any consecutive pieces, and
    the text is read a second time with those pieces joined. A joined word always starts
    and ends at a piece's edges, so a match never starts or ends inside an ordinary word.

    Immutable after construction; pyahocorasick iterators over a finished automaton do
    not modify it, so evaluation threads can share one matcher.
    """

    def __init__(self, entries: Iterable[Entry]) -> None:
        self._automaton = ahocorasick.Automaton()
        entries = _with_inflections(entries)
        by_key: dict[str, list[Entry]] = {}
        vocab: dict[str, set[tuple[int, ...]]] = {}
        stems: set[str] = set()
        for entry in entries:
            by_key.setdefault(entry.collapsed, []).append(entry)
            if entry.form:
                # one word; its runs are the form's own
                vocab.setdefault(entry.collapsed.strip(), set()).add(entry.runs)
                continue
            entry_words = canonical_phrase(entry.raw.rstrip("*"))
            if entry.prefix:
                stems.add(collapse(entry_words[-1]))
                entry_words = entry_words[:-1]
            for word in entry_words:
                vocab.setdefault(collapse(word), set()).add(tuple(runs(word)))
        for key, group in by_key.items():
            self._automaton.add_word(key, tuple(group))
        self.size = len(by_key)
        if by_key:
            self._automaton.make_automaton()
        # the collapsed words a run of pieces may be joined into, with their letter runs:
        # "a s" is not "ass", and must not take the "s" of "a s.h.i.t"
        self._vocab = {key: tuple(forms) for key, forms in vocab.items()}
        self._stems = tuple(sorted(stems))
        self._longest = max(map(len, [*vocab, *stems]), default=0)

    def find(self, norm: Normalised) -> list[Hit]:
        if not self.size:
            return []
        hits = self._find_in(norm.collapsed, norm.words, None)
        if norm.may_split():
            split = self._split_reading(norm)
            if split is not None:
                alt_words, index = split
                text = f" {collapse(' '.join(alt_words))} "
                seen = set(hits)
                hits += [h for h in self._find_in(text, alt_words, index) if h not in seen]
        return hits

    def _find_in(
        self, text: str, words: list[str], index: list[tuple[int, int]] | None
    ) -> list[Hit]:
        hits: list[Hit] = []
        for end, group in self._automaton.iter(text):
            start = end - len(group[0].collapsed) + 1
            # Spaces before the match start = index of its first word + 1.
            first = text.count(" ", 0, start + 1) - 1
            for entry in group:
                if entry.needs_run_check and not _runs_fit(words, first, entry):
                    continue
                if index is None:
                    hits.append(Hit(entry.list_name, entry.raw, first, entry.words))
                    continue
                # back to the comment's own words: a joined word covers several
                first_word = index[first][0]
                last_first, last_count = index[first + entry.words - 1]
                count = last_first + last_count - first_word
                hits.append(Hit(entry.list_name, entry.raw, first_word, count))
        return hits

    def _split_reading(self, norm: Normalised) -> tuple[list[str], list[tuple[int, int]]] | None:
        """The comment's words with runs of pieces joined where they spell a listed word,
        and a trailing `!` read as `i`; with, per word, (first word, count) in the
        comment's own words. None when nothing reads differently."""
        joins: list[tuple[int, int, str]] = []  # first word, words covered, reading
        for ps in split_runs(norm.prepared, norm.words):
            i = 0
            while i < len(ps):
                p = ps[i]
                joined = self._join_from(ps, i) if _joinable(p) and p.word >= 0 else None
                if joined is None:
                    i += 1
                    continue
                end, reading = joined
                joins.append((p.word, ps[end - 1].word - p.word + 1, reading))
                i = end
        # a `!` read as `i` matters only where it makes a word of some entry
        bangs = {
            w: reading
            for w, reading in bang_words(norm.prepared)
            if self._in_vocab(collapse(reading))
        }
        if not joins and not bangs:
            return None
        words = norm.words
        out: list[str] = []
        index: list[tuple[int, int]] = []
        w = 0
        for first, count, reading in [*joins, (len(words), 0, "")]:
            for k in range(w, first):
                out.append(bangs.get(k, words[k]))
                index.append((k, 1))
            if count:
                out.append(reading)
                index.append((first, count))
            w = first + count
        return out, index

    def _in_vocab(self, key: str) -> bool:
        return key in self._vocab or (bool(self._stems) and key.startswith(self._stems))

    def _join_from(self, ps: list[Piece], i: int) -> tuple[int, str] | None:
        """The longest run of pieces from i that joins into a listed word (or the start
        of a prefix entry): (end, reading), or None."""
        first = ps[i]
        raw = first.raw
        single = len(first.reading) <= 1
        all_single, any_single = single, single
        any_common = first.reading in COMMON_SHORT
        any_rare = not any_common
        short_seps = True
        spaced = False
        count = 1
        best: tuple[int, str] | None = None
        for j in range(i + 1, len(ps)):
            q = ps[j]
            if not _joinable(q) or not SPACED_SEP_RE.fullmatch(q.sep):
                break
            short_seps = short_seps and len(q.sep) == 1 and q.sep in FRAGMENT_SEPS
            spaced = spaced or any(ch.isspace() for ch in q.sep)
            count += 1
            single = len(q.reading) <= 1
            all_single = all_single and single
            any_single = any_single or single
            if q.word >= 0:
                common = q.reading in COMMON_SHORT
                any_common = any_common or common
                any_rare = any_rare or not common
            raw += q.raw
            if q.word < 0:
                continue  # a lone "!" may stand inside a joined word, not at its end
            reading = read(raw)
            key = collapse(reading)
            prefixed = key.startswith(self._stems) if self._stems else False
            if not prefixed and len(key) > self._longest:
                break
            # Fragments of two or three letters: one separator character, never only
            # ordinary words ("go ok"); and across spaces, where real words stand, an
            # ordinary word is never joined with a letter ("s hit"). Three letters or more
            # alone may spell anything ("i l l").
            if all_single:
                valid = any_rare or count >= 3
            else:
                valid = short_seps and any_rare and not (spaced and any_common and any_single)
            if valid and (prefixed or self._spells(key, reading)):
                best = (j + 1, reading)
        return best

    def _spells(self, key: str, reading: str) -> bool:
        forms = self._vocab.get(key)
        if forms is None:
            return False
        have = runs(reading)
        return any(all(h >= n for h, n in zip(have, need, strict=True)) for need in forms)


def _with_inflections(entries: Iterable[Entry]) -> list[Entry]:
    """The entries and, for each one-word entry, its suffixed forms ("twats", "shitting",
    "wanker") that are not ordinary English words ("spicing", "cocking"): a suffix after a
    listed word is the commonest way round a whole-word list."""
    out = list(entries)
    listed = {e.collapsed for e in out}
    for entry in list(out):
        if entry.prefix or entry.words != 1:
            continue
        (word,) = canonical_phrase(entry.raw)
        for form in sorted(inflections(word)):
            key = f" {collapse(form)} "
            if key in _EXCEPTION_KEYS or key in listed:
                continue
            form_runs = tuple(runs(form))
            out.append(
                Entry(
                    entry.list_name,
                    entry.raw,
                    key,
                    form_runs,
                    1,
                    False,
                    max(form_runs) > 1,
                    form=True,
                )
            )
    return out


# Keys as the automaton sees them: an exception guards every spelling that reads like it.
_EXCEPTION_KEYS: Final = frozenset(
    f" {collapse(w)} " for word in INFLECTION_EXCEPTIONS for w in canonical_phrase(word)
)


def _joinable(p: Piece) -> bool:
    return not p.glued and len(p.reading) <= 3


def _runs_fit(words: list[str], first: int, entry: Entry) -> bool:
    """A double letter in the entry needs at least a double letter in the text."""
    found = runs(" ".join(words[first : first + entry.words]))
    if len(found) < len(entry.runs):
        return False
    return all(have >= need for have, need in zip(found, entry.runs, strict=False))


_TLDS: Final = (
    "com|net|org|info|biz|io|co|ru|xyz|top|ly|me|tk|cn|uk|de|fr|us|eu|ca|au|in|be|nl|"
    "it|es|ch|se|no|pl|online|site|club|shop|live|app|link|click|tv|cc|ws|gg|to|su"
)
_LINK_RE: Final = re.compile(
    r"(?i)\b(?:https?://|www\.)([^\s/?#<>\"']+)[^\s<>\"']*"
    rf"|\b((?:[a-z0-9](?:[a-z0-9-]{{0,61}}[a-z0-9])?\.)+(?:{_TLDS}))\b(?:/[^\s<>\"']*)?"
)


@dataclass(frozen=True)
class Link:
    domain: str
    start: int
    end: int


_TLD_HINT_RE: Final = re.compile(rf"(?i)\.(?:{_TLDS})\b")


def find_links(text: str) -> list[Link]:
    # Cheap literal scans first: most comments have sentence dots but no link.
    if "://" not in text and "www." not in text.lower() and not _TLD_HINT_RE.search(text):
        return []
    found: list[Link] = []
    for m in _LINK_RE.finditer(text):
        host = (m.group(1) or m.group(2) or "").lower()
        host = host.rsplit("@", 1)[-1].split(":", 1)[0].rstrip(".")
        if host.startswith("www."):
            host = host[4:]
        found.append(Link(host, m.start(), m.end()))
    return found


def domain_in(domain: str, domains: frozenset[str]) -> bool:
    """`domain` is one of `domains` or a subdomain of one."""
    if domain in domains:
        return True
    parts = domain.split(".")
    return any(".".join(parts[i:]) in domains for i in range(1, len(parts)))
