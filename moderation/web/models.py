"""What the moderator page's templates are given: filters read from the query string, and
view models of queue rows and of one item."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from werkzeug.datastructures import MultiDict

from moderation.domain.comment import Comment
from moderation.domain.verdict import Verdict
from moderation.web.render import ScoreBar, ScoreBars, Segment, highlight, score_bars, snippet

QUEUE_STATUSES: tuple[str, ...] = ("flagged", "appealed", "rejected", "approved", "error")
SORTS: tuple[tuple[str, str], ...] = (
    ("priority", "Priority"),
    ("age", "Oldest first"),
    ("score", "Highest score"),
)
Sort = Literal["priority", "age", "score"]
MAX_TEXT_ARG = 128


def _text(args: MultiDict[str, str], name: str) -> str:
    return (args.get(name) or "").strip()[:MAX_TEXT_ARG]


def _score(args: MultiDict[str, str], name: str) -> float | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return min(max(value, 0.0), 1.0) if value == value else None  # NaN is not a bound


@dataclass(frozen=True)
class QueueFilters:
    status: str = "flagged"
    article: str = ""
    author: str = ""
    label: str = ""
    rule: str = ""
    tag: str = ""
    min_score: float | None = None
    max_score: float | None = None
    sort: Sort = "priority"

    @classmethod
    def from_args(cls, args: MultiDict[str, str]) -> QueueFilters:
        """Unknown values fall back to the defaults: a hand-edited address still shows a
        queue rather than an error."""
        status = args.get("status", "flagged")
        sort = args.get("sort", "priority")
        sorts: dict[str, Sort] = {"priority": "priority", "age": "age", "score": "score"}
        return cls(
            status=status if status in QUEUE_STATUSES else "flagged",
            article=_text(args, "article"),
            author=_text(args, "author"),
            label=_text(args, "label"),
            rule=_text(args, "rule"),
            tag=_text(args, "tag"),
            min_score=_score(args, "min_score"),
            max_score=_score(args, "max_score"),
            sort=sorts.get(sort, "priority"),
        )

    @property
    def active(self) -> bool:
        return bool(
            self.article
            or self.author
            or self.label
            or self.rule
            or self.tag
            or self.min_score is not None
            or self.max_score is not None
        )

    def as_args(self) -> dict[str, Any]:
        """The query string that reproduces these filters (defaults and blanks left out)."""
        out: dict[str, Any] = {"status": self.status}
        for name in ("article", "author", "label", "rule", "tag"):
            if value := getattr(self, name):
                out[name] = value
        if self.min_score is not None:
            out["min_score"] = self.min_score
        if self.max_score is not None:
            out["max_score"] = self.max_score
        if self.sort != "priority":
            out["sort"] = self.sort
        return out

    def with_status(self, status: str) -> dict[str, Any]:
        return replace(self, status=status).as_args()


@dataclass(frozen=True)
class Row:
    comment: Comment
    snippet: str
    top: ScoreBar | None
    claimed_by: str = ""

    @classmethod
    def of(cls, comment: Comment, claimed_by: str = "") -> Row:
        return cls(comment, snippet(comment.text), score_bars(comment.verdict).top, claimed_by)


@dataclass(frozen=True)
class AuthorSummary:
    author_id: str
    banned: bool = False
    suspended: bool = False
    note: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    latest: list[LatestComment] = field(default_factory=list)


@dataclass(frozen=True)
class LatestComment:
    id: str
    status: str
    snippet: str


@dataclass(frozen=True)
class HistoryEntry:
    at: str
    type: str
    revision: int
    status_before: str | None
    status_after: str
    decided_by: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class ItemView:
    comment: Comment
    verdict: Verdict | None
    segments: list[Segment]
    bars: ScoreBars
    author: AuthorSummary
    history: list[HistoryEntry] = field(default_factory=list)
    claim: str = ""

    @classmethod
    def of(
        cls,
        comment: Comment,
        author: AuthorSummary,
        history: list[HistoryEntry],
        claim: str = "",
    ) -> ItemView:
        return cls(
            comment=comment,
            verdict=comment.verdict,
            segments=highlight(comment.text, comment.verdict),
            bars=score_bars(comment.verdict),
            author=author,
            history=history,
            claim=claim,
        )


@dataclass(frozen=True)
class QueueView:
    filters: QueueFilters
    rows: list[Row]
    total: int
    counts_by_status: dict[str, int]
    counts_by_article: dict[str, int]
    next_cursor: str | None = None
