"""POST/PUT/GET comments and the per-article listing."""

from __future__ import annotations

from typing import Any

import structlog
from flask import Blueprint, current_app, url_for
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError

from moderation.api.auth import Caller, services
from moderation.api.framework import operation
from moderation.api.schemas import CommentEdit, CommentIn, CommentList, CommentOut, ListQuery
from moderation.domain.comment import body_fingerprint, utcnow
from moderation.domain.verdict import Status
from moderation.errors import Problem, ProblemError
from moderation.queue import TaskQueue, enqueue_classification
from moderation.store.comments import CommentStore, CreateResult, NewComment
from moderation.store.ratelimit import Gate

bp = Blueprint("comments", __name__, url_prefix="/v1")
log = structlog.get_logger(__name__)


def task_queue() -> TaskQueue:
    queue: TaskQueue = current_app.extensions["moderation.queue"]
    return queue


def _not_found(comment_id: str) -> ProblemError:
    return ProblemError(404, "not-found", "Not Found", f"no comment with id {comment_id!r}")


def _stored_not_queued(comment_id: str) -> ProblemError:
    """The comment is durably stored but not (known to be) queued: say exactly that, so that
    nobody reads the 503 as "lost"; the retry of the same POST queues it."""
    return ProblemError(
        503,
        "queue-unavailable",
        "Service Unavailable",
        f"comment {comment_id!r} was stored but could not be queued for moderation; it stays "
        "pending and the sweeper queues it again (repeating the request is safe)",
        headers={"Retry-After": "5"},
    )


@bp.post("/comments")
@operation(
    "Submit a comment for moderation",
    roles=("site",),
    body=CommentIn,
    responses={
        202: CommentOut,
        200: CommentOut,
        409: Problem,
        413: Problem,
        415: Problem,
        422: Problem,
        503: Problem,
    },
    tags=("comments",),
    description="Stores the comment, then queues it for classification. Retrying with the same "
    "id and body is safe; the same id with a different body is a 409.",
    gated=True,
)
def create_comment(*, caller: Caller, body: CommentIn, gate: Gate) -> Any:
    svc = services()
    payload = body.model_dump(mode="json", exclude_none=True)
    new = NewComment(
        id=body.id,
        article_id=body.article_id,
        author_id=body.author_id,
        text=body.text,
        created_at=body.created_at or utcnow(),
        parent_id=body.parent_id,
        language=body.language,
        metadata=body.metadata,
        body_hash=body_fingerprint(payload),
    )
    # One round trip to Redis: the key's rate limit, then store-if-absent, marked as queued
    # ahead of the publish below (unmarked again if the publish fails).
    result, comment = svc.comments.create(new, gate=gate, enqueued=True)
    location = {"Location": url_for("comments.get_comment", comment_id=comment.id)}
    if result is CreateResult.CONFLICT:
        raise ProblemError(
            409,
            "conflict",
            "Conflict",
            f"comment {body.id!r} was already posted with a different body; "
            "use PUT /v1/comments/{id} to edit its text",
        )
    if result is CreateResult.DUPLICATE and comment.enqueued:
        return CommentOut.of(comment), 200, location
    # New, or stored earlier by a request whose enqueue failed: enqueue now. A broker error
    # propagates as 503; the comment stays stored and pending, and the sweeper re-queues it.
    try:
        if result is CreateResult.CREATED:
            _publish_or_unmark(svc.comments, comment.id)
        else:
            enqueue_classification(task_queue(), svc.comments, comment.id)
    except (BrokerError, RedisError) as exc:
        raise _stored_not_queued(comment.id) from exc
    comment.enqueued = True
    log.info(
        "comment.accepted",
        comment_id=comment.id,
        article_id=comment.article_id,
        retry=result is CreateResult.DUPLICATE,
    )
    return CommentOut.of(comment), 202, location


