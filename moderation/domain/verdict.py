"""A verdict records everything needed to explain and reproduce it."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Status(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    FLAGGED = "flagged"
    REJECTED = "rejected"
    ERROR = "error"
    # A rejected comment whose author (through the site) asked for another look; back in
    # the review queue until a moderator's final decision.
    APPEALED = "appealed"


class DecidedBy(StrEnum):
    MODEL = "model"
    RULES = "rules"
    MODERATOR = "moderator"
    SYSTEM = "system"  # dead-lettering


class Decision(StrEnum):
    """What a moderator can decide."""

    APPROVE = "approve"
    REJECT = "reject"

    @property
    def status(self) -> Status:
        return Status.APPROVED if self is Decision.APPROVE else Status.REJECTED


class Action(StrEnum):
    """What a rule (or a model threshold) asks for. Precedence: reject > flag > approve."""

    APPROVE = "approve"
    FLAG = "flag"
    REJECT = "reject"

    @property
    def status(self) -> Status:
        return {
            Action.APPROVE: Status.APPROVED,
            Action.FLAG: Status.FLAGGED,
            Action.REJECT: Status.REJECTED,
        }[self]

    @property
    def severity(self) -> int:
        return {Action.APPROVE: 0, Action.FLAG: 1, Action.REJECT: 2}[self]


class Span(BaseModel):
    """Character offsets into the original comment text, end exclusive."""

    model_config = ConfigDict(frozen=True)

    start: int = Field(ge=0)
    end: int = Field(ge=0)
    label: str | None = None
    # Model spans: how much the word raises the label's log-odds (taking it out lowers them
    # by this much); larger means more responsible. Rule spans (matched words) have none.
    weight: float | None = None


class Reason(BaseModel):
    source: Literal["model", "rule"]
    message: str
    rule_id: str | None = None
    label: str | None = None
    score: float | None = None
    threshold: float | None = None
    action: Action | None = None
    shadow: bool = False
    spans: list[Span] = Field(default_factory=list)


class ModelRef(BaseModel):
    name: str
    version: str


class RulesetRef(BaseModel):
    version: str


class ModeratorDecision(BaseModel):
    """Who decided, and why: kept on the verdict a moderator's decision produced."""

    decision: Decision
    reason: str
    note: str | None = None
    actor: str  # the API key id
    actor_name: str = ""
    role: str = "moderator"


class Verdict(BaseModel):
    status: Status
    scores: dict[str, float] = Field(default_factory=dict)
    reasons: list[Reason] = Field(default_factory=list)
    model: ModelRef | None = None
    ruleset: RulesetRef | None = None
    decided_by: DecidedBy
    decided_at: str
    timings_ms: dict[str, float] = Field(default_factory=dict)
    # The revision of the text this verdict judged; after an edit the stored verdict is the
    # previous revision's until the new one is classified.
    revision: int | None = None
    # Tags and notify targets of the enforced rules that fired (carried on the event).
    tags: list[str] = Field(default_factory=list)
    notify: list[str] = Field(default_factory=list)
    decision: ModeratorDecision | None = None
    # Spans come after the verdict, off its critical path: "pending" until they are added to
    # the model reasons, "ready" after; absent when nothing is to be explained.
    explanation: Literal["pending", "ready"] | None = None
    # Labels the model has a head for but was never trained on: no score, so no threshold
    # or rule fires on them. Said explicitly so that a missing score is not read as 0.
    not_scored: list[str] = Field(default_factory=list)

    def labels_over_threshold(self) -> list[str]:
        return sorted(
            {r.label for r in self.reasons if r.source == "model" and r.label and not r.shadow}
        )

    def rule_ids(self) -> list[str]:
        return sorted({r.rule_id for r in self.reasons if r.rule_id and not r.shadow})

    def max_score(self) -> float:
        return max(self.scores.values(), default=0.0)


def reasons_with_spans(reasons: list[Reason], spans: list[Span]) -> list[Reason]:
    """Each model reason gets the spans of its label (a reason that has spans keeps them)."""
    by_label: dict[str, list[Span]] = {}
    for span in spans:
        if span.label:
            by_label.setdefault(span.label, []).append(span)
    out = []
    for reason in reasons:
        if reason.source == "model" and reason.label in by_label and not reason.spans:
            reason = reason.model_copy(update={"spans": by_label[reason.label]})
        out.append(reason)
    return out
