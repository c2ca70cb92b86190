"""The rule engine: a loaded ruleset turns scores and context into a status and reasons.

Precedence: every matching rule (and every model threshold crossed) is recorded as a
reason. Among the enforced ones, the highest `priority` decides (model thresholds have
priority 0, like rules that do not set one); within that priority the most severe
action wins, reject > flag > approve. A comment that matches nothing is approved.
Shadow rules are recorded with `shadow=True` and never change the status.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import re2

from moderation.domain.labels import LABELS
from moderation.domain.verdict import Action, Reason, Span, Status
from moderation.ruleset import conditions as c
from moderation.ruleset.context import ArticleContext, AuthorContext, RecentActivity, RuleContext
from moderation.ruleset.errors import Issue, RulesetError
from moderation.ruleset.limits import check_time
from moderation.ruleset.loader import Definitions, Located, RuleSource, read_definitions
from moderation.ruleset.matchers import Entry, WordMatcher, make_entry
from moderation.ruleset.schema import Condition, Example, ExampleContext, Rule

__all__ = [
    "CompiledRule",
    "ExampleResult",
    "Issue",
    "RuleOutcome",
    "Ruleset",
    "RulesetError",
    "Threshold",
    "load_ruleset",
]

DEFAULT_REPEAT_WINDOW_S = 600
DEFAULT_BURST_WINDOW_S = 300


@dataclass(frozen=True)
class Threshold:
    label: str
    flag: float | None
    reject: float | None
    where: Located


@dataclass(frozen=True)
class CompiledRule:
    rule: Rule
    where: Located
    condition: c.Compiled
    shadow: bool


@dataclass(frozen=True)
class RuleOutcome:
    status: Status
    reasons: list[Reason] = field(default_factory=list)
    ruleset_version: str = ""
    # ids of the enforced rules (or "model:<label>") that set the status
    decided_by: tuple[str, ...] = ()
    notify: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExampleResult:
    rule_id: str
    where: Located
    expected_match: bool
    matched: bool
    text: str

    @property
    def ok(self) -> bool:
        return self.expected_match == self.matched


class Ruleset:
    """An immutable, compiled ruleset. `evaluate` is pure and safe to call from threads."""

    def __init__(
        self,
        version: str,
        rules: Sequence[CompiledRule],
        thresholds: Sequence[Threshold],
        matcher: WordMatcher,
        *,
        repeat_window_s: int = DEFAULT_REPEAT_WINDOW_S,
        burst_window_s: int = DEFAULT_BURST_WINDOW_S,
        files: Sequence[Path] = (),
        lists: dict[str, int] | None = None,
    ) -> None:
        self.version = version
        self.rules: tuple[CompiledRule, ...] = tuple(rules)
        self.thresholds: tuple[Threshold, ...] = tuple(thresholds)
        self.matcher = matcher
        self.repeat_window_s = repeat_window_s
        self.burst_window_s = burst_window_s
        self.files: tuple[Path, ...] = tuple(files)
        self.lists: dict[str, int] = dict(lists or {})
        self._by_id = {r.rule.id: r for r in self.rules}

    def rule(self, rule_id: str) -> CompiledRule | None:
        return self._by_id.get(rule_id)

    def evaluate(self, ctx: RuleContext) -> RuleOutcome:
        reasons: list[Reason] = []
        decisive: list[tuple[int, int, str]] = []  # (priority, severity, id)
        sensitivity = ctx.article.sensitivity
        scores = ctx.scores
        for t in self.thresholds:
            score = scores.get(t.label)
            if score is None:
                continue
            # Report only the strongest threshold crossed: one reason per label.
            action: Action | None = None
            limit = 0.0
            if t.reject is not None and score >= t.reject * sensitivity:
                action, limit = Action.REJECT, t.reject * sensitivity
            elif t.flag is not None and score >= t.flag * sensitivity:
                action, limit = Action.FLAG, t.flag * sensitivity
            if action is None:
                continue
            reasons.append(
                Reason(
                    source="model",
                    label=t.label,
                    score=round(score, 4),
                    threshold=round(limit, 4),
                    action=action,
                    message=f"{t.label} {score:.2f} >= {limit:.2f}",
                )
            )
            decisive.append((0, action.severity, f"model:{t.label}"))

        ev = c.Evaluation(ctx, self.matcher)
        notify: list[str] = []
        tags: list[str] = []
        for compiled in self.rules:
            found = compiled.condition.match(ev)
            if found is None:
                continue
            rule = compiled.rule
            # model_construct: the values come from validated rules, and validating
            # again would cost a noticeable share of the evaluation.
            reasons.append(
                Reason.model_construct(
                    source="rule",
                    rule_id=rule.id,
                    action=rule.action,
                    shadow=compiled.shadow,
                    message=rule.message or rule.description,
                    spans=_spans(found),
                )
            )
            if compiled.shadow:
                continue
            decisive.append((rule.priority, rule.action.severity, rule.id))
            notify.extend(n for n in rule.notify if n not in notify)
            tags.extend(t for t in rule.tags if t not in tags)

        if not decisive:
            return RuleOutcome(Status.APPROVED, reasons, self.version)
        top_priority = max(d[0] for d in decisive)
        top = [d for d in decisive if d[0] == top_priority]
        severity = max(d[1] for d in top)
        status = _STATUS_BY_SEVERITY[severity]
        decided_by = tuple(d[2] for d in top if d[1] == severity)
        return RuleOutcome(status, reasons, self.version, decided_by, tuple(notify), tuple(tags))

    def run_examples(self) -> list[ExampleResult]:
        """Check every rule against its own examples (its condition alone, not the set)."""
        results: list[ExampleResult] = []
        for compiled in self.rules:
            check_time(compiled.where.file, compiled.where.line)
            ex = compiled.rule.examples
            for expected, items in ((True, ex.must_match), (False, ex.must_not_match)):
                for item in items:
                    ctx = example_context(item)
                    matched = compiled.condition.match(c.Evaluation(ctx, self.matcher)) is not None
                    results.append(
                        ExampleResult(compiled.rule.id, compiled.where, expected, matched, ctx.text)
                    )
        return results


_STATUS_BY_SEVERITY = {
    Action.APPROVE.severity: Status.APPROVED,
    Action.FLAG.severity: Status.FLAGGED,
    Action.REJECT.severity: Status.REJECTED,
}


def _spans(found: list[c.SpanTuple]) -> list[Span]:
    unique = sorted(set(found), key=lambda s: (s[0], s[1], s[2] or ""))
    return [Span.model_construct(start=s, end=e, label=label) for s, e, label in unique]


def example_context(item: Example) -> RuleContext:
    if isinstance(item, str):
        return RuleContext(
            comment_id="example", article_id="example", author_id="example", text=item
        )
    ex: ExampleContext = item
    return RuleContext(
        comment_id="example",
        article_id="example",
        author_id="example",
        text=ex.text,
        scores=dict(ex.scores),
        metadata=dict(ex.metadata),
        author=AuthorContext.model_validate(ex.author.model_dump())
        if ex.author
        else AuthorContext(),
        article=ArticleContext.model_validate(ex.article.model_dump())
        if ex.article
        else ArticleContext(),
        recent=RecentActivity.model_validate(ex.recent.model_dump())
        if ex.recent
        else RecentActivity(),
        received_at=ex.received_at,
    )


class _Compiler:
    def __init__(self, defs: Definitions) -> None:
        self.defs = defs
        self.issues: list[Issue] = []
        self.inline: list[Entry] = []
        self._inline_n = 0

    def rule(self, src: RuleSource) -> c.Compiled | None:
        check_time(src.where.file, src.where.line)
        before = len(self.issues)
        compiled = self.condition(src.rule.condition, src, ("condition",))
        return compiled if len(self.issues) == before else None

    def _err(self, src: RuleSource, path: tuple[str | int, ...], message: str) -> None:
        line = src.where.line
        for i in range(len(path), -1, -1):
            if path[:i] in src.lines:
                line = src.lines[path[:i]]
                break
        self.issues.append(Issue(src.where.file, line, f"rule {src.rule.id}: {message}"))

    def condition(
        self, cond: Condition, src: RuleSource, path: tuple[str | int, ...]
    ) -> c.Compiled:
        kind = cond.kind
        here = (*path, kind)
        if cond.all is not None:
            return c.All([self.condition(x, src, (*here, i)) for i, x in enumerate(cond.all)])
        if cond.any is not None:
            return c.Any([self.condition(x, src, (*here, i)) for i, x in enumerate(cond.any)])
        if cond.not_ is not None:
            return c.Not(self.condition(cond.not_, src, here))
        if cond.score is not None:
            if cond.score.label not in LABELS:
                # An error, not a warning: a score on a label no model gives never fires, so
                # the rule would look active while it guards nothing.
                self._err(
                    src,
                    (*here, "label"),
                    f"{cond.score.label!r} is not a model label (labels: {', '.join(LABELS)})",
                )
            return c.Score(cond.score.label, cond.score.gte, cond.score.lt)
        if cond.words is not None:
            names = set(cond.words.lists)
            for i, name in enumerate(cond.words.lists):
                if name not in self.defs.lists:
                    known = ", ".join(sorted(self.defs.lists)) or "none"
                    self._err(
                        src, (*here, "lists", i), f"unknown word list {name!r} (known: {known})"
                    )
            if cond.words.terms:
                self._inline_n += 1
                name = f"{src.rule.id}#terms{self._inline_n}"
                names.add(name)
                for i, term in enumerate(cond.words.terms):
                    entry = make_entry(name, term)
                    if entry is None:
                        self._err(
                            src, (*here, "terms", i), f"term {term!r} has no letters or digits"
                        )
                    else:
                        self.inline.append(entry)
            return c.Words(frozenset(names), cond.words.min_count)
        if cond.regex is not None:
            pattern = cond.regex.pattern
            try:
                compiled = re2.compile(("(?i)" if cond.regex.ignore_case else "") + pattern)
            except re2.error as exc:
                self._err(src, (*here, "pattern"), f"invalid RE2 pattern {pattern!r}: {exc}")
                return c.Not(c.All([]))
            return c.Regex(compiled, "regex")
        if cond.links is not None:
            lk = cond.links
            return c.Links(
                lk.count_gte,
                frozenset(d.lower().removeprefix("www.") for d in lk.allow),
                frozenset(d.lower().removeprefix("www.") for d in lk.deny),
            )
        if cond.length is not None:
            return c.Length(cond.length.gte, cond.length.lt)
        if cond.caps is not None:
            return c.Caps(cond.caps.ratio_gte, cond.caps.min_letters)
        if cond.author is not None:
            a = cond.author
            return c.Author(
                a.banned,
                a.suspended,
                a.approved_lt,
                a.approved_gte,
                a.rejected_gte,
                a.flagged_gte,
                a.account_age_days_lt,
            )
        if cond.article is not None:
            ar = cond.article
            return c.Article(ar.premoderate, ar.closed, ar.sensitivity_lt)
        if cond.repeat is not None:
            return c.Repeat(cond.repeat.same_text_gte)
        if cond.burst is not None:
            return c.Burst(cond.burst.comments_gte)
        if cond.metadata is not None:
            return c.Metadata(cond.metadata.key, list(cond.metadata.in_))
        raise AssertionError(f"condition kind {kind} not compiled")


def compile_definitions(defs: Definitions) -> tuple[Ruleset | None, list[Issue]]:
    """The compiled ruleset, or None and every error found."""
    issues = list(defs.issues)
    seen: dict[str, Located] = {}
    for src in defs.rules:
        first = seen.get(src.rule.id)
        if first is not None:
            issues.append(
                Issue(
                    src.where.file,
                    src.where.line,
                    f"duplicate rule id {src.rule.id!r} (first in {first.file}:{first.line})",
                )
            )
        else:
            seen[src.rule.id] = src.where

    entries: list[Entry] = []
    list_sizes: dict[str, int] = {}
    for name, words in defs.lists.items():
        list_sizes[name] = len(words)
        for w in words:
            entry = make_entry(name, w.term)
            if entry is None:
                issues.append(
                    Issue(w.where.file, w.where.line, f"entry {w.term!r} has no letters or digits")
                )
            else:
                entries.append(entry)

    for label, (_spec, where) in defs.thresholds.items():
        if label not in LABELS:
            issues.append(
                Issue(
                    where.file,
                    where.line,
                    f"thresholds.{label}: not a model label (labels: {', '.join(LABELS)})",
                )
            )
    compiler = _Compiler(defs)
    rules: list[CompiledRule] = []
    for src in defs.rules:
        cond = compiler.rule(src)
        if cond is not None:
            rules.append(CompiledRule(src.rule, src.where, cond, src.rule.mode == "shadow"))
    issues.extend(compiler.issues)
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        return None, issues

    thresholds = [
        Threshold(label, spec.flag, spec.reject, where)
        for label, (spec, where) in defs.thresholds.items()
    ]
    settings = {k: v for k, (v, _) in defs.settings.items()}
    ruleset = Ruleset(
        defs.version,
        rules,
        thresholds,
        WordMatcher([*entries, *compiler.inline]),
        repeat_window_s=settings.get("repeat_window_s", DEFAULT_REPEAT_WINDOW_S),
        burst_window_s=settings.get("burst_window_s", DEFAULT_BURST_WINDOW_S),
        files=defs.files,
        lists=list_sizes,
    )
    return ruleset, issues


def load_ruleset(dirs: Iterable[Path]) -> Ruleset:
    """Load and compile every rule file and word list in `dirs`.

    Raises RulesetError naming file, line and reason; nothing half-built is returned.
    """
    try:
        defs = read_definitions([Path(d) for d in dirs])
    except OSError as exc:
        raise RulesetError(
            [Issue(str(getattr(exc, "filename", "") or "rules"), 0, str(exc))]
        ) from exc
    ruleset, issues = compile_definitions(defs)
    if ruleset is None:
        raise RulesetError([i for i in issues if i.severity == "error"])
    return ruleset
