"""What the rules know beyond the text: per-article settings (set by the site) and an
author's standing (set by moderators: ban or suspension with a reason and an optional
expiry, audited), with the author's history for the moderator deciding on it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field, model_validator

from moderation.api.auth import Caller, services
from moderation.api.framework import operation
from moderation.api.schemas import NO_NUL_PATTERN, CommentOut
from moderation.domain.comment import utcnow
from moderation.errors import Problem
from moderation.store.authors import AuthorStore

bp = Blueprint("context", __name__, url_prefix="/v1")
log = structlog.get_logger(__name__)


class ArticleSettingsIn(BaseModel):
    """Fields left out keep their current value."""

    model_config = ConfigDict(extra="forbid")

    premoderate: bool | None = Field(default=None, description="Flag every new comment for review.")
    closed: bool | None = Field(
        default=None, description="Reject new comments: the thread is closed."
    )
    sensitivity: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Multiplies every model threshold; 0.8 on a sensitive article flags earlier.",
    )


class ArticleSettingsOut(BaseModel):
    article_id: str
    premoderate: bool
    closed: bool
    sensitivity: float


# In the published schema too, so that clients and schema-driven tests know the rule.
ONE_EXPIRY: dict[str, Any] = {"not": {"required": ["expires_at", "for_s"]}}


def _in_utc(expires_at: datetime | None) -> datetime | None:
    if expires_at is None:
        return None
    if expires_at.tzinfo is None:
        raise ValueError("expires_at needs a UTC offset, e.g. 2026-12-31T00:00:00Z")
    try:
        return expires_at.astimezone(UTC)
    except OverflowError:  # past year 9999 in UTC: as good as never
        return datetime.max.replace(tzinfo=UTC)


class AuthorIn(BaseModel):
    """The whole standing at once (the site's or a moderator's tool); fields left out are
    false or empty. `POST .../ban`, `.../suspend` and `.../unban` say the same more plainly."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=ONE_EXPIRY)

    banned: bool = False
    suspended: bool = False
    note: str = Field(default="", max_length=2000, pattern=NO_NUL_PATTERN)
    reason: str = Field(default="", max_length=500, pattern=NO_NUL_PATTERN)
    expires_at: datetime | None = Field(
        default=None, description="When a ban or suspension ends by itself (ISO 8601 with offset)."
    )
    for_s: int | None = Field(
        default=None, gt=0, le=10 * 365 * 86400, description="Or: how many seconds it lasts."
    )

    @model_validator(mode="after")
    def _one_expiry(self) -> AuthorIn:
        if self.expires_at is not None and self.for_s is not None:
            raise ValueError("give expires_at or for_s, not both")
        self.expires_at = _in_utc(self.expires_at)
        return self

    def expiry(self, now: datetime) -> datetime | None:
        if self.for_s is not None:
            return now + timedelta(seconds=self.for_s)
        return self.expires_at


class SanctionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=ONE_EXPIRY)

    reason: str = Field(min_length=1, max_length=500, pattern=NO_NUL_PATTERN)
    note: str = Field(default="", max_length=2000, pattern=NO_NUL_PATTERN)
    expires_at: datetime | None = Field(
        default=None, description="When it ends by itself (ISO 8601 with offset); none: never."
    )
    for_s: int | None = Field(
        default=None, gt=0, le=10 * 365 * 86400, description="Or: how many seconds it lasts."
    )

    @model_validator(mode="after")
    def _one_expiry(self) -> SanctionIn:
        if self.expires_at is not None and self.for_s is not None:
            raise ValueError("give expires_at or for_s, not both")
        self.expires_at = _in_utc(self.expires_at)
        return self


class UnbanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=500, pattern=NO_NUL_PATTERN)


class AuthorQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=20, ge=0, le=100, description="How many latest comments.")


class AuthorOut(BaseModel):
    author_id: str
    standing: str = Field(description="active, suspended or banned: what the rules see now.")
    banned: bool
    suspended: bool
    reason: str
    expires_at: str | None = Field(description="When the ban or suspension ends by itself.")
    lapsed: bool = Field(description="A ban or suspension was set and has expired.")
    note: str
    updated_by: str
    updated_at: str
    counts: dict[str, int] = Field(description="The author's comments per current status.")
    latest: list[CommentOut] = Field(
        default_factory=list, description="Newest first, with their verdicts."
    )


def _article_out(article_id: str, values: dict[str, Any]) -> ArticleSettingsOut:
    return ArticleSettingsOut(
        article_id=article_id,
        premoderate=values.get("premoderate", False),
        closed=values.get("closed", False),
        sensitivity=values.get("sensitivity", 1.0),
    )


@bp.get("/articles/<article_id>/settings")
@operation(
    "Read an article's moderation settings",
    roles=("site", "moderator"),
    responses={200: ArticleSettingsOut},
    tags=("context",),
)
def get_article_settings(article_id: str, *, caller: Caller) -> Any:
    return _article_out(article_id, services().comments.article_settings(article_id))


