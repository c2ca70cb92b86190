"""Compiled conditions: the rule file's condition tree turned into matcher objects.

`match` returns None when the condition does not hold, or the spans (start, end, label)
it found in the original text (an empty list for conditions about context, not text).
Features shared by several conditions (normalised words, links, letter counts) are
computed at most once per evaluation, and only if some condition asks for them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Protocol

import re2

from moderation.ruleset.context import RuleContext
from moderation.ruleset.matchers import Hit, Link, WordMatcher, domain_in, find_links
from moderation.ruleset.normalise import Normalised

SpanTuple = tuple[int, int, str | None]
_MAX_SPANS: Final = 20

_LOWER_BYTES = bytes(range(ord("a"), ord("z") + 1))
_UPPER_BYTES = bytes(range(ord("A"), ord("Z") + 1))
_NOT_UPPER: Final = bytes(b for b in range(256) if b not in _UPPER_BYTES)
_NOT_ALPHA: Final = bytes(b for b in range(256) if b not in _UPPER_BYTES + _LOWER_BYTES)


class Evaluation:
    """One comment being evaluated; caches features across conditions."""

    __slots__ = ("_hits", "_letters", "_links", "_norm", "ctx", "matcher")

    def __init__(self, ctx: RuleContext, matcher: WordMatcher) -> None:
        self.ctx = ctx
        self.matcher = matcher
        self._norm: Normalised | None = None
        self._hits: list[Hit] | None = None
        self._links: list[Link] | None = None
        self._letters: tuple[int, int] | None = None

    @property
    def norm(self) -> Normalised:
        if self._norm is None:
            self._norm = Normalised.of(self.ctx.text)
        return self._norm

    @property
    def hits(self) -> list[Hit]:
        if self._hits is None:
            self._hits = self.matcher.find(self.norm)
        return self._hits

    @property
    def links(self) -> list[Link]:
        if self._links is None:
            self._links = find_links(self.ctx.text)
        return self._links

    @property
    def letters(self) -> tuple[int, int]:
        """(upper-case letters, letters)."""
        if self._letters is None:
            text = self.ctx.text
            if text.isascii():
                # bytes.translate deletes in C: an order of magnitude faster than a loop.
                raw = text.encode("ascii")
                self._letters = (
                    len(raw.translate(None, _NOT_UPPER)),
                    len(raw.translate(None, _NOT_ALPHA)),
                )
            else:
                alpha = [c for c in text if c.isalpha()]
                self._letters = (sum(map(str.isupper, alpha)), len(alpha))
        return self._letters


class Compiled(Protocol):
    def match(self, ev: Evaluation) -> list[SpanTuple] | None: ...


class All:
    __slots__ = ("children",)

    def __init__(self, children: list[Compiled]) -> None:
        self.children = children

    def match(self, ev: Evaluation) -> list[SpanTuple] | None:
        spans: list[SpanTuple] = []
        for child in self.children:
            found = child.match(ev)
            if found is None:
                return None
            spans.extend(found)
        return spans


class Any:
    __slots__ = ("children",)

    def __init__(self, children: list[Compiled]) -> None:
        self.children = children

    def match(self, ev: Evaluation) -> list[SpanTuple] | None:
        for child in self.children:
            found = child.match(ev)
            if found is not None:
                return found
        return None


class Not:
    __slots__ = ("child",)

    def __init__(self, child: Compiled) -> None:
        self.child = child

    def match(self, ev: Evaluation) -> list[SpanTuple] | None:
        return [] if self.child.match(ev) is None else None


class Score:
    __slots__ = ("gte", "label", "lt")

    def __init__(self, label: str, gte: float | None, lt: float | None) -> None:
        self.label, self.gte, self.lt = label, gte, lt

    def match(self, ev: Evaluation) -> list[SpanTuple] | None:
        score = ev.ctx.scores.get(self.label)
        if score is None:
            return None
        if self.gte is not None and score < self.gte * ev.ctx.article.sensitivity:
            return None
        if self.lt is not None and score >= self.lt:
            return None
        return []


class Words:
    __slots__ = ("lists", "min_count")

    def __init__(self, lists: frozenset[str], min_count: int) -> None:
        self.lists, self.min_count = lists, min_count

    def match(self, ev: Evaluation) -> list[SpanTuple] | None:
        hits = ev.hits
        if not hits:
            return None
        found: dict[tuple[int, int], str] = {}
        for hit in hits:
            if hit.list_name in self.lists:
                found.setdefault((hit.first_word, hit.words), hit.list_name)
        if len(found) < self.min_count:
            return None
        norm = ev.norm
        return [
            (*norm.span(first, n), label) for (first, n), label in list(found.items())[:_MAX_SPANS]
        ]


class Regex:
    __slots__ = ("label", "pattern")

    def __init__(self, pattern: re2._Regexp[str], label: str) -> None:
        self.pattern, self.label = pattern, label

    def match(self, ev: Evaluation) -> list[SpanTuple] | None:
        text = ev.ctx.text
        if self.pattern.search(text) is None:
            return None
        spans: list[SpanTuple] = []
        for m in self.pattern.finditer(text):
            if m.end() > m.start():
                spans.append((m.start(), m.end(), self.label))
            if len(spans) >= _MAX_SPANS:
                break
        return spans


class Links:
    __slots__ = ("allow", "count_gte", "deny")

    def __init__(self, count_gte: int | None, allow: frozenset[str], deny: frozenset[str]) -> None:
        self.count_gte, self.allow, self.deny = count_gte, allow, deny

    def match(self, ev: Evaluation) -> list[SpanTuple] | None:
        links = ev.links
        if not links:
            return None
        chosen: list[Link] = links
        if self.deny:
            chosen = [lk for lk in chosen if domain_in(lk.domain, self.deny)]
            if not chosen:
                return None
        if self.count_gte is not None:
            counted = [lk for lk in links if not (self.allow and domain_in(lk.domain, self.allow))]
            if len(counted) < self.count_gte:
                return None
            if not self.deny:
                chosen = counted
        return [(lk.start, lk.end, "link") for lk in chosen[:_MAX_SPANS]]


class Length:
    __slots__ = ("gte", "lt")

    def __init__(self, gte: int | None, lt: int | None) -> None:
        self.gte, self.lt = gte, lt

    def match(self, ev: Evaluation) -> list[SpanTuple] | None:
        n = len(ev.ctx.text.strip())
        if self.gte is not None and n < self.gte:
            return None
        if self.lt is not None and n >= self.lt:
            return None
        return []


class Caps:
    __slots__ = ("min_letters", "ratio")

    def __init__(self, ratio: float, min_letters: int) -> None:
        self.ratio, self.min_letters = ratio, min_letters

    def match(self, ev: Evaluation) -> list[SpanTuple] | None:
        if len(ev.ctx.text) < self.min_letters:
            return None
        upper, letters = ev.letters
        if letters < self.min_letters or upper < self.ratio * letters:
            return None
        return []


def _age_days(ctx: RuleContext) -> float | None:
    created, received = ctx.author.account_created_at, ctx.received_at
    if not created or not received:
        return None
    try:
        delta = datetime.fromisoformat(received) - datetime.fromisoformat(created)
    except (TypeError, ValueError):
        # naive vs aware timestamps or malformed input: no age, rather than a crash
        return None
    return delta.total_seconds() / 86400


class Author:
    __slots__ = (
        "account_age_days_lt",
        "approved_gte",
        "approved_lt",
        "banned",
        "flagged_gte",
        "rejected_gte",
        "suspended",
    )

    def __init__(
        self,
        banned: bool | None,
        suspended: bool | None,
        approved_lt: int | None,
        approved_gte: int | None,
        rejected_gte: int | None,
        flagged_gte: int | None,
        account_age_days_lt: float | None,
    ) -> None:
        self.banned, self.suspended = banned, suspended
        self.approved_lt, self.approved_gte = approved_lt, approved_gte
        self.rejected_gte, self.flagged_gte = rejected_gte, flagged_gte
        self.account_age_days_lt = account_age_days_lt

    def match(self, ev: Evaluation) -> list[SpanTuple] | None:
        a = ev.ctx.author
        if self.banned is not None and a.banned != self.banned:
            return None
        if self.suspended is not None and a.suspended != self.suspended:
            return None
        if self.approved_lt is not None and a.approved_count >= self.approved_lt:
            return None
        if self.approved_gte is not None and a.approved_count < self.approved_gte:
            return None
        if self.rejected_gte is not None and a.rejected_count < self.rejected_gte:
            return None
        if self.flagged_gte is not None and a.flagged_count < self.flagged_gte:
            return None
        if self.account_age_days_lt is not None:
            age = _age_days(ev.ctx)
            if age is None or age >= self.account_age_days_lt:
                return None
        return []


class Article:
    __slots__ = ("closed", "premoderate", "sensitivity_lt")

    def __init__(
        self, premoderate: bool | None, closed: bool | None, sensitivity_lt: float | None
    ) -> None:
        self.premoderate, self.closed, self.sensitivity_lt = premoderate, closed, sensitivity_lt

    def match(self, ev: Evaluation) -> list[SpanTuple] | None:
        a = ev.ctx.article
        if self.premoderate is not None and a.premoderate != self.premoderate:
            return None
        if self.closed is not None and a.closed != self.closed:
            return None
        if self.sensitivity_lt is not None and a.sensitivity >= self.sensitivity_lt:
            return None
        return []


class Repeat:
    __slots__ = ("gte",)

    def __init__(self, gte: int) -> None:
        self.gte = gte

    def match(self, ev: Evaluation) -> list[SpanTuple] | None:
        return [] if ev.ctx.recent.same_text_by_author >= self.gte else None


class Burst:
    __slots__ = ("gte",)

    def __init__(self, gte: int) -> None:
        self.gte = gte

    def match(self, ev: Evaluation) -> list[SpanTuple] | None:
        return [] if ev.ctx.recent.author_comments_in_window >= self.gte else None


class Metadata:
    __slots__ = ("key", "values")

    def __init__(self, key: str, values: list[str | int | float | bool]) -> None:
        self.key, self.values = key, values

    def match(self, ev: Evaluation) -> list[SpanTuple] | None:
        if self.key not in ev.ctx.metadata:
            return None
        value = ev.ctx.metadata[self.key]
        # bool is an int in Python: keep `true` from equalling 1
        ok = any(isinstance(value, bool) == isinstance(v, bool) and value == v for v in self.values)
        return [] if ok else None
