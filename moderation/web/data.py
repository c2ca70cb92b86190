"""The moderator page's one door to the data: builds the view models from the review
service shared with the JSON API, so that the page and the API cannot disagree."""

from __future__ import annotations

from typing import Any

from moderation.domain.comment import Comment
from moderation.domain.verdict import Status
from moderation.errors import ProblemError
from moderation.services import Services
from moderation.store.review import ReviewFilter
from moderation.store.websessions import WebSession
from moderation.web.models import (
    AuthorSummary,
    HistoryEntry,
    ItemView,
    LatestComment,
    QueueFilters,
    QueueView,
    Row,
)
from moderation.web.render import snippet

PAGE_SIZE = 50


def _decode_cursor(raw: str | None) -> tuple[float, str] | None:
    score, sep, last_id = (raw or "").partition("~")
    try:
        return (float(score), last_id) if sep and last_id else None
    except ValueError:
        return None


def load_queue(svc: Services, filters: QueueFilters, cursor: str | None) -> QueueView:
    status = Status(filters.status)
    review = svc.comments.review
    ids, next_cursor, total = review.query(
        ReviewFilter(
            status=status,
            article_id=filters.article or None,
            author_id=filters.author or None,
            label=filters.label or None,
            rule_id=filters.rule or None,
            tag=filters.tag or None,
            min_score=filters.min_score,
            max_score=filters.max_score,
        ),
        filters.sort,
        PAGE_SIZE,
        _decode_cursor(cursor),
    )
    claims = review.claims(ids)
    rows = [
        Row.of(c, claims.get(c.id, {}).get("actor_name", ""))
        for c in svc.comments.get_many(ids)
        if c is not None
    ]
    return QueueView(
        filters=filters,
        rows=rows,
        total=total,
        counts_by_status=review.counts_by_status(),
        counts_by_article=review.counts_by_article(status),
        next_cursor=f"{next_cursor[0]!r}~{next_cursor[1]}" if next_cursor else None,
    )


def author_summary(svc: Services, author_id: str) -> AuthorSummary:
    profile = svc.comments.author_profile(author_id)
    return AuthorSummary(
        author_id=author_id,
        banned=bool(profile.get("banned")),
        suspended=bool(profile.get("suspended")),
        note=str(profile.get("note", "")),
        counts=svc.comments.author_counts(author_id),
        latest=[],
    )


def load_item(svc: Services, comment_id: str) -> ItemView | None:
    comment = svc.comments.get(comment_id)
    if comment is None:
        return None
    history: list[HistoryEntry] = []
    return ItemView.of(comment, author_summary(svc, comment.author_id), history)


def _not_yet() -> ProblemError:
    return ProblemError(503, "unavailable", "Not available yet", "decisions are not wired yet")


def decide(
    svc: Services,
    who: WebSession,
    comment_id: str,
    decision: str,
    reason: str,
    note: str | None,
    revision: int | None,
) -> Comment:
    raise _not_yet()


def undo(svc: Services, who: WebSession, comment_id: str) -> Comment:
    raise _not_yet()


def bulk_decide(
    svc: Services, who: WebSession, ids: list[str], decision: str, reason: str
) -> dict[str, Any]:
    raise _not_yet()


def set_standing(
    svc: Services,
    who: WebSession,
    author_id: str,
    standing: str,
    reason: str,
    days: int | None,
) -> AuthorSummary:
    raise _not_yet()


__all__ = ["LatestComment", "author_summary", "load_item", "load_queue", "snippet"]
