"""Matchers that several conditions share: the word-list automaton and link extraction."""

from __future__ import annotations

import gc
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
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
    canonical: str  # the canonical words, not collapsed, space-separated; no `*`


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
        canonical=joined,
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
        # A 10,000-word list brings some 100,000 suffixed forms, each a few small tuples
        # and sets: the cyclic collector would walk them again and again as they are made
        # (a third of the build time), and none of them can form a cycle.
        with _collector_paused():
            self._build(list(entries))

    def _build(self, entries: list[Entry]) -> None:
        self._automaton = ahocorasick.Automaton()
        by_key: defaultdict[str, list[_Target]] = defaultdict(list)
        # the collapsed words a run of pieces may be joined into, with the spellings whose
        # double letters a joined reading must have ("" for none): "a s" is not "ass", and
        # must not take the "s" of "a s.h.i.t"
        vocab: defaultdict[str, set[str]] = defaultdict(set)
        stems: set[str] = set()
        for entry in entries:
            need = entry.canonical if entry.needs_run_check else ""
            by_key[entry.collapsed].append((entry.list_name, entry.raw, entry.words, need))
            entry_words = entry.canonical.split(" ")
            if entry.prefix:
                stems.add(collapse(entry_words[-1]))
                entry_words = entry_words[:-1]
            for word in entry_words:
                key = collapse(word)
                vocab[key].add(word if len(key) < len(word) else "")
        for entry, form, key in _inflected_forms(entries, set(by_key)):
            # one word, and a form as long as its key (spaces aside) has no double letter
            need = "" if len(key) == len(form) + 2 else form
            by_key[key].append((entry.list_name, entry.raw, 1, need))
            vocab[key[1:-1]].add(need)
        for key, group in by_key.items():
            self._automaton.add_word(key, (len(key), tuple(group)))
        self.size = len(by_key)
        if by_key:
            self._automaton.make_automaton()
        self._vocab: dict[str, set[str]] = dict(vocab)
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
        for end, (length, group) in self._automaton.iter(text):
            # Spaces before the match start = index of its first word + 1.
            first = text.count(" ", 0, end - length + 2) - 1
            for list_name, raw, n_words, need in group:
                if need and not _runs_fit(words, first, n_words, runs(need)):
                    continue
                if index is None:
                    hits.append(Hit(list_name, raw, first, n_words))
                    continue
                # back to the comment's own words: a joined word covers several
                first_word = index[first][0]
                last_first, last_count = index[first + n_words - 1]
                count = last_first + last_count - first_word
                hits.append(Hit(list_name, raw, first_word, count))
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
        spellings = self._vocab.get(key)
        if spellings is None:
            return False
        if "" in spellings:
            return True  # a spelling without a double letter: any reading of the key
        have = runs(reading)
        return any(all(h >= n for h, n in zip(have, runs(need), strict=True)) for need in spellings)


# What the automaton holds for one entry (or one suffixed form of it) under its key: list
# name, the entry as written, its number of words, and the canonical spelling whose double
# letters a match must have ("" when none is doubled; runs are counted on a hit, not for
# every form at load). Plain tuples: a 10,000-word list brings some 100,000 suffixed
# forms, and an object with attributes for each made loading slow.
_Target = tuple[str, str, int, str]


@contextmanager
def _collector_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _inflected_forms(entries: list[Entry], listed: set[str]) -> Iterator[tuple[Entry, str, str]]:
    """(entry, form, automaton key) for each one-word entry's suffixed forms ("twats",
    "shitting", "wanker") that are not ordinary English words ("spicing", "cocking") nor
    listed themselves: a suffix after a listed word is the commonest way round a
    whole-word list."""
    bases = [e for e in entries if not e.prefix and e.words == 1]
    forms = [sorted(inflections(e.canonical)) for e in bases]
    flat = [form for group in forms for form in group]
    # One regex pass over all forms at once ("\n" never repeats): per form it cost more
    # than everything else the list's loading does.
    keys = iter(collapse("\n".join(flat)).split("\n") if flat else [])
    for entry, group in zip(bases, forms, strict=True):
        for form in group:
            key = f" {next(keys)} "
            if key not in _EXCEPTION_KEYS and key not in listed:
                yield entry, form, key


# Keys as the automaton sees them: an exception guards every spelling that reads like it.
_EXCEPTION_KEYS: Final = frozenset(
    f" {collapse(w)} " for word in INFLECTION_EXCEPTIONS for w in canonical_phrase(word)
)


def _joinable(p: Piece) -> bool:
    return not p.glued and len(p.reading) <= 3


def _runs_fit(words: list[str], first: int, n_words: int, need: list[int]) -> bool:
    """A double letter in the entry needs at least a double letter in the text."""
    found = runs(" ".join(words[first : first + n_words]))
    if len(found) < len(need):
        return False
    return all(have >= n for have, n in zip(found, need, strict=False))


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
