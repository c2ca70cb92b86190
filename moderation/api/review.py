"""The moderators' API: the review queue, claims, decisions and their undo, bulk decisions,
appeals (posted by the site) and a comment's history."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from flask import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field, RootModel, StringConstraints

from moderation import review
from moderation.api.auth import Caller, services
from moderation.api.framework import operation
from moderation.api.schemas import NO_NUL_PATTERN, CommentOut, Identifier
from moderation.domain.events import CommentEvent
from moderation.domain.verdict import Decision, Status
from moderation.errors import Problem
from moderation.store.review import (
    CURSOR_PATTERN,
    ReviewFilter,
    decode_cursor,
    encode_cursor,
)

bp = Blueprint("review", __name__, url_prefix="/v1")

ReviewStatus = Literal["flagged", "rejected", "approved", "error", "appealed"]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=NO_NUL_PATTERN)]
Note = Annotated[str, StringConstraints(max_length=2000, pattern=NO_NUL_PATTERN)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z_]+$")]


class FilterIn(BaseModel):
    """Which comments: a status (flagged by default) narrowed by any of the facets."""

    model_config = ConfigDict(extra="forbid")

    status: ReviewStatus = "flagged"
    article_id: Identifier | None = None
    author_id: Identifier | None = None
    label: Label | None = Field(default=None, description="A model label over its threshold.")
    rule_id: Identifier | None = Field(default=None, description="A rule that fired.")
    tag: Identifier | None = Field(default=None, description="A tag of a rule that fired.")
    edited: bool | None = Field(default=None, description="Only comments edited (revision > 1).")
    min_score: float | None = Field(default=None, ge=0, le=1)
    max_score: float | None = Field(default=None, ge=0, le=1)

    def to_filter(self) -> ReviewFilter:
        return ReviewFilter(
            status=Status(self.status),
            article_id=self.article_id,
            author_id=self.author_id,
            label=self.label,
            rule_id=self.rule_id,
            tag=self.tag,
            edited=self.edited,
            min_score=self.min_score,
            max_score=self.max_score,
        )


class ReviewQueryIn(FilterIn):
    sort: Literal["priority", "age", "score"] = Field(
        default="priority",
        description="priority (rule severity, score, author history) or score: highest first; "
        "age: oldest first.",
    )
    limit: int = Field(default=25, ge=1, le=100)
    cursor: Annotated[str, StringConstraints(max_length=200, pattern=CURSOR_PATTERN)] | None = (
        Field(default=None, description="The `next_cursor` of the previous page.")
    )


class ClaimOut(BaseModel):
    actor: str
    actor_name: str
    expires_in_s: int


class ReviewItemOut(BaseModel):
    comment: CommentOut
    claim: ClaimOut | None


class ReviewCounts(BaseModel):
    by_status: dict[str, int]
    by_article: dict[str, int] = Field(description="Articles with the most comments in the status.")


class ReviewPageOut(BaseModel):
    items: list[ReviewItemOut]
    next_cursor: str | None
    total: int = Field(description="Comments matching the filter.")
    counts: ReviewCounts


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Decision
    reason: Reason
    note: Note | None = None
    revision: int = Field(ge=1, description="The revision the moderator read.")


class BulkItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Identifier
    revision: int | None = Field(default=None, ge=1)


class _BulkBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Decision
    reason: Reason
    note: Note | None = None


class BulkByItems(_BulkBase):
    items: list[BulkItem] = Field(
        min_length=1, max_length=1000, description="Ids, each with the revision seen."
    )


class BulkByFilter(_BulkBase):
    filter: FilterIn = Field(description="Every comment the filter matches now.")


class BulkIn(RootModel[BulkByItems | BulkByFilter]):
    """Either `items` or `filter`, not both: stated in the schema, so any body the schema
    accepts is one the server accepts."""


class BulkSkip(BaseModel):
    id: str
    why: Literal["claimed", "edited", "already", "final", "not-found"]


class BulkOut(BaseModel):
    bulk_id: str
    changed: int
    changed_ids: list[str]
    skipped: list[BulkSkip]


class AppealIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: Annotated[
        str, StringConstraints(min_length=1, max_length=2000, pattern=NO_NUL_PATTERN)
    ]


class HistoryOut(BaseModel):
    comment_id: str
    events: list[CommentEvent]


def _claim_out(held: dict[str, Any] | None) -> ClaimOut | None:
    return ClaimOut(**held) if held else None


@bp.get("/review")
@operation(
    "The review queue across articles",
    roles=("moderator",),
    query=ReviewQueryIn,
    responses={200: ReviewPageOut, 422: Problem},
    tags=("review",),
    description="Flagged comments by default, highest priority first, with counts per status "
    "and per article. Read from indexes kept with each status change, never a scan.",
)
def get_review(*, caller: Caller, query: ReviewQueryIn) -> Any:
    page = review.query_queue(
        services(),
        review.ReviewQuery(
            filter=query.to_filter(),
            sort=query.sort,
            limit=query.limit,
            cursor=decode_cursor(query.cursor) if query.cursor else None,
        ),
    )
    return ReviewPageOut(
        items=[
            ReviewItemOut(comment=CommentOut.of(i.comment), claim=_claim_out(i.claim))
            for i in page.items
        ],
        next_cursor=encode_cursor(page.next_cursor) if page.next_cursor else None,
        total=page.total,
        counts=ReviewCounts(by_status=page.counts_by_status, by_article=page.counts_by_article),
    )


@bp.post("/review/<comment_id>/claim")
@operation(
    "Claim (or renew the claim on) a review item for a few minutes",
    roles=("moderator",),
    responses={200: ClaimOut, 404: Problem, 409: Problem},
    tags=("review",),
)
def post_claim(comment_id: str, *, caller: Caller) -> Any:
    return ClaimOut(**review.claim(services(), caller, comment_id))


@bp.delete("/review/<comment_id>/claim")
@operation(
    "Release one's claim on a review item",
    roles=("moderator",),
    responses={204: None},
    tags=("review",),
)
def delete_claim(comment_id: str, *, caller: Caller) -> Any:
    review.release(services(), caller, comment_id)
    return Response(status=204)


@bp.post("/comments/<comment_id>/decision")
@operation(
    "Approve or reject a comment: final over the machine",
    roles=("moderator",),
    body=DecisionIn,
    responses={200: CommentOut, 404: Problem, 409: Problem, 422: Problem},
    tags=("review",),
    description="Recorded with who and when; a machine re-run never overwrites it. A revision "
    "that is no longer current is a 409 naming the current one; so is someone else's claim.",
)
def post_decision(comment_id: str, *, caller: Caller, body: DecisionIn) -> Any:
    comment = review.decide(
        services(),
        caller,
        comment_id,
        body.decision,
        reason=body.reason,
        note=body.note,
        revision=body.revision,
    )
    return CommentOut.of(comment)


@bp.delete("/comments/<comment_id>/decision")
@operation(
    "Undo a moderator's decision within the undo window",
    roles=("moderator",),
    responses={200: CommentOut, 404: Problem, 409: Problem},
    tags=("review",),
)
def delete_decision(comment_id: str, *, caller: Caller) -> Any:
    return CommentOut.of(review.undo(services(), caller, comment_id))


@bp.post("/review/bulk")
@operation(
    "Decide many comments: by ids or by a filter",
    roles=("moderator",),
    body=BulkIn,
    responses={200: BulkOut, 422: Problem},
    tags=("review",),
    description="Answers how many changed and which were skipped (claimed by someone else, "
    "edited meanwhile, already decided so). Safe to repeat.",
)
def post_bulk(*, caller: Caller, body: BulkIn) -> Any:
    chosen = body.root
    result = review.bulk_decide(
        services(),
        caller,
        chosen.decision,
        reason=chosen.reason,
        note=chosen.note,
        items=[(i.id, i.revision) for i in chosen.items]
        if isinstance(chosen, BulkByItems)
        else None,
        flt=chosen.filter.to_filter() if isinstance(chosen, BulkByFilter) else None,
    )
    return BulkOut(
        bulk_id=result.bulk_id,
        changed=len(result.changed),
        changed_ids=result.changed,
        skipped=[BulkSkip.model_validate(s) for s in result.skipped],
    )


@bp.post("/comments/<comment_id>/appeal")
@operation(
    "Appeal a rejection (once per rejected revision)",
    roles=("site",),
    body=AppealIn,
    responses={202: CommentOut, 404: Problem, 409: Problem, 422: Problem},
    tags=("review",),
    description="The comment re-enters the review queue as `appealed`; the decision on it is "
    "final.",
)
def post_appeal(comment_id: str, *, caller: Caller, body: AppealIn) -> Any:
    return CommentOut.of(review.appeal(services(), caller, comment_id, body.message)), 202


@bp.get("/comments/<comment_id>/history")
@operation(
    "A comment's events, oldest first: every state change with who and why",
    roles=("moderator",),
    responses={200: HistoryOut, 404: Problem},
    tags=("review",),
)
def get_history(comment_id: str, *, caller: Caller) -> Any:
    return HistoryOut(comment_id=comment_id, events=review.comment_history(services(), comment_id))
