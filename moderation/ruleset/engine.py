"""First step of the rule engine: per-label model thresholds from YAML.

The full engine (word lists, regexes, context conditions) replaces this module behind the
same interface: `load_ruleset(dirs) -> Ruleset`, `Ruleset.evaluate(ctx) -> RuleOutcome`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from moderation.domain.verdict import Action, Reason, Status
from moderation.ruleset.context import RuleContext


class RulesetError(ValueError):
    """An invalid rule file: the message names the file, the line and the reason."""


@dataclass(frozen=True)
class Threshold:
    label: str
    value: float
    action: Action


@dataclass(frozen=True)
class RuleOutcome:
    status: Status
    reasons: list[Reason] = field(default_factory=list)


@dataclass(frozen=True)
class Ruleset:
    version: str
    thresholds: tuple[Threshold, ...]

    def evaluate(self, ctx: RuleContext) -> RuleOutcome:
        reasons: list[Reason] = []
        status = Status.APPROVED
        for t in self.thresholds:
            score = ctx.scores.get(t.label)
            limit = t.value * ctx.article.sensitivity
            if score is None or score < limit:
                continue
            reasons.append(
                Reason(
                    source="model",
                    label=t.label,
                    score=round(score, 4),
                    threshold=round(limit, 4),
                    action=t.action,
                    message=f"{t.label} {score:.2f} >= {limit:.2f}",
                )
            )
            if t.action.severity > _severity(status):
                status = t.action.status
        return RuleOutcome(status=status, reasons=reasons)


def _severity(status: Status) -> int:
    return {Status.APPROVED: 0, Status.FLAGGED: 1, Status.REJECTED: 2}.get(status, 0)


def load_ruleset(dirs: list[Path]) -> Ruleset:
    digest = hashlib.sha256()
    thresholds: list[Threshold] = []
    files = sorted(p for d in dirs for p in Path(d).glob("*.yaml"))
    for path in files:
        raw = path.read_bytes()
        digest.update(path.name.encode() + b"\0" + raw)
        try:
            doc = yaml.safe_load(raw) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else 0
            raise RulesetError(f"{path}:{line}: not valid YAML: {exc}") from exc
        for label, spec in (doc.get("thresholds") or {}).items():
            for action_name, value in spec.items():
                try:
                    thresholds.append(Threshold(label, float(value), Action(action_name)))
                except ValueError as exc:
                    raise RulesetError(f"{path}: thresholds.{label}.{action_name}: {exc}") from exc
    return Ruleset(version=digest.hexdigest()[:16], thresholds=tuple(thresholds))
