"""Classify a batch of stored comments: load, score in one forward pass, apply the rules,
explain, store each verdict atomically. One bad comment never fails its neighbours."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog

from moderation.classifier.base import Classifier
from moderation.classifier.batching import predict_isolated
from moderation.domain.comment import Comment, iso, utcnow
from moderation.domain.verdict import Status
from moderation.pipeline import build_verdict, labels_to_explain
from moderation.ruleset import ArticleContext, AuthorContext, RecentActivity, RuleContext, Ruleset
from moderation.store.comments import CommentStore, VerdictWrite

log = structlog.get_logger(__name__)


@dataclass
class BatchResult:
    written: dict[str, Status] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def rule_context(
    store: CommentStore, comment: Comment, scores: dict[str, float], rules: Ruleset
) -> RuleContext:
    """Everything the rules may look at beyond the text, read from the store up front so
    that evaluation itself stays pure."""
    counts = store.author_counts(comment.author_id)
    same, recent = store.recent_activity(
        comment.author_id, comment.text, comment.id, rules.repeat_window_s, rules.burst_window_s
    )
    profile = store.author_profile(comment.author_id)
    article = store.article_settings(comment.article_id)
    sent = comment.metadata.get("author")
    author_meta: dict[str, object] = sent if isinstance(sent, dict) else {}
    created = author_meta.get("account_created_at")
    return RuleContext(
        comment_id=comment.id,
        article_id=comment.article_id,
        author_id=comment.author_id,
        text=comment.text,
        scores=scores,
        metadata=comment.metadata,
        author=AuthorContext(
            approved_count=counts.get("approved", 0),
            rejected_count=counts.get("rejected", 0),
            flagged_count=counts.get("flagged", 0),
            account_created_at=created if isinstance(created, str) else None,
            banned=profile.get("banned", False),
            suspended=profile.get("suspended", False),
        ),
        article=ArticleContext(**article),
        recent=RecentActivity(same_text_by_author=same, author_comments_in_window=recent),
        received_at=comment.received_at or comment.created_at,
    )


def classify_batch(
    ids: Sequence[str],
    *,
    store: CommentStore,
    classifier: Classifier,
    ruleset: Callable[[], Ruleset],
    explain: bool = True,
) -> BatchResult:
    result = BatchResult()
    loaded = [c for c in store.get_many(list(ids)) if c is not None]
    todo = [c for c in loaded if c.status is Status.PENDING]
    for c in loaded:
        if c.status is not Status.PENDING:
            result.skipped[c.id] = f"already {c.status.value}"
    if not todo:
        return result
    rules = ruleset()  # one ruleset for the whole batch: never a half-reloaded one
    started = time.perf_counter()
    results = predict_isolated(classifier, [c.text for c in todo])
    model_ms = (time.perf_counter() - started) * 1000 / len(todo)
    scored: list[tuple[Comment, dict[str, float]]] = []
    for comment, scores_or_error in zip(todo, results, strict=True):
        if isinstance(scores_or_error, Exception):
            result.failed[comment.id] = f"{type(scores_or_error).__name__}: {scores_or_error}"
            log.error("classify.item_failed", comment_id=comment.id, error=str(scores_or_error))
        else:
            scored.append((comment, scores_or_error))
    for comment, scores in scored:
        try:
            t_context = time.perf_counter()
            context = rule_context(store, comment, scores, rules)
            t_rules = time.perf_counter()
            outcome = rules.evaluate(context)
            rules_ms = (time.perf_counter() - t_rules) * 1000
            spans = []
            t_explain = time.perf_counter()
            wanted = labels_to_explain(outcome)
            if explain and wanted:
                spans = classifier.explain(comment.text, wanted)
            verdict = build_verdict(
                scores=scores,
                outcome=outcome,
                spans=spans,
                model=classifier.info,
                ruleset_version=rules.version,
                decided_at=iso(utcnow()),
                timings_ms={
                    "model": model_ms,
                    "context": (t_rules - t_context) * 1000,
                    "rules": rules_ms,
                    "explain": (time.perf_counter() - t_explain) * 1000,
                },
                revision=comment.revision,
            )
            written = store.write_machine_verdict(comment.id, comment.revision, verdict)
        except Exception as exc:
            result.failed[comment.id] = f"{type(exc).__name__}: {exc}"
            log.error("classify.item_failed", comment_id=comment.id, error=str(exc))
            continue
        if written is VerdictWrite.WRITTEN:
            result.written[comment.id] = verdict.status
            log.info(
                "verdict.written",
                comment_id=comment.id,
                status=verdict.status.value,
                revision=comment.revision,
            )
        else:
            result.skipped[comment.id] = written.value
    return result
