"""`rules check`: everything load_ruleset refuses, plus rules that can never decide."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from moderation.domain.verdict import Action
from moderation.ruleset.engine import compile_definitions
from moderation.ruleset.errors import Issue
from moderation.ruleset.limits import check_time
from moderation.ruleset.loader import Definitions, RuleSource, read_definitions
from moderation.ruleset.schema import Condition


def _never(cond: Condition, defs: Definitions) -> bool:
    """The condition cannot hold for any comment."""
    if cond.all is not None:
        return any(_never(x, defs) for x in cond.all)
    if cond.any is not None:
        return all(_never(x, defs) for x in cond.any)
    if cond.not_ is not None:
        return _always(cond.not_, defs)
    if cond.score is not None:
        return cond.score.lt is not None and cond.score.lt <= 0
    if cond.words is not None:
        w = cond.words
        return not w.terms and all(not defs.lists.get(name) for name in w.lists)
    if cond.length is not None:
        lo, hi = cond.length.gte, cond.length.lt
        return hi is not None and (hi == 0 or (lo is not None and hi <= lo))
    if cond.author is not None:
        a = cond.author
        if a.approved_lt == 0:
            return True
        return (
            a.approved_lt is not None
            and a.approved_gte is not None
            and a.approved_lt <= a.approved_gte
        )
    return False


def _always(cond: Condition, defs: Definitions) -> bool:
    """The condition holds for every comment."""
    if cond.all is not None:
        return all(_always(x, defs) for x in cond.all)
    if cond.any is not None:
        return any(_always(x, defs) for x in cond.any)
    if cond.not_ is not None:
        return _never(cond.not_, defs)
    return False


def _where(src: RuleSource) -> str:
    return f"{src.where.file}:{src.where.line}"


def analyse(defs: Definitions) -> list[Issue]:
    issues: list[Issue] = []
    enforced = [s for s in defs.rules if s.rule.mode == "enforce"]
    always = [s for s in enforced if _always(s.rule.condition, defs)]
    seen: dict[str, RuleSource] = {}
    for src in defs.rules:
        rule, file, line = src.rule, src.where.file, src.where.line
        check_time(file, line)
        if _never(rule.condition, defs):
            issues.append(
                Issue(file, line, f"rule {rule.id}: unreachable, its condition can never hold")
            )
            continue
        if rule.mode == "enforce":
            above = next((a for a in always if a.rule.priority > rule.priority), None)
            if above is not None:
                issues.append(
                    Issue(
                        file,
                        line,
                        f"rule {rule.id}: unreachable, rule {above.rule.id} "
                        f"({_where(above)}) always matches at a higher priority",
                    )
                )
            key = rule.condition.model_dump_json(by_alias=True, exclude_none=True)
            twin = seen.get(key)
            if twin is not None and twin.rule.priority == rule.priority:
                issues.append(
                    Issue(
                        file,
                        line,
                        f"rule {rule.id}: same condition as rule {twin.rule.id} "
                        f"({_where(twin)}); one of them never decides, merge them",
                    )
                )
            seen.setdefault(key, src)
            if rule.action == Action.APPROVE and rule.priority <= 0:
                issues.append(
                    Issue(
                        file,
                        line,
                        f"rule {rule.id}: approve at priority {rule.priority} never "
                        "changes a status (approved is the default); give it a priority above "
                        "the rules it should override",
                        "warning",
                    )
                )
        if not rule.examples.must_match and not rule.examples.must_not_match:
            issues.append(Issue(file, line, f"rule {rule.id}: no examples", "warning"))
    # Unknown labels (in rules and thresholds) are compile errors: see engine.py.
    for label, (spec, where) in defs.thresholds.items():
        if spec.flag is not None and spec.reject is not None and spec.flag >= spec.reject:
            issues.append(
                Issue(
                    where.file,
                    where.line,
                    f"thresholds.{label}: flag {spec.flag} is unreachable, "
                    f"reject {spec.reject} is crossed first",
                )
            )
    return issues


def check(dirs: Sequence[Path]) -> list[Issue]:
    """Every problem found, errors and warnings, in file order."""
    try:
        defs = read_definitions(list(dirs))
    except OSError as exc:
        return [Issue(str(getattr(exc, "filename", "") or "rules"), 0, str(exc))]
    ruleset, issues = compile_definitions(defs)
    if ruleset is not None:
        issues = [*issues, *analyse(defs)]
    return issues
