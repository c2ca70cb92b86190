"""Request and response models of the v1 HTTP contract; /openapi.json is generated from them."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from moderation.domain.comment import Comment
from moderation.domain.verdict import Status, Verdict

IDENTIFIER_PATTERN = r"^[A-Za-z0-9._:-]+$"
Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128, pattern=IDENTIFIER_PATTERN),
]
MAX_TEXT_CHARS = 20_000
MAX_METADATA_BYTES = 4096


def _metadata_size(value: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_METADATA_BYTES:
        raise ValueError(f"metadata is {size} bytes; at most {MAX_METADATA_BYTES} are accepted")
    return value


def _not_blank(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if not value.strip():
        raise ValueError("text must contain something other than white space")
    return value


# The published schema states what `_not_blank` enforces, in Python's sense of white space,
# so that clients and schema-driven tests see the same rule the server applies.
NO_NUL_PATTERN = r"^[^\x00]*$"
TEXT_PATTERN = r"^[^\x00]*[^\s\x00][^\x00]*$"

CommentText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS),
    AfterValidator(_not_blank),
    Field(json_schema_extra={"pattern": TEXT_PATTERN}),
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
    appeal: dict[str, Any] | None = Field(
        default=None, description="The site's appeal of a rejection: message, revision, at."
    )
    final: bool = Field(
        default=False, description="Decided on appeal: no further decision or appeal."
    )

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
            appeal=c.appeal,
            final=c.final,
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
    cursor: (
        Annotated[
            str, StringConstraints(max_length=160, pattern=r"^[0-9]{1,15}:[A-Za-z0-9._:-]{1,128}$")
        ]
        | None
    ) = Field(default=None, description="The `next_cursor` of the previous page.")


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]
    workers: list[dict[str, Any]] = Field(default_factory=list)
