"""What a candidate ruleset would change, computed over stored comments, changing nothing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from moderation.domain.verdict import Status
from moderation.ruleset.context import RuleContext
from moderation.ruleset.engine import Ruleset

NO_RULE = "(no rule: approved by default)"


@dataclass(frozen=True)
class ChangeExample:
    comment_id: str
    before: Status
    after: Status
    text: str


@dataclass
class RuleChanges:
    changed: int = 0
    transitions: Counter[str] = field(default_factory=Counter)
    examples: list[ChangeExample] = field(default_factory=list)


@dataclass
class BacktestReport:
    ruleset_version: str
    total: int = 0
    changed: int = 0
    transitions: Counter[str] = field(default_factory=Counter)  # "flagged -> rejected"
    by_rule: dict[str, RuleChanges] = field(default_factory=dict)
    shadow_hits: Counter[str] = field(default_factory=Counter)
    skipped: int = 0  # stored statuses the engine does not produce (pending, error)

    def format(self) -> str:
        lines = [
            f"ruleset {self.ruleset_version}: {self.changed} of {self.total} verdicts "
            f"would change" + (f" ({self.skipped} pending/error skipped)" if self.skipped else ""),
        ]
        for transition, n in self.transitions.most_common():
            lines.append(f"  {transition}: {n}")
        if self.by_rule:
            lines.append("by rule (the rules that decide the new status):")
        for rule_id, rc in sorted(self.by_rule.items(), key=lambda kv: -kv[1].changed):
            detail = ", ".join(f"{t}: {n}" for t, n in rc.transitions.most_common())
            lines.append(f"  {rule_id}: {rc.changed} ({detail})")
            for ex in rc.examples:
                text = ex.text if len(ex.text) <= 80 else ex.text[:77] + "..."
                lines.append(f"    {ex.comment_id} {ex.before} -> {ex.after}: {text!r}")
        if self.shadow_hits:
            lines.append("shadow rules (would have fired):")
            for rule_id, n in self.shadow_hits.most_common():
                lines.append(f"  {rule_id}: {n}")
        return "\n".join(lines)


_DECIDED = (Status.APPROVED, Status.FLAGGED, Status.REJECTED)


def backtest(
    candidate: Ruleset,
    items: Iterable[tuple[RuleContext, Status]],
    *,
    examples_per_rule: int = 3,
) -> BacktestReport:
    """Re-evaluate stored comments with `candidate` and compare with the stored status.

    A change is attributed to the rules that decide the new status (`decided_by`); a
    change to approved that no rule decided is attributed to NO_RULE.
    """
    report = BacktestReport(ruleset_version=candidate.version)
    for ctx, before in items:
        before = Status(before)
        if before not in _DECIDED:
            report.skipped += 1
            continue
        report.total += 1
        outcome = candidate.evaluate(ctx)
        for reason in outcome.reasons:
            if reason.shadow and reason.rule_id:
                report.shadow_hits[reason.rule_id] += 1
        after = outcome.status
        if after == before:
            continue
        transition = f"{before} -> {after}"
        report.changed += 1
        report.transitions[transition] += 1
        for rule_id in outcome.decided_by or (NO_RULE,):
            rc = report.by_rule.setdefault(rule_id, RuleChanges())
            rc.changed += 1
            rc.transitions[transition] += 1
            if len(rc.examples) < examples_per_rule:
                rc.examples.append(ChangeExample(ctx.comment_id, before, after, ctx.text))
    return report
