"""The moderator page's one door to the data: the review service shared with the JSON API
(moderation.review), so that the page and the API cannot disagree, turned into the view
models the templates show."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

from moderation import review
from moderation.api.auth import Caller
from moderation.config import Role
from moderation.domain.comment import Comment, utcnow
from moderation.domain.verdict import Decision, Status
from moderation.errors import ProblemError
from moderation.services import Services
from moderation.store.authors import AuthorStore
from moderation.store.review import Cursor, ReviewFilter, decode_cursor, encode_cursor
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
LATEST_BY_AUTHOR = 5


def caller_of(session: WebSession) -> Caller:
    role: Role = "admin" if session.role == "admin" else "moderator"
    return Caller(key_id=session.key_id, role=role, name=session.name)


def _authors(svc: Services) -> AuthorStore:
    return AuthorStore(svc.redis, svc.keys, svc.audit)


def _decode_cursor(raw: str | None) -> Cursor | None:
    """A cursor from the page's own link; anything else starts from the top."""
    try:
        return decode_cursor(raw) if raw else None
    except ValueError:
        return None


def _claimant(claim: dict[str, Any] | None, me: str) -> str:
    if not claim or claim.get("actor") == me:
        return ""
    return str(claim.get("actor_name") or claim.get("actor") or "")


def load_queue(
    svc: Services, who: WebSession, filters: QueueFilters, cursor: str | None
) -> QueueView:
    page = review.query_queue(
        svc,
        review.ReviewQuery(
            filter=ReviewFilter(
                status=Status(filters.status),
                article_id=filters.article or None,
                author_id=filters.author or None,
                label=filters.label or None,
                rule_id=filters.rule or None,
                tag=filters.tag or None,
                min_score=filters.min_score,
                max_score=filters.max_score,
            ),
            sort=filters.sort,
            limit=PAGE_SIZE,
            cursor=_decode_cursor(cursor),
        ),
    )
    nxt = page.next_cursor
    return QueueView(
        filters=filters,
        rows=[Row.of(i.comment, _claimant(i.claim, who.key_id)) for i in page.items],
        total=page.total,
        counts_by_status=page.counts_by_status,
        counts_by_article=page.counts_by_article,
        next_cursor=encode_cursor(nxt) if nxt else None,
    )


def author_summary(svc: Services, author_id: str, exclude: str = "") -> AuthorSummary:
    authors = _authors(svc)
    profile = authors.profile(author_id)
    ids = [i for i in authors.latest_ids(author_id, LATEST_BY_AUTHOR + 1) if i != exclude]
    latest = [
        LatestComment(c.id, c.status.value, snippet(c.text, 90))
        for c in svc.comments.get_many(ids[:LATEST_BY_AUTHOR])
        if c is not None
    ]
    return AuthorSummary(
        author_id=author_id,
        banned=bool(profile.get("banned")),
        suspended=bool(profile.get("suspended")),
        note=str(profile.get("reason") or profile.get("note") or ""),
        counts={k: v for k, v in authors.counts(author_id).items() if v},
        latest=latest,
    )


def load_item(svc: Services, who: WebSession, comment_id: str) -> ItemView | None:
    comment = svc.comments.get(comment_id)
    if comment is None:
        return None
    history = [
        HistoryEntry(
            at=e.at,
            type=e.type.value,
            revision=e.revision,
            status_before=e.status_before.value if e.status_before else None,
            status_after=e.status_after.value,
            decided_by=e.decided_by,
            reason=e.reason,
        )
        for e in review.comment_history(svc, comment_id)
    ]
    # Opening an item claims it (or renews one's own claim), so two moderators working the
    # same queue do not decide the same comment; someone else's claim is shown instead.
    claim = svc.comments.review.claim(
        comment_id, who.key_id, who.name, svc.settings.review_claim_ttl_s
    )
    return ItemView.of(
        comment,
        author_summary(svc, comment.author_id, exclude=comment_id),
        history,
        _claimant(claim, who.key_id),
    )


def decide(
    svc: Services,
    who: WebSession,
    comment_id: str,
    decision: str,
    reason: str,
    note: str | None,
    revision: int | None,
) -> Comment:
    if revision is None:
        raise ProblemError(
            422, "validation", "Revision needed", "reload the comment and decide again"
        )
    return review.decide(
        svc,
        caller_of(who),
        comment_id,
        Decision(decision),
        reason=reason,
        note=note,
        revision=revision,
    )


def undo(svc: Services, who: WebSession, comment_id: str) -> Comment:
    return review.undo(svc, caller_of(who), comment_id)


def bulk_decide(
    svc: Services, who: WebSession, picked: list[str], decision: str, reason: str
) -> dict[str, Any]:
    """`picked` holds `id@revision` as the page showed them, so that a comment edited since
    is skipped rather than decided unseen."""
    items: list[tuple[str, int | None]] = []
    for value in picked:
        cid, _, rev = value.rpartition("@")
        items.append((cid, int(rev)) if cid and rev.isdigit() else (value, None))
    result = review.bulk_decide(
        svc, caller_of(who), Decision(decision), reason=reason, note=None, items=items
    )
    return asdict(result)


def set_standing(
    svc: Services,
    who: WebSession,
    author_id: str,
    standing: str,
    reason: str,
    days: int | None,
) -> AuthorSummary:
    _authors(svc).set_standing(
        author_id,
        banned=standing == "banned",
        suspended=standing == "suspended",
        reason=reason,
        note="",
        expires_at=utcnow() + timedelta(days=days) if days else None,
        actor=caller_of(who).actor,
    )
    return author_summary(svc, author_id)
