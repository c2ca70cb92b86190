"""Matchers that several conditions share: the word-list automaton and link extraction."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import ahocorasick

from moderation.ruleset.normalise import Normalised, canonical_phrase, collapse, runs


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

    Immutable after construction; pyahocorasick iterators over a finished automaton do
    not modify it, so evaluation threads can share one matcher.
    """

    def __init__(self, entries: Iterable[Entry]) -> None:
        self._automaton = ahocorasick.Automaton()
        by_key: dict[str, list[Entry]] = {}
        for entry in entries:
            by_key.setdefault(entry.collapsed, []).append(entry)
        for key, group in by_key.items():
            self._automaton.add_word(key, tuple(group))
        self.size = len(by_key)
        if by_key:
            self._automaton.make_automaton()

    def find(self, norm: Normalised) -> list[Hit]:
        if not self.size:
            return []
        text = norm.collapsed
        hits: list[Hit] = []
        for end, group in self._automaton.iter(text):
            start = end - len(group[0].collapsed) + 1
            # Spaces before the match start = index of its first word + 1.
            first = text.count(" ", 0, start + 1) - 1
            for entry in group:
                if entry.needs_run_check and not _runs_fit(norm, first, entry):
                    continue
                hits.append(Hit(entry.list_name, entry.raw, first, entry.words))
        return hits


def _runs_fit(norm: Normalised, first: int, entry: Entry) -> bool:
    """A double letter in the entry needs at least a double letter in the text."""
    found = runs(" ".join(norm.words[first : first + entry.words]))
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
