"""Comment records, their per-article indexes and the pending set, kept consistent by
Redis transactions (WATCH/MULTI): a reader never sees a comment in two status indexes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import redis

from moderation.domain.comment import Comment, epoch_ms, iso, text_fingerprint, utcnow
from moderation.domain.verdict import Status, Verdict
from moderation.store.keys import Keys

LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class CreateResult(StrEnum):
    CREATED = "created"
    DUPLICATE = "duplicate"  # same id, same body: a retry
    CONFLICT = "conflict"  # same id, different body


class VerdictWrite(StrEnum):
    WRITTEN = "written"
    STALE = "stale"  # the comment changed (edit) since it was read
    KEPT = "kept"  # an equivalent or a moderator's verdict is already there
    MISSING = "missing"


@dataclass(frozen=True)
class NewComment:
    id: str
    article_id: str
    author_id: str
    text: str
    created_at: datetime
    parent_id: str | None
    language: str | None
    metadata: dict[str, Any]
    body_hash: str


def _is_moderator(verdict: Verdict | None) -> bool:
    return verdict is not None and verdict.decided_by.startswith("moderator")


class CommentStore:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        # redis-py's return types are unions over its decode modes; this client always
        # decodes to str, so the repositories convert values explicitly instead.
        self.r: Any = client
        self.keys = keys

    # -- reading -------------------------------------------------------------------------

    def get(self, comment_id: str) -> Comment | None:
        return self._decode(self.r.hgetall(self.keys.comment(comment_id)))

    def get_many(self, ids: list[str]) -> list[Comment | None]:
        pipe = self.r.pipeline(transaction=False)
        for cid in ids:
            pipe.hgetall(self.keys.comment(cid))
        return [self._decode(raw) for raw in pipe.execute()]

    @staticmethod
    def _decode(raw: dict[str, str]) -> Comment | None:
        if not raw:
            return None
        verdict = Verdict.model_validate_json(raw["verdict"]) if raw.get("verdict") else None
        return Comment(
            id=raw["id"],
            article_id=raw["article_id"],
            author_id=raw["author_id"],
            text=raw["text"],
            created_at=raw["created_at"],
            status=Status(raw["status"]),
            revision=int(raw["revision"]),
            parent_id=raw.get("parent_id") or None,
            language=raw.get("language") or None,
            metadata=json.loads(raw.get("metadata") or "{}"),
            verdict=verdict,
            updated_at=raw.get("updated_at", ""),
            body_hash=raw.get("body_hash", ""),
            enqueued=raw.get("enqueued") == "1",
            attempts=int(raw.get("attempts", "0")),
            received_at=raw.get("received_at", ""),
        )

    def list_article(
        self, article_id: str, status: Status | None, limit: int, cursor: tuple[int, str] | None
    ) -> tuple[list[Comment], tuple[int, str] | None]:
        """Newest first. The cursor is the (created ms, id) of the last item already seen;
        ties on the same millisecond are broken by id, so no comment is skipped or repeated."""
        key = self.keys.article_comments(article_id, status.value if status else None)
        ids: list[str] = []
        if cursor is None:
            pairs = self.r.zrevrangebyscore(
                key, "+inf", "-inf", start=0, num=limit + 1, withscores=True
            )
        else:
            score, last_id = cursor
            same = self.r.zrangebyscore(key, score, score)
            ids = sorted((m for m in same if m < last_id), reverse=True)[: limit + 1]
            pairs = (
                self.r.zrevrangebyscore(
                    key, f"({score}", "-inf", start=0, num=limit + 1 - len(ids), withscores=True
                )
                if len(ids) <= limit
                else []
            )
        scores = {m: int(s) for m, s in pairs}
        ordered = ids + [m for m, _ in pairs]
        if cursor is not None:
            scores.update({m: cursor[0] for m in ids})
        page, more = ordered[:limit], len(ordered) > limit
        comments = [c for c in self.get_many(page) if c is not None]
        next_cursor = (scores[page[-1]], page[-1]) if more and page else None
        return comments, next_cursor

    def pending_older_than(self, cutoff_ms: int, limit: int = 500) -> list[str]:
        return list(
            self.r.zrangebyscore(self.keys.pending(), "-inf", cutoff_ms, start=0, num=limit)
        )

    def iter_ids(self, batch: int = 500) -> Iterator[str]:
        pattern = self.keys.comment("*")
        start = len(self.keys.comment(""))
        for key in self.r.scan_iter(match=pattern, count=batch):
            yield key[start:]

    def iter_comments(self, batch: int = 500) -> Iterator[Comment]:
        """Every stored comment once, in no particular order, read in batches. Reads only."""
        seen: set[str] = set()  # SCAN may return a key more than once
        ids: list[str] = []
        for cid in self.iter_ids(batch):
            if cid in seen:
                continue
            seen.add(cid)
            ids.append(cid)
            if len(ids) >= batch:
                yield from (c for c in self.get_many(ids) if c is not None)
                ids = []
        if ids:
            yield from (c for c in self.get_many(ids) if c is not None)

    # -- writing -------------------------------------------------------------------------

    def create(self, new: NewComment) -> tuple[CreateResult, Comment]:
        """Store a new comment as pending, or recognise a retry. Atomic."""
        key = self.keys.comment(new.id)
        now = iso(utcnow())
        created_ms = epoch_ms(new.created_at)
        record = {
            "id": new.id,
            "article_id": new.article_id,
            "author_id": new.author_id,
            "text": new.text,
            "created_at": iso(new.created_at),
            "parent_id": new.parent_id or "",
            "language": new.language or "",
            # ASCII-escaped: free-form values may hold NUL or lone surrogates.
            "metadata": json.dumps(new.metadata),
            "body_hash": new.body_hash,
            "status": Status.PENDING.value,
            "revision": "1",
            "verdict": "",
            "updated_at": now,
            "enqueued": "0",
            "attempts": "0",
            "received_at": now,
            "submitted_at": now,
        }

        def txn(pipe: Any) -> CreateResult:
            existing = pipe.hget(key, "body_hash")
            if existing is not None:
                return (
                    CreateResult.DUPLICATE if existing == new.body_hash else CreateResult.CONFLICT
                )
            pipe.multi()
            pipe.hset(key, mapping=record)
            pipe.zadd(self.keys.article_comments(new.article_id), {new.id: created_ms})
            pipe.zadd(
                self.keys.article_comments(new.article_id, Status.PENDING), {new.id: created_ms}
            )
            pipe.zadd(self.keys.pending(), {new.id: epoch_ms(utcnow())})
            pipe.zadd(
                self.keys.author_recent(new.author_id),
                {f"{text_fingerprint(new.text)}:{new.id}": epoch_ms(utcnow())},
            )
            return CreateResult.CREATED

        result: CreateResult = self.r.transaction(txn, key, value_from_callable=True)
        comment = self.get(new.id)
        assert comment is not None  # just written or already there
        return result, comment

    def mark_enqueued(self, comment_id: str) -> None:
        self.r.hset(self.keys.comment(comment_id), "enqueued", "1")

    def edit(self, comment_id: str, text: str) -> Comment | None:
        """A new revision: back to pending, to be moderated again."""
        key = self.keys.comment(comment_id)

        def txn(pipe: Any) -> bool:
            raw = pipe.hmget(key, ["status", "article_id", "created_at"])
            if raw[0] is None:
                return False
            old = Status(raw[0])
            created_ms = epoch_ms(datetime.fromisoformat(raw[2]))
            pipe.multi()
            pipe.hset(
                key,
                mapping={
                    "text": text,
                    "status": Status.PENDING.value,
                    "updated_at": iso(utcnow()),
                    "enqueued": "0",
                    "attempts": "0",
                    "submitted_at": iso(utcnow()),
                },
            )
            pipe.hincrby(key, "revision", 1)
            self._move_status(pipe, comment_id, raw[1], old, Status.PENDING, created_ms)
            pipe.zadd(self.keys.pending(), {comment_id: epoch_ms(utcnow())})
            return True

        if not self.r.transaction(txn, key, value_from_callable=True):
            return None
        return self.get(comment_id)

    def write_machine_verdict(
        self, comment_id: str, revision: int, verdict: Verdict
    ) -> VerdictWrite:
        """Store a model+rules verdict unless the comment was edited meanwhile, a moderator has
        decided, or an equivalent verdict (same model and ruleset) is already there."""
        key = self.keys.comment(comment_id)

        def txn(pipe: Any) -> VerdictWrite:
            raw = pipe.hmget(
                key,
                [
                    "status",
                    "revision",
                    "verdict",
                    "article_id",
                    "created_at",
                    "author_id",
                    "submitted_at",
                ],
            )
            if raw[0] is None:
                return VerdictWrite.MISSING
            if int(raw[1]) != revision:
                return VerdictWrite.STALE
            old_status = Status(raw[0])
            current = Verdict.model_validate_json(raw[2]) if raw[2] else None
            if _is_moderator(current):
                return VerdictWrite.KEPT
            if (
                old_status is not Status.PENDING
                and current is not None
                and (current.model == verdict.model and current.ruleset == verdict.ruleset)
            ):
                return VerdictWrite.KEPT
            pipe.multi()
            self._set_verdict(pipe, comment_id, raw[3], raw[4], old_status, verdict)
            self._count_author(pipe, raw[5], old_status, verdict.status)
            if raw[6] and old_status is Status.PENDING:
                waited = (
                    datetime.fromisoformat(verdict.decided_at) - datetime.fromisoformat(raw[6])
                ).total_seconds()
                self._observe_latency(pipe, max(waited, 0.0))
            return VerdictWrite.WRITTEN

        result: VerdictWrite = self.r.transaction(txn, key, value_from_callable=True)
        return result

    def _observe_latency(self, pipe: Any, seconds: float) -> None:
        """Time from submission (or edit) to verdict, as a histogram every API process can
        read at scrape time, whichever worker wrote the verdict."""
        bucket = next((str(b) for b in LATENCY_BUCKETS_S if seconds <= b), "+Inf")
        pipe.hincrby(self.keys.verdict_latency(), bucket, 1)
        pipe.hincrbyfloat(self.keys.verdict_latency(), "sum", seconds)

    def verdict_latency(self) -> tuple[list[tuple[str, int]], float]:
        """Cumulative (upper bound, count) pairs ending with +Inf, and the sum of seconds."""
        raw = self.r.hgetall(self.keys.verdict_latency())
        total, buckets = 0, []
        for bound in [*map(str, LATENCY_BUCKETS_S), "+Inf"]:
            total += int(raw.get(bound, 0))
            buckets.append((bound, total))
        return buckets, float(raw.get("sum", 0.0))

    def mark_error(self, comment_id: str, revision: int, message: str) -> bool:
        """Dead-letter: the comment failed classification repeatedly. It stays visible as
        `error` and in the dead-letter set until retried."""
        key = self.keys.comment(comment_id)
        now = utcnow()

        def txn(pipe: Any) -> bool:
            raw = pipe.hmget(key, ["status", "revision", "article_id", "created_at"])
            if raw[0] is None or int(raw[1]) != revision or raw[0] != Status.PENDING.value:
                return False
            verdict = Verdict(status=Status.ERROR, decided_by="system", decided_at=iso(now))
            pipe.multi()
            self._set_verdict(pipe, comment_id, raw[2], raw[3], Status.PENDING, verdict)
            pipe.hset(key, "last_error", message[:2000])
            pipe.zadd(self.keys.dead_letter(), {comment_id: epoch_ms(now)})
            return True

        ok: bool = self.r.transaction(txn, key, value_from_callable=True)
        return ok

    def retry_errored(self, comment_id: str) -> bool:
        """Put a dead-lettered comment back to pending (operator action)."""
        key = self.keys.comment(comment_id)

        def txn(pipe: Any) -> bool:
            raw = pipe.hmget(key, ["status", "article_id", "created_at"])
            if raw[0] != Status.ERROR.value:
                return False
            created_ms = epoch_ms(datetime.fromisoformat(raw[2]))
            pipe.multi()
            pipe.hset(key, mapping={"status": Status.PENDING.value, "verdict": "", "attempts": "0"})
            self._move_status(pipe, comment_id, raw[1], Status.ERROR, Status.PENDING, created_ms)
            pipe.zrem(self.keys.dead_letter(), comment_id)
            pipe.zadd(self.keys.pending(), {comment_id: epoch_ms(utcnow())})
            return True

        ok: bool = self.r.transaction(txn, key, value_from_callable=True)
        return ok

    def touch_pending(self, comment_id: str) -> int:
        """Record one more delivery attempt by the sweeper; returns the attempt count."""
        pipe = self.r.pipeline()
        pipe.hincrby(self.keys.comment(comment_id), "attempts", 1)
        pipe.zadd(self.keys.pending(), {comment_id: epoch_ms(utcnow())}, xx=True)
        attempts, _ = pipe.execute()
        return int(attempts)

    def _set_verdict(
        self,
        pipe: Any,
        comment_id: str,
        article_id: str,
        created_at: str,
        old_status: Status,
        verdict: Verdict,
    ) -> None:
        """Inside a MULTI: the verdict, the status indexes and the counters move together."""
        pipe.hset(
            self.keys.comment(comment_id),
            mapping={
                "status": verdict.status.value,
                "verdict": verdict.model_dump_json(),
                "updated_at": verdict.decided_at,
            },
        )
        created_ms = epoch_ms(datetime.fromisoformat(created_at))
        self._move_status(pipe, comment_id, article_id, old_status, verdict.status, created_ms)
        pipe.zrem(self.keys.pending(), comment_id)
        pipe.hincrby(self.keys.verdict_counts(), verdict.status.value, 1)

    def _move_status(
        self, pipe: Any, comment_id: str, article_id: str, old: Status, new: Status, created_ms: int
    ) -> None:
        if old is not new:
            pipe.zrem(self.keys.article_comments(article_id, old), comment_id)
        pipe.zadd(self.keys.article_comments(article_id, new), {comment_id: created_ms})

    def _count_author(self, pipe: Any, author_id: str, old: Status, new: Status) -> None:
        key = self.keys.author_stats(author_id)
        if old in (Status.APPROVED, Status.FLAGGED, Status.REJECTED):
            pipe.hincrby(key, old.value, -1)
        pipe.hincrby(key, new.value, 1)

    # -- context for rules ---------------------------------------------------------------

    def author_counts(self, author_id: str) -> dict[str, int]:
        raw = self.r.hgetall(self.keys.author_stats(author_id))
        return {k: int(v) for k, v in raw.items()}

    def _recent(
        self, author_id: str, exclude_id: str, window_s: int
    ) -> tuple[list[tuple[str, float]], int]:
        """(member, posted ms) of the author's other comments in the window, and the window's
        end in ms."""
        key = self.keys.author_recent(author_id)
        now_ms = epoch_ms(utcnow())
        pipe = self.r.pipeline()
        pipe.zremrangebyscore(key, "-inf", now_ms - 24 * 3600 * 1000)  # bounded memory
        pipe.zrangebyscore(key, now_ms - window_s * 1000, "+inf", withscores=True)
        pipe.expire(key, 24 * 3600)
        _, members, _ = pipe.execute()
        return [(m, s) for m, s in members if not m.endswith(f":{exclude_id}")], now_ms

    def recent_activity(
        self, author_id: str, text: str, comment_id: str, repeat_window_s: int, burst_window_s: int
    ) -> tuple[int, int]:
        """(other comments with the same text, case and spacing aside, within the repeat
        window; all other comments within the burst window) by this author. One read."""
        members, end_ms = self._recent(author_id, comment_id, max(repeat_window_s, burst_window_s))
        fingerprint = text_fingerprint(text)
        same = sum(
            1
            for m, posted in members
            if posted >= end_ms - repeat_window_s * 1000 and m.split(":", 1)[0] == fingerprint
        )
        burst = sum(1 for _, posted in members if posted >= end_ms - burst_window_s * 1000)
        return same, burst

    # -- article settings and author standing (set by the site or moderators) ------------

    def article_settings(self, article_id: str) -> dict[str, Any]:
        raw = self.r.hgetall(self.keys.article_settings(article_id))
        out: dict[str, Any] = {}
        if "premoderate" in raw:
            out["premoderate"] = raw["premoderate"] == "1"
        if "closed" in raw:
            out["closed"] = raw["closed"] == "1"
        if "sensitivity" in raw:
            out["sensitivity"] = float(raw["sensitivity"])
        return out

    def set_article_settings(self, article_id: str, settings: dict[str, Any]) -> dict[str, Any]:
        encoded = {
            k: ("1" if v else "0") if isinstance(v, bool) else str(v) for k, v in settings.items()
        }
        if encoded:
            self.r.hset(self.keys.article_settings(article_id), mapping=encoded)
        return self.article_settings(article_id)

    def author_profile(self, author_id: str) -> dict[str, Any]:
        raw = self.r.hgetall(self.keys.author_profile(author_id))
        return {
            "banned": raw.get("banned") == "1",
            "suspended": raw.get("suspended") == "1",
            "note": raw.get("note", ""),
            "updated_by": raw.get("updated_by", ""),
            "updated_at": raw.get("updated_at", ""),
        }

    def set_author_profile(
        self, author_id: str, *, banned: bool, suspended: bool, note: str, updated_by: str
    ) -> dict[str, Any]:
        self.r.hset(
            self.keys.author_profile(author_id),
            mapping={
                "banned": "1" if banned else "0",
                "suspended": "1" if suspended else "0",
                "note": note,
                "updated_by": updated_by,
                "updated_at": iso(utcnow()),
            },
        )
        return self.author_profile(author_id)


class ReadOnlyCommentStore(CommentStore):
    """The context reads of CommentStore for a backtest: without the housekeeping writes
    the live reads do (pruning and expiring the recent-activity sets), and with recent
    activity counted as of a given moment (when the comment was received), not now."""

    def __init__(self, client: redis.Redis, keys: Keys, *, as_of: datetime | None = None) -> None:
        super().__init__(client, keys)
        self.as_of = as_of

    def _recent(
        self, author_id: str, exclude_id: str, window_s: int
    ) -> tuple[list[tuple[str, float]], int]:
        end_ms = epoch_ms(self.as_of or utcnow())
        members = self.r.zrangebyscore(
            self.keys.author_recent(author_id), end_ms - window_s * 1000, end_ms, withscores=True
        )
        return [(m, s) for m, s in members if not m.endswith(f":{exclude_id}")], end_ms
