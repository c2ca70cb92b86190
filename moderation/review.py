"""What moderators do, shared by the JSON API and the moderator page: read the queue, claim
an item, decide, undo, decide in bulk, and read a comment's history. Each function takes the
process's Services and the acting Caller and raises ProblemError for what the person must
be told (a stale revision, someone else's claim, an expired undo)."""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

import structlog

from moderation.api.auth import Caller
from moderation.domain.comment import Comment
from moderation.domain.events import CommentEvent
from moderation.domain.verdict import Decision
from moderation.errors import ProblemError
from moderation.services import Services
from moderation.store.audit import AuditEntry
from moderation.store.comments import AppealResult, DecisionResult, UndoResult
from moderation.store.review import Cursor, ReviewFilter, ReviewSort

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ReviewQuery:
    filter: ReviewFilter = field(default_factory=ReviewFilter)
    sort: ReviewSort = "priority"
    limit: int = 25
    cursor: Cursor | None = None


@dataclass
class ReviewItem:
    comment: Comment
    claim: dict[str, Any] | None


@dataclass
class ReviewPage:
    items: list[ReviewItem]
    next_cursor: Cursor | None
    total: int
    counts_by_status: dict[str, int]
    counts_by_article: dict[str, int]


@dataclass
class BulkResult:
    bulk_id: str
    changed: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)


def not_found(comment_id: str) -> ProblemError:
    return ProblemError(404, "not-found", "Not Found", f"no comment with id {comment_id!r}")


def query_queue(svc: Services, query: ReviewQuery) -> ReviewPage:
    index = svc.comments.review
    ids, next_cursor, total = index.query(query.filter, query.sort, query.limit, query.cursor)
    # The page's comments, claims and counts in one round trip.
    pipe = svc.redis.pipeline(transaction=False)
    svc.comments.queue_get_many(pipe, ids)
    index.queue_reads(pipe, ids, query.filter.status)
    replies = pipe.execute()
    comments = svc.comments.decode_many(replies[: len(ids)])
    claims, by_status, by_article = index.queue_results(ids, replies[len(ids) :])
    return ReviewPage(
        items=[ReviewItem(c, claims.get(c.id)) for c in comments if c is not None],
        next_cursor=next_cursor,
        total=total,
        counts_by_status=by_status,
        counts_by_article=by_article,
    )


def claim(svc: Services, caller: Caller, comment_id: str) -> dict[str, Any]:
    """Take or renew the item for a few minutes; someone else's claim is a 409."""
    if svc.comments.get(comment_id) is None:
        raise not_found(comment_id)
    held = svc.comments.review.claim(
        comment_id, caller.key_id, caller.name, svc.settings.review_claim_ttl_s
    )
    if held["actor"] != caller.key_id:
        raise _claimed(comment_id, held)
    return held


def release(svc: Services, caller: Caller, comment_id: str) -> bool:
    return svc.comments.review.release(comment_id, caller.key_id)


def _claimed(comment_id: str, held: dict[str, Any]) -> ProblemError:
    who = held.get("actor_name") or held["actor"]
    return ProblemError(
        409,
        "claimed",
        "Conflict",
        f"comment {comment_id!r} is claimed by {who} for {held['expires_in_s']} more seconds",
        errors=[{"field": "claim", "message": f"claimed by {who}", **held}],
    )


def _claimed_by_other(svc: Services, caller: Caller, comment_id: str) -> dict[str, Any] | None:
    held = svc.comments.review.claims([comment_id]).get(comment_id)
    return held if held is not None and held["actor"] != caller.key_id else None


def decide(
    svc: Services,
    caller: Caller,
    comment_id: str,
    decision: Decision,
    *,
    reason: str,
    note: str | None,
    revision: int,
) -> Comment:
    if (held := _claimed_by_other(svc, caller, comment_id)) is not None:
        raise _claimed(comment_id, held)
    result, current = svc.comments.decide(
        comment_id, revision, decision, reason=reason, note=note, actor=caller.actor
    )
    if result is DecisionResult.MISSING:
        raise not_found(comment_id)
    if result is DecisionResult.STALE:
        raise ProblemError(
            409,
            "stale-revision",
            "Conflict",
            f"comment {comment_id!r} was edited: revision {revision} is no longer current; "
            f"the current revision is {current}",
            errors=[{"field": "revision", "message": "not current", "current_revision": current}],
        )
    if result is DecisionResult.FINAL:
        raise ProblemError(
            409,
            "final",
            "Conflict",
            f"comment {comment_id!r} was decided on appeal; that decision is final",
        )
    svc.comments.review.release(comment_id, caller.key_id)
    log.info(
        "comment.decided",
        comment_id=comment_id,
        decision=decision.value,
        by=caller.key_id,
        changed=result is DecisionResult.DECIDED,
    )
    comment = svc.comments.get(comment_id)
    assert comment is not None
    return comment