def _publish_or_unmark(comments: CommentStore, comment_id: str) -> None:
    """Publish a comment stored as queued; if the broker refuses it, record that it is not
    queued after all, so that the site's retry of the same POST queues it."""
    try:
        task_queue().classify(comment_id)
    except BrokerError:
        try:
            comments.mark_enqueued(comment_id, False)
        except RedisError:
            # Redis went too: the flag stays set and only the sweeper queues it (the
            # comment is in the pending set whatever the flag says).
            log.warning("comment.unmark_failed", comment_id=comment_id)
        raise


@bp.put("/comments/<comment_id>")
@operation(
    "Edit a comment's text; it is moderated again",
    roles=("site",),
    body=CommentEdit,
    responses={202: CommentOut, 200: CommentOut, 404: Problem, 422: Problem, 503: Problem},
    tags=("comments",),
)
def edit_comment(comment_id: str, *, caller: Caller, body: CommentEdit) -> Any:
    svc = services()
    current = svc.comments.get(comment_id)
    if current is None:
        raise _not_found(comment_id)
    if current.text == body.text and (current.enqueued or current.status is not Status.PENDING):
        return CommentOut.of(current), 200
    if current.text == body.text:
        # The site's retry of an edit whose enqueue failed (503): queue it now, as a retried
        # POST does, rather than leave it to the sweeper.
        comment = current
    else:
        edited = svc.comments.edit(comment_id, body.text)
        if edited is None:
            raise _not_found(comment_id)
        comment = edited
    try:
        enqueue_classification(task_queue(), svc.comments, comment_id)
    except (BrokerError, RedisError) as exc:
        raise _stored_not_queued(comment_id) from exc
    log.info("comment.edited", comment_id=comment_id, revision=comment.revision)
    return CommentOut.of(comment), 202


@bp.post("/comments/<comment_id>/retry")
@operation(
    "Re-queue a comment whose classification failed (status error)",
    roles=("admin",),
    responses={202: CommentOut, 404: Problem, 409: Problem, 503: Problem},
    tags=("operations",),
)
def retry_comment(comment_id: str, *, caller: Caller) -> Any:
    svc = services()
    if svc.comments.get(comment_id) is None:
        raise _not_found(comment_id)
    if not svc.comments.retry_errored(comment_id):
        raise ProblemError(
            409, "conflict", "Conflict", f"comment {comment_id!r} is not in status error"
        )
    try:
        enqueue_classification(task_queue(), svc.comments, comment_id)
    except (BrokerError, RedisError) as exc:
        raise _stored_not_queued(comment_id) from exc
    log.info("comment.retried", comment_id=comment_id, by=caller.key_id)
    comment = svc.comments.get(comment_id)
    assert comment is not None
    return CommentOut.of(comment), 202


@bp.get("/comments/<comment_id>")
@operation(
    "Read a comment and its verdict",
    roles=("site", "moderator"),
    responses={200: CommentOut, 404: Problem},
    tags=("comments",),
)
def get_comment(comment_id: str, *, caller: Caller) -> Any:
    comment = services().comments.get(comment_id)
    if comment is None:
        raise _not_found(comment_id)
    return CommentOut.of(comment)


def _decode_cursor(cursor: str) -> tuple[int, str]:
    # The query model's pattern guarantees "<created ms>:<comment id>".
    score, _, comment_id = cursor.partition(":")
    return int(score), comment_id


def _encode_cursor(cursor: tuple[int, str]) -> str:
    return f"{cursor[0]}:{cursor[1]}"


@bp.get("/articles/<article_id>/comments")
@operation(
    "List an article's comments, newest first",
    roles=("site", "moderator"),
    query=ListQuery,
    responses={200: CommentList, 422: Problem},
    tags=("comments",),
)
def list_article_comments(article_id: str, *, caller: Caller, query: ListQuery) -> Any:
    cursor = _decode_cursor(query.cursor) if query.cursor else None
    items, next_cursor = services().comments.list_article(
        article_id, query.status, query.limit, cursor
    )
    return CommentList(
        items=[CommentOut.of(c) for c in items],
        next_cursor=_encode_cursor(next_cursor) if next_cursor else None,
    )
