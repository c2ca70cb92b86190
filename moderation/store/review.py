"""The review queue's indexes and claims.

Every comment that is not pending sits in the indexes of its status: three orderings of the
whole status (age, score, priority) and facet subsets (article, author, label, rule, tag,
edited) scored by creation time. The comment store moves a comment between them inside the
same MULTI that changes its status, so a query never sees a comment under the wrong status
and never scans every comment: a filtered query intersects the ordering with the facet
subsets it names (ZINTERSTORE, cost bounded by the smallest set) into a scratch key."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import redis

from moderation.domain.verdict import Action, Status, Verdict
from moderation.store.keys import Keys

ReviewSort = Literal["priority", "age", "score"]
INDEXED_STATUSES = (
    Status.FLAGGED,
    Status.REJECTED,
    Status.APPROVED,
    Status.ERROR,
    Status.APPEALED,
)
SCRATCH_TTL_S = 10


@dataclass(frozen=True)
class Facets:
    """What a comment is indexed under; stored with the comment so that it can be removed
    from exactly those indexes later."""

    article_id: str
    author_id: str
    created_ms: int
    labels: list[str] = field(default_factory=list)
    rule_ids: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    score: float = 0.0
    priority: float = 0.0
    edited: bool = False

    def dumps(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def loads(cls, raw: str) -> Facets:
        return cls(**json.loads(raw))

    def subsets(self) -> list[tuple[str, str]]:
        out = [("article", self.article_id), ("author", self.author_id)]
        out += [("label", v) for v in self.labels]
        out += [("rule", v) for v in self.rule_ids]
        out += [("tag", v) for v in self.tags]
        if self.edited:
            out.append(("edited", "1"))
        return out


def priority_of(verdict: Verdict | None, author_rejections: int) -> float:
    """Highest first: what a rule rejects, then what a rule flags, then by the highest label
    score, nudged up for authors with a history of rejected comments."""
    if verdict is None:
        return 0.0
    severity = max(
        (
            r.action.severity
            for r in verdict.reasons
            if r.source == "rule" and r.action and not r.shadow
        ),
        default=Action.APPROVE.severity,
    )
    return round(severity * 2 + verdict.max_score() + min(author_rejections, 10) * 0.05, 6)


def facets_of(
    *,
    article_id: str,
    author_id: str,
    created_ms: int,
    revision: int,
    verdict: Verdict | None,
    author_rejections: int,
) -> Facets:
    return Facets(
        article_id=article_id,
        author_id=author_id,
        created_ms=created_ms,
        labels=verdict.labels_over_threshold() if verdict else [],
        rule_ids=verdict.rule_ids() if verdict else [],
        tags=list(verdict.tags) if verdict else [],
        score=verdict.max_score() if verdict else 0.0,
        priority=priority_of(verdict, author_rejections),
        edited=revision > 1,
    )


@dataclass(frozen=True)
class ReviewFilter:
    status: Status = Status.FLAGGED
    article_id: str | None = None
    author_id: str | None = None
    label: str | None = None
    rule_id: str | None = None
    tag: str | None = None
    edited: bool | None = None
    min_score: float | None = None
    max_score: float | None = None

    def subsets(self) -> list[tuple[str, str]]:
        pairs = [
            ("article", self.article_id),
            ("author", self.author_id),
            ("label", self.label),
            ("rule", self.rule_id),
            ("tag", self.tag),
            ("edited", "1" if self.edited else None),
        ]
        return [(facet, value) for facet, value in pairs if value]


Cursor = tuple[float, str]
# `<score>~<comment id>`: `~` cannot occur in an id, and every string this pattern accepts
# decodes, so a cursor is never a schema-valid value the server then refuses.
CURSOR_PATTERN = r"^-?[0-9]{1,17}(\.[0-9]{1,17})?(e[-+]?[0-9]{1,3})?~[A-Za-z0-9._:-]{1,128}$"


def encode_cursor(cursor: Cursor) -> str:
    return f"{cursor[0]!r}~{cursor[1]}"


def decode_cursor(raw: str) -> Cursor:
    """For a value matching CURSOR_PATTERN; raises ValueError otherwise."""
    score, sep, last_id = raw.partition("~")
    if not sep or not last_id:
        raise ValueError("not a review cursor")
    return float(score), last_id


class ReviewIndex:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.r: Any = client
        self.keys = keys

    # -- writing (inside the comment store's MULTI) --------------------------------------

    def _orderings(self, facets: Facets) -> tuple[tuple[ReviewSort, float], ...]:
        return (("age", facets.created_ms), ("score", facets.score), ("priority", facets.priority))

    def add(self, pipe: Any, comment_id: str, status: Status, facets: Facets) -> None:
        if status not in INDEXED_STATUSES:
            return
        s = status.value
        for ordering, value in self._orderings(facets):
            pipe.zadd(self.keys.review(s, ordering), {comment_id: value})
            for facet, facet_value in facets.subsets():
                pipe.zadd(self.keys.review(s, ordering, facet, facet_value), {comment_id: value})
        pipe.hincrby(self.keys.review_article_counts(s), facets.article_id, 1)

    def remove(self, pipe: Any, comment_id: str, status: Status, facets: Facets) -> None:
        if status not in INDEXED_STATUSES:
            return
        s = status.value
        for ordering, _ in self._orderings(facets):
            pipe.zrem(self.keys.review(s, ordering), comment_id)
            for facet, facet_value in facets.subsets():
                pipe.zrem(self.keys.review(s, ordering, facet, facet_value), comment_id)
        pipe.hincrby(self.keys.review_article_counts(s), facets.article_id, -1)

    # -- reading -------------------------------------------------------------------------

    def counts_by_status(self) -> dict[str, int]:
        pipe = self.r.pipeline(transaction=False)
        for status in INDEXED_STATUSES:
            pipe.zcard(self.keys.review(status.value, "age"))
        return {s.value: int(n) for s, n in zip(INDEXED_STATUSES, pipe.execute(), strict=True)}

    def counts_by_article(self, status: Status, top: int = 50) -> dict[str, int]:
        return _top_articles(self.r.hgetall(self.keys.review_article_counts(status.value)), top)

    def query(
        self, flt: ReviewFilter, sort: ReviewSort, limit: int, cursor: Cursor | None
    ) -> tuple[list[str], Cursor | None, int]:
        """Comment ids in `sort` order (highest priority or score first; oldest first for
        age, as a queue is worked), the next cursor and the number of matches.

        No filter or one facet: one sorted set read directly (O(log N + limit)). Several
        facets: their sets in this ordering are intersected (Redis walks the smallest). A
        score range reads the score ordering's band, or is the bounds of the page itself
        when sorting by score."""
        status = flt.status.value
        subsets = [self.keys.review(status, sort, f, v) for f, v in flt.subsets()]
        low = "-inf" if flt.min_score is None else repr(flt.min_score)
        high = "+inf" if flt.max_score is None else repr(flt.max_score)
        ranged = flt.min_score is not None or flt.max_score is not None
        scratch: list[str] = []
        try:
            if ranged and sort != "score":
                band = self.keys.review_scratch(secrets.token_hex(8))
                scratch.append(band)
                facet_scores = [self.keys.review(status, "score", f, v) for f, v in flt.subsets()]
                source = facet_scores[0] if facet_scores else self.keys.review(status, "score")
                self.r.zrangestore(band, source, low, high, byscore=True)
                subsets.append(band)
            if not subsets:
                key = self.keys.review(status, sort)
            elif len(subsets) == 1 and not scratch:
                key = subsets[0]
            else:
                key = self.keys.review_scratch(secrets.token_hex(8))
                scratch.append(key)
                # Weight 1 on the first set only: the intersection keeps its ordering.
                weights = {k: (1 if i == 0 else 0) for i, k in enumerate(subsets)}
                pipe = self.r.pipeline(transaction=False)
                pipe.zinterstore(key, weights)
                pipe.expire(key, SCRATCH_TTL_S)
                pipe.execute()
            bounds = (low, high) if ranged and sort == "score" else ("-inf", "+inf")
            total = int(self.r.zcount(key, *bounds))
            ids, scores = page_by_score(
                self.r, key, limit, cursor, descending=sort != "age", bounds=bounds
            )
        finally:
            if scratch:
                self.r.delete(*scratch)
        more = len(ids) > limit
        next_cursor = (scores[limit - 1], ids[limit - 1]) if more and limit else None
        return ids[:limit], next_cursor, total

    # -- claims --------------------------------------------------------------------------

    def claim(self, comment_id: str, actor: str, actor_name: str, ttl_s: int) -> dict[str, Any]:
        """Take or renew the claim; returns the claim in force (maybe someone else's). The
        value carries its own expiry, so a page of claims is one MGET (no TTL per key)."""
        key = self.keys.claim(comment_id)
        now_ms = int(time.time() * 1000)
        value = json.dumps(
            {"actor": actor, "actor_name": actor_name, "expires_at_ms": now_ms + ttl_s * 1000}
        )

        def txn(pipe: Any) -> dict[str, Any]:
            current = pipe.get(key)
            holder = _claim_in_force(current, now_ms)
            if holder is not None and holder["actor"] != actor:
                return holder
            pipe.multi()
            pipe.set(key, value, ex=ttl_s)
            return _claim_in_force(value, now_ms) or {}

        claim: dict[str, Any] = self.r.transaction(txn, key, value_from_callable=True)
        return claim

    def release(self, comment_id: str, actor: str) -> bool:
        key = self.keys.claim(comment_id)

        def txn(pipe: Any) -> bool:
            current = pipe.get(key)
            if not current or json.loads(current)["actor"] != actor:
                return False
            pipe.multi()
            pipe.delete(key)
            return True

        released: bool = self.r.transaction(txn, key, value_from_callable=True)
        return released

    def claims(self, comment_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        ids = list(comment_ids)
        if not ids:
            return {}
        return claims_from(ids, self.r.mget([self.keys.claim(cid) for cid in ids]))

    def queue_reads(self, pipe: Any, ids: list[str], status: Status) -> None:
        """Queue, on the caller's pipeline, what a page of the review queue shows besides
        the comments: their claims, the counts per status and per article (see
        `queue_results`)."""
        if ids:
            pipe.mget([self.keys.claim(cid) for cid in ids])
        else:
            pipe.echo("")  # keeps the replies' positions fixed
        for indexed in INDEXED_STATUSES:
            pipe.zcard(self.keys.review(indexed.value, "age"))
        pipe.hgetall(self.keys.review_article_counts(status.value))

    @staticmethod
    def queue_results(
        ids: list[str], replies: list[Any], top: int = 50
    ) -> tuple[dict[str, dict[str, Any]], dict[str, int], dict[str, int]]:
        """Claims, counts by status and counts by article from `queue_reads`' replies."""
        raw_claims, *cards, article_counts = replies
        claims = claims_from(ids, raw_claims) if ids else {}
        by_status = {s.value: int(n) for s, n in zip(INDEXED_STATUSES, cards, strict=True)}
        return claims, by_status, _top_articles(article_counts, top)


def _top_articles(raw: dict[str, str], top: int) -> dict[str, int]:
    counts = sorted(((a, int(n)) for a, n in raw.items() if int(n) > 0), key=lambda p: -p[1])
    return dict(counts[:top])


def _claim_in_force(raw: str | None, now_ms: int) -> dict[str, Any] | None:
    if not raw:
        return None
    held = json.loads(raw)
    left_ms = int(held.pop("expires_at_ms", now_ms)) - now_ms
    return {**held, "expires_in_s": max(left_ms // 1000, 0)} if left_ms > 0 else None


def claims_from(ids: list[str], values: list[str | None]) -> dict[str, dict[str, Any]]:
    now_ms = int(time.time() * 1000)
    out: dict[str, dict[str, Any]] = {}
    for cid, raw in zip(ids, values, strict=True):
        if (held := _claim_in_force(raw, now_ms)) is not None:
            out[cid] = held
    return out


def page_by_score(
    r: Any,
    key: str,
    limit: int,
    cursor: Cursor | None,
    *,
    descending: bool,
    bounds: tuple[str, str] = ("-inf", "+inf"),
) -> tuple[list[str], list[float]]:
    """Up to limit + 1 members after the cursor (score, id) in score order within the
    bounds, ties broken by id in the same direction, with their scores."""
    low, high = bounds
    ids: list[str] = []
    scores: list[float] = []
    if cursor is not None:
        score, last_id = cursor
        same = sorted(r.zrangebyscore(key, score, score), reverse=descending)
        ties = [m for m in same if (m < last_id if descending else m > last_id)]
        ids = ties[: limit + 1]
        scores = [score] * len(ids)
        if len(ids) > limit:
            return ids, scores
        if descending:
            high = f"({score}"
        else:
            low = f"({score}"
    want = limit + 1 - len(ids)
    if descending:
        pairs = r.zrevrangebyscore(key, high, low, start=0, num=want, withscores=True)
    else:
        pairs = r.zrangebyscore(key, low, high, start=0, num=want, withscores=True)
    ids += [m for m, _ in pairs]
    scores += [float(s) for _, s in pairs]
    return ids, scores