@bp.put("/articles/<article_id>/settings")
@operation(
    "Pre-moderate, close or sensitise an article's comment section",
    roles=("site",),
    body=ArticleSettingsIn,
    responses={200: ArticleSettingsOut, 422: Problem},
    tags=("context",),
    description="Applies to comments classified from now on.",
)
def put_article_settings(article_id: str, *, caller: Caller, body: ArticleSettingsIn) -> Any:
    values = services().comments.set_article_settings(
        article_id, body.model_dump(exclude_none=True)
    )
    log.info(
        "article.settings",
        article_id=article_id,
        by=caller.key_id,
        **body.model_dump(exclude_none=True),
    )
    return _article_out(article_id, values)


def _authors() -> AuthorStore:
    svc = services()
    return AuthorStore(svc.redis, svc.keys, svc.audit)


def _author_out(author_id: str, latest: int = 0) -> AuthorOut:
    svc = services()
    authors = _authors()
    ids = authors.latest_ids(author_id, latest) if latest else []
    comments = [c for c in svc.comments.get_many(ids) if c is not None]
    return AuthorOut(
        author_id=author_id,
        counts=authors.counts(author_id),
        latest=[CommentOut.of(c) for c in comments],
        **svc.comments.author_profile(author_id),
    )


def _set_standing(
    author_id: str,
    caller: Caller,
    *,
    banned: bool,
    suspended: bool,
    reason: str,
    note: str,
    expires_at: datetime | None,
) -> AuthorOut:
    after = _authors().set_standing(
        author_id,
        banned=banned,
        suspended=suspended,
        reason=reason,
        note=note,
        expires_at=expires_at,
        actor=caller.actor,
    )
    log.info(
        "author.standing",
        author_id=author_id,
        by=caller.key_id,
        standing=after["standing"],
        expires_at=after["expires_at"],
    )
    return _author_out(author_id)


@bp.get("/authors/<author_id>")
@operation(
    "An author's standing, comment counts per status and latest comments with verdicts",
    roles=("moderator",),
    query=AuthorQuery,
    responses={200: AuthorOut, 422: Problem},
    tags=("authors",),
)
def get_author(author_id: str, *, caller: Caller, query: AuthorQuery) -> Any:
    return _author_out(author_id, query.limit)


@bp.put("/authors/<author_id>")
@operation(
    "Set an author's whole standing: ban, suspend or reinstate",
    roles=("moderator",),
    body=AuthorIn,
    responses={200: AuthorOut, 422: Problem},
    tags=("authors",),
    description="Audited as author.ban, author.suspend or author.unban. An expiry "
    "(`expires_at` or `for_s`) ends the ban by itself: the rules stop seeing it then.",
)
def put_author(author_id: str, *, caller: Caller, body: AuthorIn) -> Any:
    return _set_standing(
        author_id,
        caller,
        banned=body.banned,
        suspended=body.suspended,
        reason=body.reason,
        note=body.note,
        expires_at=body.expiry(utcnow()),
    )


def _sanction(author_id: str, caller: Caller, body: SanctionIn, *, banned: bool) -> AuthorOut:
    expires_at = (
        utcnow() + timedelta(seconds=body.for_s) if body.for_s is not None else body.expires_at
    )
    return _set_standing(
        author_id,
        caller,
        banned=banned,
        suspended=not banned,
        reason=body.reason,
        note=body.note,
        expires_at=expires_at,
    )


@bp.post("/authors/<author_id>/ban")
@operation(
    "Ban an author, for good or until an expiry",
    roles=("moderator",),
    body=SanctionIn,
    responses={200: AuthorOut, 422: Problem},
    tags=("authors",),
    description="The rules see `banned` (the default rules reject the author's comments) "
    "until the expiry, if any. Audited as author.ban with the reason.",
)
def ban_author(author_id: str, *, caller: Caller, body: SanctionIn) -> Any:
    return _sanction(author_id, caller, body, banned=True)


@bp.post("/authors/<author_id>/suspend")
@operation(
    "Suspend an author, for good or until an expiry",
    roles=("moderator",),
    body=SanctionIn,
    responses={200: AuthorOut, 422: Problem},
    tags=("authors",),
    description="Audited as author.suspend with the reason.",
)
def suspend_author(author_id: str, *, caller: Caller, body: SanctionIn) -> Any:
    return _sanction(author_id, caller, body, banned=False)


@bp.post("/authors/<author_id>/unban")
@operation(
    "Lift an author's ban or suspension",
    roles=("moderator",),
    body=UnbanIn,
    responses={200: AuthorOut, 422: Problem},
    tags=("authors",),
    description="Audited as author.unban.",
)
def unban_author(author_id: str, *, caller: Caller, body: UnbanIn) -> Any:
    return _set_standing(
        author_id,
        caller,
        banned=False,
        suspended=False,
        reason=body.reason,
        note="",
        expires_at=None,
    )
