"""Pure: model scores + rule outcome + context -> verdict. No I/O, so it is easy to test
and to re-run in a backtest."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from moderation.classifier.base import ModelInfo
from moderation.domain.labels import LABELS
from moderation.domain.verdict import (
    DecidedBy,
    ModelRef,
    Reason,
    RulesetRef,
    Span,
    Status,
    Verdict,
    reasons_with_spans,
)
from moderation.ruleset import RuleOutcome


def labels_to_explain(outcome: RuleOutcome) -> list[str]:
    """The model labels whose thresholds fired and counted towards a flag or reject."""
    if outcome.status not in (Status.FLAGGED, Status.REJECTED):
        return []
    return sorted(
        {r.label for r in outcome.reasons if r.source == "model" and r.label and not r.shadow}
    )


def attach_spans(reasons: Sequence[Reason], spans: Sequence[Span]) -> list[Reason]:
    return reasons_with_spans(list(reasons), list(spans))


def build_verdict(
    *,
    scores: Mapping[str, float],
    outcome: RuleOutcome,
    spans: Sequence[Span],
    model: ModelInfo,
    ruleset_version: str,
    decided_at: str,
    timings_ms: Mapping[str, float],
    revision: int | None = None,
    explanation: Literal["pending", "ready"] | None = None,
) -> Verdict:
    return Verdict(
        status=outcome.status,
        scores={k: round(v, 5) for k, v in scores.items()},
        reasons=attach_spans(outcome.reasons, spans),
        model=ModelRef(name=model.name, version=model.version),
        ruleset=RulesetRef(version=ruleset_version),
        decided_by=DecidedBy.RULES
        if any(r.source == "rule" and not r.shadow for r in outcome.reasons)
        else DecidedBy.MODEL,
        decided_at=decided_at,
        timings_ms={k: round(v, 2) for k, v in timings_ms.items()},
        revision=revision,
        tags=list(outcome.tags),
        notify=list(outcome.notify),
        explanation=explanation,
        not_scored=[label for label in LABELS if label not in scores] if scores else [],
    )
