"""Request and response models of the v1 HTTP contract; /openapi.json is generated from them."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from moderation.domain.comment import Comment
from moderation.domain.verdict import Status, Verdict

# Letters, digits and . _ : - but not "." or ".." alone, which mean "this" and "parent" in
# every path and URL that an id may end up in. Written without a lookahead so that every
# regex dialect (and schema-driven generators) reads it the same way.
IDENTIFIER_PATTERN = (
    r"^(?:[A-Za-z0-9_:-][A-Za-z0-9._:-]*|\.[A-Za-z0-9_:-][A-Za-z0-9._:-]*|\.\.[A-Za-z0-9._:-]+)$"
)
Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128, pattern=IDENTIFIER_PATTERN),
]
MAX_TEXT_CHARS = 20_000
MAX_METADATA_BYTES = 4096
# Characters that render as nothing: controls, white space, format characters (zero-width
# space and joiners, bidi marks, word joiner, BOM, tags), the Hangul and Braille fillers and
# variation selectors. A text made only of these looks empty to a reader but would pass a
# "not blank" check; Unicode 14 (Python 3.11) ranges, checked by tests/unit/test_text_rules.py.
INVISIBLE_RANGES: tuple[tuple[int, int], ...] = (
    (0x0000, 0x0020), (0x007F, 0x00A0), (0x00AD, 0x00AD), (0x034F, 0x034F),
    (0x061C, 0x061C), (0x115F, 0x1160), (0x1680, 0x1680), (0x180E, 0x180E),
    (0x2000, 0x200F), (0x2028, 0x202F), (0x205F, 0x2064), (0x2066, 0x206F),
    (0x2800, 0x2800), (0x3000, 0x3000), (0x3164, 0x3164), (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF9, 0xFFFB), (0x13430, 0x13438),
    (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0001, 0xE0001), (0xE0020, 0xE007F),
    (0xE0100, 0xE01EF),
)  # fmt: skip


def _class_item(lo: int, hi: int) -> str:
    # BMP characters as \uXXXX escapes (read alike by Python and ECMA-262 regexes); astral
    # ones as the characters themselves, which a Unicode-aware regex reads as one code point.
    def one(c: int) -> str:
        return f"\\u{c:04x}" if c <= 0xFFFF else chr(c)

    return one(lo) if lo == hi else f"{one(lo)}-{one(hi)}"


_INVISIBLE_CLASS = "".join(_class_item(lo, hi) for lo, hi in INVISIBLE_RANGES)
_VISIBLE = re.compile(f"[^{_INVISIBLE_CLASS}]")


def _metadata_size(value: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_METADATA_BYTES:
        raise ValueError(f"metadata is {size} bytes; at most {MAX_METADATA_BYTES} are accepted")
    return value


def _not_blank(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if not _VISIBLE.search(value):
        raise ValueError(
            "text must contain a visible character, not only white space or invisible "
            "(zero-width, format or filler) characters"
        )
    return value


# The published schema states what `_not_blank` enforces, so that clients and schema-driven
# tests see the same rule the server applies.
NO_NUL_PATTERN = r"^[^\x00]*$"
TEXT_PATTERN = f"^[^\\x00]*[^{_INVISIBLE_CLASS}][^\\x00]*$"

# The oldest and latest creation time accepted. Every accepted time has a UTC form, a
# non-negative epoch in milliseconds (the listing cursor's shape) and an ISO year of four
# digits whatever its offset (offsets go up to +/-24 h): hence one year of margin each side.
CREATED_AT_MIN = datetime(1971, 1, 1, tzinfo=UTC)
CREATED_AT_MAX = datetime(9998, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
# The same bound in the published schema, on the year as written.
CREATED_AT_PATTERN = (
    r"^(?:197[1-9]|19[89][0-9]|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])-"
)


def _created_in_range(value: datetime) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # the contract asks for an offset; none means UTC
    try:
        in_utc = value.astimezone(UTC)
    except OverflowError:
        in_utc = None
    if in_utc is None or not CREATED_AT_MIN <= in_utc <= CREATED_AT_MAX:
        raise ValueError("must be between 1971-01-01 and 9998-12-31 (UTC)")
    return value


CreatedAt = Annotated[
    datetime,
    AfterValidator(_created_in_range),
    Field(
        description="When the author wrote it (ISO 8601 with offset; years 1971 to 9998); "
        "default now.",
        json_schema_extra={"pattern": CREATED_AT_PATTERN},
    ),
]

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
    created_at: CreatedAt | None = None
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
