"""What the templates show of a comment: its text cut into highlighted segments, and the
scores as bars. Pure functions over the domain models; the templates escape every piece."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from moderation.domain.labels import LABELS
from moderation.domain.verdict import Reason, Verdict


@dataclass(frozen=True)
class Segment:
    """A run of the text under the same set of spans; plain text when both sets are empty."""

    text: str
    model_labels: tuple[str, ...] = ()
    rule_ids: tuple[str, ...] = ()

    @property
    def marked(self) -> bool:
        return bool(self.model_labels or self.rule_ids)

    @property
    def css_class(self) -> str:
        kinds = ["hl"]
        if self.model_labels:
            kinds.append("hl-model")
        if self.rule_ids:
            kinds.append("hl-rule")
        return " ".join(kinds)

    @property
    def title(self) -> str:
        parts = [f"model: {label}" for label in self.model_labels]
        parts += [f"rule: {rule}" for rule in self.rule_ids]
        return "; ".join(parts)


@dataclass(frozen=True)
class _Mark:
    start: int
    end: int
    source: str
    name: str


def _marks(reasons: list[Reason], length: int) -> list[_Mark]:
    marks: list[_Mark] = []
    for reason in reasons:
        name = (reason.label if reason.source == "model" else reason.rule_id) or reason.source
        for span in reason.spans:
            # Offsets come from an older revision's text or a buggy rule now and then: clamp,
            # and drop what no longer points inside the text, rather than fail the page.
            start, end = max(0, min(span.start, length)), max(0, min(span.end, length))
            if start < end:
                marks.append(_Mark(start, end, reason.source, span.label or name))
    return marks


def highlight(text: str, verdict: Verdict | None) -> list[Segment]:
    """Cut the text at every span boundary; each piece knows which model labels and which
    rules cover it, so overlapping spans of both kinds show at once."""
    marks = _marks(verdict.reasons, len(text)) if verdict else []
    if not marks:
        return [Segment(text)] if text else []
    cuts = sorted({0, len(text), *(m.start for m in marks), *(m.end for m in marks)})
    segments: list[Segment] = []
    for start, end in itertools.pairwise(cuts):
        covering = [m for m in marks if m.start <= start and end <= m.end]
        labels = tuple(sorted({m.name for m in covering if m.source == "model"}))
        rules = tuple(sorted({m.name for m in covering if m.source == "rule"}))
        previous = segments[-1] if segments else None
        if previous and (previous.model_labels, previous.rule_ids) == (labels, rules):
            segments[-1] = Segment(previous.text + text[start:end], labels, rules)
        else:
            segments.append(Segment(text[start:end], labels, rules))
    return segments


@dataclass(frozen=True)
class ScoreBar:
    label: str
    score: float
    threshold: float | None = None
    over: bool = False

    @property
    def percent(self) -> str:
        return f"{self.score * 100:.0f}%"


@dataclass(frozen=True)
class ScoreBars:
    bars: list[ScoreBar] = field(default_factory=list)

    @property
    def top(self) -> ScoreBar | None:
        return max(self.bars, key=lambda b: b.score, default=None)


def score_bars(verdict: Verdict | None) -> ScoreBars:
    """Known labels in Detoxify's order, then any others; each with the threshold a model
    reason reported for it, so the bar shows how far over (or under) the line it is."""
    if verdict is None:
        return ScoreBars()
    thresholds = {
        r.label: r.threshold
        for r in verdict.reasons
        if r.source == "model" and r.label and r.threshold is not None
    }
    over = {r.label for r in verdict.reasons if r.source == "model" and r.label and not r.shadow}
    order = [label for label in LABELS if label in verdict.scores]
    order += sorted(set(verdict.scores) - set(LABELS))
    return ScoreBars(
        [
            ScoreBar(
                label=label,
                score=min(max(verdict.scores[label], 0.0), 1.0),
                threshold=thresholds.get(label),
                over=label in over,
            )
            for label in order
        ]
    )


def snippet(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
