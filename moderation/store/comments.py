"""Comment records, their per-article indexes and the pending set, kept consistent by
Redis transactions (WATCH/MULTI): a reader never sees a comment in two status indexes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import redis

from moderation.domain.comment import Comment, epoch_ms, iso, text_fingerprint, utcnow
from moderation.domain.events import CommentEvent, EventType
from moderation.domain.verdict import (
    DecidedBy,
    Decision,
    ModeratorDecision,
    Span,
    Status,
    Verdict,
    reasons_with_spans,
)
from moderation.store.agreement import Agreement
from moderation.store.atomic import (
    APPLY_IF_UNCHANGED_LUA,
    INGEST_LUA,
    commands,
    expected,
    recorder,
)
from moderation.store.audit import AuditEntry, AuditLog
from moderation.store.authors import effective_profile
from moderation.store.events import EventLog
from moderation.store.keys import Keys
from moderation.store.ratelimit import Gate, raise_if_closed
from moderation.store.review import INDEXED_STATUSES, Facets, ReviewIndex, facets_of

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


class DecisionResult(StrEnum):
    DECIDED = "decided"
    UNCHANGED = "unchanged"  # the same decision was already in force: a safe repeat
    STALE = "stale"  # the revision decided on is no longer the current one
    FINAL = "final"  # a decision on an appeal is final
    MISSING = "missing"


class UndoResult(StrEnum):
    UNDONE = "undone"
    NOTHING = "nothing"  # no moderator decision to undo
    EXPIRED = "expired"  # past the undo window
    MISSING = "missing"


class AppealResult(StrEnum):
    APPEALED = "appealed"
    NOT_REJECTED = "not-rejected"
    ALREADY = "already"  # this revision was appealed before
    MISSING = "missing"


@dataclass(frozen=True)
class Actor:
    """The person (API key) behind a change, as the audit log records them."""

    key_id: str
    name: str = ""
    role: str = ""


_STATE_FIELDS = [
    "status",
    "revision",
    "verdict",
    "article_id",
    "created_at",
    "author_id",
    "submitted_at",
    "review_facets",
    "previous",
    "appealed_revision",
    "final",
]


@dataclass
class _Current:
    """A comment's state as a transaction read it under WATCH."""

    id: str
    status: Status
    revision: int
    verdict: Verdict | None
    article_id: str
    author_id: str
    created_ms: int
    submitted_at: str
    facets: Facets | None
    previous: str
    appealed_revision: int
    final: bool

    @property
    def moderator_decided(self) -> bool:
        """A moderator decided this very revision: no machine re-run may overwrite it."""
        v = self.verdict
        return v is not None and v.decided_by is DecidedBy.MODERATOR and v.revision == self.revision


