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


class Verdict(BaseModel):
    status: Status
    scores: dict[str, float] = Field(default_factory=dict)
    reasons: list[Reason] = Field(default_factory=list)
    model: ModelRef | None = None
    ruleset: RulesetRef | None = None
    decided_by: str
    decided_at: str
    timings_ms: dict[str, float] = Field(default_factory=dict)