def undo(svc: Services, caller: Caller, comment_id: str) -> Comment:
    result = svc.comments.undo_decision(
        comment_id, actor=caller.actor, window_s=svc.settings.undo_window_s
    )
    if result is UndoResult.MISSING:
        raise not_found(comment_id)
    if result is UndoResult.NOTHING:
        raise ProblemError(
            409, "nothing-to-undo", "Conflict", f"comment {comment_id!r} has no decision to undo"
        )
    if result is UndoResult.EXPIRED:
        raise ProblemError(
            409,
            "undo-expired",
            "Conflict",
            f"the decision on {comment_id!r} is older than {svc.settings.undo_window_s} s "
            "and can no longer be undone; decide again instead",
        )
    log.info("comment.decision_undone", comment_id=comment_id, by=caller.key_id)
    comment = svc.comments.get(comment_id)
    assert comment is not None
    return comment


def bulk_decide(
    svc: Services,
    caller: Caller,
    decision: Decision,
    *,
    reason: str,
    note: str | None,
    items: list[tuple[str, int | None]] | None = None,
    flt: ReviewFilter | None = None,
) -> BulkResult:
    """Decide many: given (id, revision seen) pairs, or every comment a filter matches now
    (at most `bulk_max_items`). Claimed by someone else or edited meanwhile: skipped and
    said so. Repeating it changes nothing more ('already'). Each decision is audited with
    the bulk id, and the bulk action itself once more, with its selection and outcome."""
    result = BulkResult(bulk_id=f"bulk_{secrets.token_hex(6)}")
    if items is None:
        assert flt is not None
        ids, _, _ = svc.comments.review.query(flt, "age", svc.settings.bulk_max_items, None)
        items = [(cid, None) for cid in ids]
    comments = dict(
        zip([i for i, _ in items], svc.comments.get_many([i for i, _ in items]), strict=True)
    )
    claims = svc.comments.review.claims([i for i, _ in items])
    for comment_id, seen_revision in items:
        comment = comments.get(comment_id)
        if comment is None:
            result.skipped.append({"id": comment_id, "why": "not-found"})
            continue
        held = claims.get(comment_id)
        if held is not None and held["actor"] != caller.key_id:
            result.skipped.append({"id": comment_id, "why": "claimed"})
            continue
        revision = seen_revision if seen_revision is not None else comment.revision
        outcome, _ = svc.comments.decide(
            comment_id,
            revision,
            decision,
            reason=reason,
            note=note,
            actor=caller.actor,
            bulk_id=result.bulk_id,
        )
        if outcome is DecisionResult.DECIDED:
            result.changed.append(comment_id)
        else:
            why = {
                DecisionResult.STALE: "edited",
                DecisionResult.UNCHANGED: "already",
                DecisionResult.FINAL: "final",
                DecisionResult.MISSING: "not-found",
            }[outcome]
            result.skipped.append({"id": comment_id, "why": why})
    svc.audit.record(
        AuditEntry(
            action="review.bulk",
            target_type="bulk",
            target_id=result.bulk_id,
            actor=caller.key_id,
            actor_name=caller.name,
            role=caller.role,
            after={
                "decision": decision.value,
                "selected_by": "filter" if flt is not None else "items",
                **({"filter": _filter_summary(flt)} if flt is not None else {}),
                "changed": len(result.changed),
                "skipped": len(result.skipped),
            },
            reason=reason,
        )
    )
    log.info(
        "review.bulk",
        bulk_id=result.bulk_id,
        decision=decision.value,
        by=caller.key_id,
        changed=len(result.changed),
        skipped=len(result.skipped),
    )
    return result


def _filter_summary(flt: ReviewFilter) -> dict[str, Any]:
    return {k: v for k, v in asdict(flt).items() if v is not None}


def appeal(svc: Services, caller: Caller, comment_id: str, message: str) -> Comment:
    result = svc.comments.appeal(comment_id, message, actor=caller.actor)
    if result is AppealResult.MISSING:
        raise not_found(comment_id)
    if result is AppealResult.ALREADY:
        raise ProblemError(
            409,
            "already-appealed",
            "Conflict",
            f"revision of comment {comment_id!r} was appealed already; one appeal per revision",
        )
    if result is AppealResult.NOT_REJECTED:
        raise ProblemError(
            409,
            "not-rejected",
            "Conflict",
            f"comment {comment_id!r} is not rejected; only a rejection can be appealed",
        )
    log.info("comment.appealed", comment_id=comment_id, by=caller.key_id)
    comment = svc.comments.get(comment_id)
    assert comment is not None
    return comment


def comment_history(svc: Services, comment_id: str) -> list[CommentEvent]:
    if svc.comments.get(comment_id) is None:
        raise not_found(comment_id)
    return svc.events.for_comment(comment_id)