class CommentStore:
    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        events: EventLog | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        # redis-py's return types are unions over its decode modes; this client always
        # decodes to str, so the repositories convert values explicitly instead.
        self.r: Any = client
        self.keys = keys
        self.events = events or EventLog(client, keys)
        self.audit = audit or AuditLog(client, keys)
        self.review = ReviewIndex(client, keys)
        self.agreement = Agreement(client, keys)
        # What "now" is for an author's ban expiry; a test moves it instead of sleeping.
        self.clock: Callable[[], datetime] = utcnow

    # -- reading -------------------------------------------------------------------------

    def get(self, comment_id: str) -> Comment | None:
        return self._decode(self.r.hgetall(self.keys.comment(comment_id)))

    def state_of(self, comment_id: str) -> tuple[Status, int] | None:
        """Status and revision only: what the dead-letter and recovery paths need, readable
        even when the rest of the record is damaged (a poison comment must still reach
        `error` rather than fail again in its own error handling)."""
        status, revision = self.r.hmget(self.keys.comment(comment_id), ["status", "revision"])
        if status is None or revision is None:
            return None
        return Status(status), int(revision)

    def get_many(self, ids: list[str]) -> list[Comment | None]:
        pipe = self.r.pipeline(transaction=False)
        self.queue_get_many(pipe, ids)
        return self.decode_many(pipe.execute())

    def queue_get_many(self, pipe: Any, ids: list[str]) -> None:
        """Queue the reads of `get_many` on the caller's pipeline (see `decode_many`)."""
        for cid in ids:
            pipe.hgetall(self.keys.comment(cid))

    def decode_many(self, replies: list[dict[str, str]]) -> list[Comment | None]:
        return [self._decode(raw) for raw in replies]

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
            appeal=json.loads(raw["appeal"]) if raw.get("appeal") else None,
            final=raw.get("final") == "1",
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
    #
    # Every state change below is one WATCH/MULTI transaction: it reads the comment under
    # WATCH, then moves the status, the indexes (article, pending, review), the counters,
    # the comment's event and, for a person's action, the audit entry all together.

    def _read_current(self, pipe: Any, comment_id: str) -> _Current | None:
        return self._current_of(
            comment_id, pipe.hmget(self.keys.comment(comment_id), _STATE_FIELDS)
        )

    @staticmethod
    def _current_of(comment_id: str, raw: Sequence[Any]) -> _Current | None:
        """The state of `_STATE_FIELDS`' values, as HMGET returned them."""
        values = dict(zip(_STATE_FIELDS, raw, strict=True))
        if values["status"] is None:
            return None
        return _Current(
            id=comment_id,
            status=Status(values["status"]),
            revision=int(values["revision"]),
            verdict=Verdict.model_validate_json(values["verdict"]) if values["verdict"] else None,
            article_id=values["article_id"],
            author_id=values["author_id"],
            created_ms=epoch_ms(datetime.fromisoformat(values["created_at"])),
            submitted_at=values["submitted_at"] or "",
            facets=Facets.loads(values["review_facets"]) if values["review_facets"] else None,
            previous=values["previous"] or "",
            appealed_revision=int(values["appealed_revision"] or 0),
            final=values["final"] == "1",
        )

    def _transition(
        self,
        pipe: Any,
        cur: _Current,
        new_status: Status,
        verdict: Verdict | None,
        event: CommentEvent,
        *,
        fields: dict[str, str] | None = None,
        revision: int | None = None,
        author_rejections: int | None = None,
    ) -> None:
        """Inside a MULTI: the status, its indexes and the event move together."""
        key = self.keys.comment(cur.id)
        # The author's history raises an item's review priority (read now, not queued,
        # unless the caller read it already).
        rejections = 0
        if new_status in INDEXED_STATUSES:
            rejections = (
                author_rejections
                if author_rejections is not None
                else self.author_counts(cur.author_id).get(Status.REJECTED.value, 0)
            )
        facets = facets_of(
            article_id=cur.article_id,
            author_id=cur.author_id,
            created_ms=cur.created_ms,
            revision=revision or cur.revision,
            verdict=verdict,
            author_rejections=rejections,
        )
        pipe.hset(
            key,
            mapping={
                "status": new_status.value,
                "verdict": verdict.model_dump_json() if verdict else "",
                "updated_at": event.at,
                "review_facets": facets.dumps(),
                **(fields or {}),
            },
        )
        if cur.status is not new_status:
            pipe.zrem(self.keys.article_comments(cur.article_id, cur.status), cur.id)
        pipe.zadd(self.keys.article_comments(cur.article_id, new_status), {cur.id: cur.created_ms})
        if cur.facets is not None:
            self.review.remove(pipe, cur.id, cur.status, cur.facets)
        self.review.add(pipe, cur.id, new_status, facets)
        if new_status is Status.PENDING:
            pipe.zadd(self.keys.pending(), {cur.id: epoch_ms(utcnow())})
        else:
            pipe.zrem(self.keys.pending(), cur.id)
        # The explanation queue holds exactly the comments whose stored verdict is a machine
        # verdict of the current revision still waiting for spans: a decision or an edit
        # takes the comment out, an undo that restores such a verdict puts it back.
        if (
            verdict is not None
            and verdict.explanation == "pending"
            and verdict.decided_by in (DecidedBy.MODEL, DecidedBy.RULES)
            and verdict.revision == (revision or cur.revision)
        ):
            pipe.zadd(self.keys.explain_pending(), {cur.id: epoch_ms(utcnow())})
        else:
            pipe.zrem(self.keys.explain_pending(), cur.id)
        # The dead-letter set holds exactly the comments in status error, however they
        # leave it (retry, edit, a moderator's decision) or come back (undo).
        if new_status is Status.ERROR:
            pipe.zadd(self.keys.dead_letter(), {cur.id: epoch_ms(utcnow())})
        elif cur.status is Status.ERROR:
            pipe.zrem(self.keys.dead_letter(), cur.id)
        self.events.append(pipe, event)

    def _audit(
        self,
        pipe: Any,
        action: str,
        cur: _Current,
        actor: Actor,
        at: str,
        *,
        before: dict[str, Any],
        after: dict[str, Any],
        reason: str | None = None,
    ) -> None:
        """Inside the MULTI: a person's action on a comment, also filed under its author."""
        self.audit.append(
            pipe,
            AuditEntry(
                action=action,
                target_type="comment",
                target_id=cur.id,
                actor=actor.key_id,
                actor_name=actor.name,
                role=actor.role,
                at=at,
                before=before,
                after=after,
                reason=reason,
                also=[("author", cur.author_id)],
            ),
        )

    def _event(
        self, type: EventType, cur: _Current, new_status: Status, at: str, **extra: Any
    ) -> CommentEvent:
        return CommentEvent(
            type=type,
            comment_id=cur.id,
            article_id=cur.article_id,
            author_id=cur.author_id,
            revision=extra.pop("revision", cur.revision),
            status_before=cur.status,
            status_after=new_status,
            at=at,
            **extra,
        )

    def create(
        self, new: NewComment, *, gate: Gate | None = None, enqueued: bool = False
    ) -> tuple[CreateResult, Comment]:
        """Store a new comment as pending, or recognise a retry: atomic, and one round trip
        (a script) that also returns the stored comment. With a gate, the request's rate
        limits are checked (and its key's request counted) first, in the same script:
        GateClosed when they say no, and then nothing is written.

        `enqueued` records the comment as queued already: the API sets it because it
        publishes right after, and clears it again (`mark_enqueued(False)`) if the publish
        fails, which saves a write after every publish. If the API process dies between
        the two, the comment stays pending with the flag set and the sweeper queues it."""
        key = self.keys.comment(new.id)
        now = iso(utcnow())
        now_ms = epoch_ms(utcnow())
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
            "enqueued": "1" if enqueued else "0",
            "attempts": "0",
            "received_at": now,
            "submitted_at": now,
        }
        event = CommentEvent(
            type=EventType.STORED,
            comment_id=new.id,
            article_id=new.article_id,
            author_id=new.author_id,
            revision=1,
            status_before=None,
            status_after=Status.PENDING,
            at=now,
        )
        pipe = recorder(self.r)
        pipe.hset(key, mapping=record)
        pipe.zadd(self.keys.article_comments(new.article_id), {new.id: created_ms})
        pipe.zadd(self.keys.article_comments(new.article_id, Status.PENDING), {new.id: created_ms})
        pipe.zadd(self.keys.pending(), {new.id: now_ms})
        pipe.zadd(self.keys.author_comments(new.author_id), {new.id: created_ms})
        pipe.zadd(
            self.keys.author_recent(new.author_id),
            {f"{text_fingerprint(new.text)}:{new.id}": now_ms},
        )
        self.events.append(pipe, event)
        gate = gate or Gate()
        reply = self._script("ingest", INGEST_LUA)(args=[*gate.args(), key, *commands(pipe)])
        raise_if_closed(gate, reply)
        if reply[0] == "created":
            comment = self._decode(record)
            result = CreateResult.CREATED
        else:
            raw = dict(zip(reply[1::2], reply[2::2], strict=True))
            comment = self._decode(raw)
            result = (
                CreateResult.DUPLICATE
                if raw.get("body_hash") == new.body_hash
                else CreateResult.CONFLICT
            )
        assert comment is not None  # just written or already there
        return result, comment

    def _script(self, name: str, source: str) -> Any:
        """A Lua script, registered once per store (redis-py runs it by SHA, loading it
        again if the server lost it)."""
        scripts: dict[str, Any] = self.__dict__.setdefault("_scripts", {})
        if name not in scripts:
            scripts[name] = self.r.register_script(source)
        return scripts[name]

    def mark_enqueued(self, comment_id: str, queued: bool = True) -> None:
        self.r.hset(self.keys.comment(comment_id), "enqueued", "1" if queued else "0")

    def edit(self, comment_id: str, text: str) -> Comment | None:
        """A new revision: back to pending, to be moderated again. The verdict stays, as
        the previous revision's (its `revision` says so), until the new one is classified."""
        key = self.keys.comment(comment_id)

        def txn(pipe: Any) -> bool:
            cur = self._read_current(pipe, comment_id)
            if cur is None:
                return False
            now = iso(utcnow())
            revision = cur.revision + 1
            event = self._event(EventType.EDITED, cur, Status.PENDING, now, revision=revision)
            pipe.multi()
            self._transition(
                pipe,
                cur,
                Status.PENDING,
                cur.verdict,
                event,
                revision=revision,
                fields={
                    "text": text,
                    "enqueued": "0",
                    "attempts": "0",
                    "submitted_at": now,
                    "revision": str(revision),
                    "previous": "",
                    "final": "0",
                },
            )
            return True

        if not self.r.transaction(txn, key, value_from_callable=True):
            return None
        return self.get(comment_id)

    def write_machine_verdict(
        self, comment_id: str, revision: int, verdict: Verdict
    ) -> VerdictWrite:
        """Store a model+rules verdict unless the comment was edited meanwhile, a moderator has
        decided (or it is under appeal), or an equivalent verdict (same model and ruleset) is
        already there."""
        key = self.keys.comment(comment_id)

        def txn(pipe: Any) -> VerdictWrite:
            cur = self._read_current(pipe, comment_id)
            outcome = self._machine_verdict_outcome(cur, revision, verdict)
            if outcome is not VerdictWrite.WRITTEN:
                return outcome
            assert cur is not None
            pipe.multi()
            self._record_machine_verdict(pipe, cur, revision, verdict)
            return VerdictWrite.WRITTEN

        result: VerdictWrite = self.r.transaction(txn, key, value_from_callable=True)
        return result

    def write_machine_verdicts(
        self, items: Sequence[MachineVerdict]
    ) -> list[VerdictWrite | Exception]:
        """`write_machine_verdict` for a batch, in one round trip: each comment's change is
        decided on the state read with its rule context (`ContextReads.state`) and applied
        by a script only if that state is still the stored one, atomically with its event,
        as a WATCH/MULTI would. A comment changed in between (an edit, a decision) takes
        the one-comment path instead. One comment's bad record fails only that comment."""
        out: list[VerdictWrite | Exception] = []
        pipe = recorder(self.r)
        args: list[Any] = []
        applied_at: list[int] = []  # index in `items` of each change sent
        for i, item in enumerate(items):
            try:
                cur = self._current_of(item.comment_id, list(item.state))
                outcome = self._machine_verdict_outcome(cur, item.revision, item.verdict)
                if outcome is VerdictWrite.WRITTEN:
                    assert cur is not None
                    pipe.command_stack.clear()
                    self._record_machine_verdict(
                        pipe, cur, item.revision, item.verdict, item.author_rejections
                    )
                    args += [self.keys.comment(item.comment_id), len(_STATE_FIELDS)]
                    args += [*_STATE_FIELDS, *expected(list(item.state)), *commands(pipe)]
                    applied_at.append(i)
                out.append(outcome)
            except Exception as exc:
                out.append(exc)
        if applied_at:
            script = self._script("apply-if-unchanged", APPLY_IF_UNCHANGED_LUA)
            applied = script(args=[len(applied_at), *args])
            for i, ok in zip(applied_at, applied, strict=True):
                if not int(ok):
                    item = items[i]
                    try:
                        out[i] = self.write_machine_verdict(
                            item.comment_id, item.revision, item.verdict
                        )
                    except Exception as exc:
                        out[i] = exc
        return out

    @staticmethod
    def _machine_verdict_outcome(
        cur: _Current | None, revision: int, verdict: Verdict
    ) -> VerdictWrite:
        if cur is None:
            return VerdictWrite.MISSING
        if cur.revision != revision:
            return VerdictWrite.STALE
        if cur.moderator_decided or cur.status is Status.APPEALED:
            return VerdictWrite.KEPT
        current = cur.verdict
        if (
            cur.status is not Status.PENDING
            and current is not None
            and (current.model == verdict.model and current.ruleset == verdict.ruleset)
        ):
            return VerdictWrite.KEPT
        return VerdictWrite.WRITTEN

    def _record_machine_verdict(
        self,
        pipe: Any,
        cur: _Current,
        revision: int,
        verdict: Verdict,
        author_rejections: int | None = None,
    ) -> None:
        """Queue a machine verdict's change on a MULTI or a recorder: the status and its
        indexes, the event, the counters and the latency histogram."""
        stored = verdict.model_copy(update={"revision": revision})
        event = CommentEvent.of_verdict(
            EventType.for_machine_verdict(stored.status),
            comment_id=cur.id,
            article_id=cur.article_id,
            author_id=cur.author_id,
            revision=revision,
            status_before=cur.status,
            verdict=stored,
        )
        self._transition(
            pipe, cur, stored.status, stored, event, author_rejections=author_rejections
        )
        pipe.hincrby(self.keys.verdict_counts(), stored.status.value, 1)
        self._count_author(pipe, cur.author_id, cur.status, stored.status)
        if cur.submitted_at and cur.status is Status.PENDING:
            waited = (
                datetime.fromisoformat(stored.decided_at) - datetime.fromisoformat(cur.submitted_at)
            ).total_seconds()
            self._observe_latency(pipe, max(waited, 0.0))

    def attach_spans(
        self, comment_id: str, revision: int, decided_at: str, spans: list[Span]
    ) -> bool:
        """Add explanation spans to the machine verdict they explain, if it is still the
        stored one (same revision and decided_at, not a moderator's decision). Adding spans
        changes no status: no event, no index moves, so not through `_transition`. The
        pending-explanation entry goes with the spans."""
        key = self.keys.comment(comment_id)

        def txn(pipe: Any) -> bool:
            raw = pipe.hget(key, "verdict")
            verdict = Verdict.model_validate_json(raw) if raw else None
            if (
                verdict is None
                or verdict.revision != revision
                or verdict.decided_at != decided_at
                or verdict.decided_by not in (DecidedBy.MODEL, DecidedBy.RULES)
                or verdict.explanation != "pending"
            ):
                # Late spans for a verdict no longer stored. The entry stays if the verdict
                # now stored is a machine verdict waiting for spans of its own.
                if (
                    verdict is None
                    or verdict.explanation != "pending"
                    or verdict.decided_by not in (DecidedBy.MODEL, DecidedBy.RULES)
                ):
                    pipe.multi()
                    pipe.zrem(self.keys.explain_pending(), comment_id)
                return False
            updated = verdict.model_copy(
                update={
                    "reasons": reasons_with_spans(verdict.reasons, spans),
                    "explanation": "ready",
                }
            )
            pipe.multi()
            pipe.hset(key, "verdict", updated.model_dump_json())
            pipe.zrem(self.keys.explain_pending(), comment_id)
            return True

        ok: bool = self.r.transaction(txn, key, value_from_callable=True)
        return ok

    def claim_explanations(self, limit: int, lease_s: float) -> list[str]:
        """Up to `limit` comments due for spans, leased for `lease_s`: a worker that dies
        while explaining leaves them to another once the lease ends."""
        now = epoch_ms(utcnow())
        claimed: list[str] = self._claim_script(
            keys=[self.keys.explain_pending()], args=[now, now + int(lease_s * 1000), limit]
        )
        return claimed

    @property
    def _claim_script(self) -> Any:
        script = getattr(self, "_claim", None)
        if script is None:
            script = self._claim = self.r.register_script(_CLAIM_LUA)
        return script

    def drop_explanation(self, comment_id: str) -> None:
        """Nothing to explain (any more): a new machine verdict adds its own entry."""
        self.r.zrem(self.keys.explain_pending(), comment_id)

    def explanations_pending(self) -> int:
        return int(self.r.zcard(self.keys.explain_pending()))

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
            cur = self._read_current(pipe, comment_id)
            if cur is None or cur.revision != revision or cur.status is not Status.PENDING:
                return False
            verdict = Verdict(
                status=Status.ERROR,
                decided_by=DecidedBy.SYSTEM,
                decided_at=iso(now),
                revision=revision,
            )
            event = CommentEvent.of_verdict(
                EventType.ERROR,
                comment_id=comment_id,
                article_id=cur.article_id,
                author_id=cur.author_id,
                revision=revision,
                status_before=cur.status,
                verdict=verdict,
            ).model_copy(update={"reason": message[:500]})
            pipe.multi()
            self._transition(
                pipe, cur, Status.ERROR, verdict, event, fields={"last_error": message[:2000]}
            )
            pipe.hincrby(self.keys.verdict_counts(), Status.ERROR.value, 1)
            return True

        ok: bool = self.r.transaction(txn, key, value_from_callable=True)
        return ok

    def retry_errored(self, comment_id: str, actor: Actor | None = None) -> bool:
        """Put a dead-lettered comment back to pending (operator action)."""
        key = self.keys.comment(comment_id)

        def txn(pipe: Any) -> bool:
            cur = self._read_current(pipe, comment_id)
            if cur is None or cur.status is not Status.ERROR:
                return False
            event = self._event(
                EventType.RETRIED,
                cur,
                Status.PENDING,
                iso(utcnow()),
                actor=actor.key_id if actor else None,
            )
            pipe.multi()
            self._transition(
                pipe, cur, Status.PENDING, None, event, fields={"attempts": "0", "enqueued": "0"}
            )
            return True

        ok: bool = self.r.transaction(txn, key, value_from_callable=True)
        return ok

    def decide(
        self,
        comment_id: str,
        revision: int,
        decision: Decision,
        *,
        reason: str,
        note: str | None,
        actor: Actor,
        bulk_id: str | None = None,
    ) -> tuple[DecisionResult, int]:
        """A moderator's decision: final over the machine, recorded with who and when, and
        undoable for a while (the state it replaced is kept). Returns the outcome and the
        comment's current revision."""
        key = self.keys.comment(comment_id)

        def txn(pipe: Any) -> tuple[DecisionResult, int]:
            cur = self._read_current(pipe, comment_id)
            if cur is None:
                return DecisionResult.MISSING, 0
            if cur.revision != revision:
                return DecisionResult.STALE, cur.revision
            if cur.final:
                return DecisionResult.FINAL, cur.revision
            if cur.moderator_decided and cur.status is decision.status:
                return DecisionResult.UNCHANGED, cur.revision
            prior_agreement = pipe.hget(key, "agreement")
            now = iso(utcnow())
            base = cur.verdict or Verdict(
                status=cur.status, decided_by=DecidedBy.SYSTEM, decided_at=now
            )
            verdict = base.model_copy(
                update={
                    "status": decision.status,
                    "decided_by": DecidedBy.MODERATOR,
                    "decided_at": now,
                    "revision": cur.revision,
                    "notify": [],
                    # Spans are added to machine verdicts only: none will come to this one.
                    "explanation": None if base.explanation == "pending" else base.explanation,
                    "decision": ModeratorDecision(
                        decision=decision,
                        reason=reason,
                        note=note,
                        actor=actor.key_id,
                        actor_name=actor.name,
                        role=actor.role,
                    ),
                }
            )
            event = CommentEvent.of_verdict(
                EventType.DECIDED,
                comment_id=comment_id,
                article_id=cur.article_id,
                author_id=cur.author_id,
                revision=cur.revision,
                status_before=cur.status,
                verdict=verdict,
            )
            previous = json.dumps(
                {
                    "status": cur.status.value,
                    "verdict": cur.verdict.model_dump_json() if cur.verdict else "",
                    "final": cur.final,
                    "agreement": prior_agreement or "",
                }
            )
            pipe.multi()
            agreement = self.agreement.on_decide(
                pipe,
                prior=prior_agreement,
                status_before=cur.status,
                verdict=cur.verdict,
                revision=cur.revision,
                decision=decision.status,
            )
            self._transition(
                pipe,
                cur,
                decision.status,
                verdict,
                event,
                fields={
                    "previous": previous,
                    "final": "1" if cur.status is Status.APPEALED else "0",
                    "agreement": agreement,
                },
            )
            self._count_author(pipe, cur.author_id, cur.status, decision.status)
            self._audit(
                pipe,
                "comment.decide",
                cur,
                actor,
                now,
                before={"status": cur.status.value, "revision": cur.revision},
                after={
                    "status": decision.status.value,
                    "revision": cur.revision,
                    **({"note": note} if note else {}),
                    **({"bulk_id": bulk_id} if bulk_id else {}),
                },
                reason=reason,
            )
            return DecisionResult.DECIDED, cur.revision

        result: tuple[DecisionResult, int] = self.r.transaction(txn, key, value_from_callable=True)
        return result

    def undo_decision(self, comment_id: str, *, actor: Actor, window_s: int) -> UndoResult:
        """Restore the state a moderator's decision replaced, within `window_s` of it."""
        key = self.keys.comment(comment_id)

        def txn(pipe: Any) -> UndoResult:
            cur = self._read_current(pipe, comment_id)
            if cur is None:
                return UndoResult.MISSING
            if not cur.moderator_decided or not cur.previous or cur.verdict is None:
                return UndoResult.NOTHING
            age = (utcnow() - datetime.fromisoformat(cur.verdict.decided_at)).total_seconds()
            if age > window_s:
                return UndoResult.EXPIRED
            previous = json.loads(cur.previous)
            current_agreement = pipe.hget(key, "agreement")
            old_status = Status(previous["status"])
            old_verdict = (
                Verdict.model_validate_json(previous["verdict"]) if previous["verdict"] else None
            )
            now = iso(utcnow())
            event = self._event(
                EventType.UNDONE,
                cur,
                old_status,
                now,
                decided_by=old_verdict.decided_by.value if old_verdict else None,
                actor=actor.key_id,
            )
            pipe.multi()
            agreement = self.agreement.on_undo(
                pipe, current=current_agreement, restored=previous.get("agreement")
            )
            self._transition(
                pipe,
                cur,
                old_status,
                old_verdict,
                event,
                fields={
                    "previous": "",
                    "final": "1" if previous.get("final") else "0",
                    "agreement": agreement,
                },
            )
            self._count_author(pipe, cur.author_id, cur.status, old_status)
            self._audit(
                pipe,
                "comment.undo",
                cur,
                actor,
                now,
                before={"status": cur.status.value},
                after={"status": old_status.value},
            )
            return UndoResult.UNDONE

        result: UndoResult = self.r.transaction(txn, key, value_from_callable=True)
        return result

    def appeal(self, comment_id: str, message: str, *, actor: Actor) -> AppealResult:
        """The site asks, once per rejected revision, for a moderator to look again."""
        key = self.keys.comment(comment_id)

        def txn(pipe: Any) -> AppealResult:
            cur = self._read_current(pipe, comment_id)
            if cur is None:
                return AppealResult.MISSING
            if cur.appealed_revision == cur.revision:
                return AppealResult.ALREADY
            if cur.status is not Status.REJECTED:
                return AppealResult.NOT_REJECTED
            now = iso(utcnow())
            event = self._event(
                EventType.APPEALED, cur, Status.APPEALED, now, actor=actor.key_id, reason=message
            )
            if cur.verdict is not None:
                event = event.model_copy(
                    update={
                        "decided_by": cur.verdict.decided_by.value,
                        "tags": cur.verdict.tags,
                        "rule_ids": cur.verdict.rule_ids(),
                        "labels": cur.verdict.labels_over_threshold(),
                    }
                )
            pipe.multi()
            self._transition(
                pipe,
                cur,
                Status.APPEALED,
                cur.verdict,
                event,
                fields={
                    "appealed_revision": str(cur.revision),
                    "appeal": json.dumps({"message": message, "revision": cur.revision, "at": now}),
                    "previous": "",
                },
            )
            self._audit(
                pipe,
                "comment.appeal",
                cur,
                actor,
                now,
                before={"status": cur.status.value},
                after={"status": Status.APPEALED.value},
                reason=message,
            )
            return AppealResult.APPEALED

        result: AppealResult = self.r.transaction(txn, key, value_from_callable=True)
        return result

    def touch_pending(self, comment_id: str) -> int:
        """Record one more delivery attempt by the sweeper; returns the attempt count."""
        pipe = self.r.pipeline()
        pipe.hincrby(self.keys.comment(comment_id), "attempts", 1)
        pipe.zadd(self.keys.pending(), {comment_id: epoch_ms(utcnow())}, xx=True)
        attempts, _ = pipe.execute()
        return int(attempts)

    def _count_author(self, pipe: Any, author_id: str, old: Status, new: Status) -> None:
        if old is new:
            return
        key = self.keys.author_stats(author_id)
        if old in (Status.APPROVED, Status.FLAGGED, Status.REJECTED):
            pipe.hincrby(key, old.value, -1)
        if new in (Status.APPROVED, Status.FLAGGED, Status.REJECTED):
            pipe.hincrby(key, new.value, 1)

    # -- context for rules ---------------------------------------------------------------

    def context_reads(self, queries: Sequence[ContextQuery]) -> list[ContextReads]:
        """What the rules read for each comment: author counts, recent activity, standing
        and article settings, and the comment's state (for `write_machine_verdicts`), all
        in one round trip."""
        now = self.clock()
        now_ms = epoch_ms(utcnow())
        pipe = self.r.pipeline(transaction=False)
        for q in queries:
            window_s = max(q.repeat_window_s, q.burst_window_s)
            recent = self.keys.author_recent(q.author_id)
            pipe.hgetall(self.keys.author_stats(q.author_id))
            pipe.zremrangebyscore(recent, "-inf", now_ms - 24 * 3600 * 1000)  # bounded memory
            pipe.zrangebyscore(recent, now_ms - window_s * 1000, "+inf", withscores=True)
            pipe.expire(recent, 24 * 3600)
            pipe.hgetall(self.keys.author_profile(q.author_id))
            pipe.hgetall(self.keys.article_settings(q.article_id))
            pipe.hmget(self.keys.comment(q.comment_id), _STATE_FIELDS)
        replies = pipe.execute()
        out: list[ContextReads] = []
        for i, q in enumerate(queries):
            counts, _, members, _, profile, article, state = replies[i * 7 : i * 7 + 7]
            others = [(m, s) for m, s in members if not m.endswith(f":{q.comment_id}")]
            fingerprint = text_fingerprint(q.text)
            same = sum(
                1
                for m, posted in others
                if posted >= now_ms - q.repeat_window_s * 1000 and m.split(":", 1)[0] == fingerprint
            )
            burst = sum(1 for _, posted in others if posted >= now_ms - q.burst_window_s * 1000)
            out.append(
                ContextReads(
                    counts={k: int(v) for k, v in counts.items()},
                    same_text=same,
                    burst=burst,
                    profile=effective_profile(profile, now),
                    article=_article_settings(article),
                    state=tuple(state),
                )
            )
        return out

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
        return _article_settings(self.r.hgetall(self.keys.article_settings(article_id)))

    def set_article_settings(self, article_id: str, settings: dict[str, Any]) -> dict[str, Any]:
        encoded = {
            k: ("1" if v else "0") if isinstance(v, bool) else str(v) for k, v in settings.items()
        }
        if encoded:
            self.r.hset(self.keys.article_settings(article_id), mapping=encoded)
        return self.article_settings(article_id)

    def author_profile(self, author_id: str, at: datetime | None = None) -> dict[str, Any]:
        """The standing in force now (or `at`): an expired ban reads as no ban."""
        raw = self.r.hgetall(self.keys.author_profile(author_id))
        return effective_profile(raw, at or self.clock())


