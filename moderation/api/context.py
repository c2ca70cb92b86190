"""What the rules know beyond the text: per-article settings (set by the site) and an
author's standing (set by moderators)."""

from __future__ import annotations

from typing import Any

import structlog
from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from moderation.api.auth import Caller, services
from moderation.api.framework import operation
from moderation.api.schemas import NO_NUL_PATTERN
from moderation.errors import Problem

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


class AuthorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    banned: bool = False
    suspended: bool = False
    note: str = Field(default="", max_length=2000, pattern=NO_NUL_PATTERN)


class AuthorOut(BaseModel):
    author_id: str
    banned: bool
    suspended: bool
    note: str
    updated_by: str
    updated_at: str
    counts: dict[str, int]


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


def _author_out(author_id: str) -> AuthorOut:
    store = services().comments
    return AuthorOut(
        author_id=author_id,
        counts=store.author_counts(author_id),
        **store.author_profile(author_id),
    )


@bp.get("/authors/<author_id>")
@operation(
    "An author's standing and verdict history counts",
    roles=("moderator",),
    responses={200: AuthorOut},
    tags=("context",),
)
def get_author(author_id: str, *, caller: Caller) -> Any:
    return _author_out(author_id)


@bp.put("/authors/<author_id>")
@operation(
    "Ban, suspend or reinstate an author",
    roles=("moderator",),
    body=AuthorIn,
    responses={200: AuthorOut, 422: Problem},
    tags=("context",),
)
def put_author(author_id: str, *, caller: Caller, body: AuthorIn) -> Any:
    services().comments.set_author_profile(
        author_id,
        banned=body.banned,
        suspended=body.suspended,
        note=body.note,
        updated_by=f"{caller.role}:{caller.key_id}",
    )
    log.info(
        "author.standing",
        author_id=author_id,
        by=caller.key_id,
        banned=body.banned,
        suspended=body.suspended,
    )
    return _author_out(author_id)
