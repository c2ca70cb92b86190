"""Request and response models of the v1 HTTP contract; /openapi.json is generated from them."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from moderation.domain.comment import Comment
from moderation.domain.verdict import Status, Verdict

Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$"),
]
MAX_TEXT_CHARS = 20_000
MAX_METADATA_BYTES = 4096


def _metadata_size(value: dict[str, Any]) -> dict[str, Any]:
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    if size > MAX_METADATA_BYTES:
        raise ValueError(f"metadata is {size} bytes; at most {MAX_METADATA_BYTES} are accepted")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("text must contain something other than white space")
    return value


CommentText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS),
    AfterValidator(_not_blank),
]


class CommentIn(BaseModel):
    """A comment as the site posts it."""

    model_config = ConfigDict(extra="forbid")

    id: Identifier = Field(
        description="The site's own id for the comment; posting it again is safe."
    )
    article_id: Identifier
    author_id: Identifier
    text: CommentText
    created_at: datetime | None = Field(
        default=None, description="When the author wrote it (ISO 8601 with offset); default now."
    )
    parent_id: Identifier | None = None
    language: (
        Annotated[str, StringConstraints(min_length=2, max_length=35, pattern=r"^[A-Za-z0-9-]+$")]
        | None
    ) = None
    metadata: Annotated[dict[str, Any], AfterValidator(_metadata_size)] = Field(
        default_factory=dict, description="Free-form object of at most 4 KB, kept with the comment."
    )


class CommentEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: CommentText


class CommentOut(BaseModel):
    id: str
    article_id: str
    author_id: str
    text: str
    status: Status
    revision: int
    verdict: Verdict | None
    parent_id: str | None = None
    language: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, c: Comment) -> CommentOut:
        return cls(
            id=c.id,
            article_id=c.article_id,
            author_id=c.author_id,
            text=c.text,
            status=c.status,
            revision=c.revision,
            verdict=c.verdict,
            parent_id=c.parent_id,
            language=c.language,
            metadata=c.metadata,
            created_at=c.created_at,
            updated_at=c.updated_at,
        )


class CommentList(BaseModel):
    items: list[CommentOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Status | None = None
    limit: int = Field(default=50, ge=1, le=200)
    cursor: Annotated[str, StringConstraints(max_length=300)] | None = None


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]
    workers: list[dict[str, Any]] = Field(default_factory=list)