def _article_settings(raw: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "premoderate" in raw:
        out["premoderate"] = raw["premoderate"] == "1"
    if "closed" in raw:
        out["closed"] = raw["closed"] == "1"
    if "sensitivity" in raw:
        out["sensitivity"] = float(raw["sensitivity"])
    return out


@dataclass(frozen=True)
class ContextQuery:
    """One comment whose rule context to read (CommentStore.context_reads)."""

    comment_id: str
    author_id: str
    article_id: str
    text: str
    repeat_window_s: int
    burst_window_s: int


@dataclass(frozen=True)
class ContextReads:
    """The store's part of a comment's rule context (see CommentStore.context_reads), and
    the comment's state as read with it."""

    counts: dict[str, int]
    same_text: int
    burst: int
    profile: dict[str, Any]
    article: dict[str, Any]
    state: tuple[str | None, ...] = ()


@dataclass(frozen=True)
class MachineVerdict:
    """A verdict to store (CommentStore.write_machine_verdicts), with the comment's state it
    was decided on and the author's rejections its review priority counts."""

    comment_id: str
    revision: int
    verdict: Verdict
    state: tuple[str | None, ...]
    author_rejections: int


# KEYS[1] the pending-explanation set; ARGV now ms, lease end ms, limit. Due entries get the
# lease end as their score, so no other worker claims them until it passes.
_CLAIM_LUA = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(due) do
  redis.call('ZADD', KEYS[1], 'XX', ARGV[2], id)
end
return due
"""


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
