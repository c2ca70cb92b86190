"""Classify a batch of stored comments: load, score in one forward pass, apply the rules,
store each verdict atomically; explain afterwards. One bad comment never fails its
neighbours."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from moderation.classifier.base import Classifier
from moderation.classifier.batching import predict_isolated
from moderation.coalesce import GroupCommit
from moderation.domain.comment import Comment, iso, utcnow
from moderation.domain.verdict import Status
from moderation.pipeline import build_verdict, labels_to_explain
from moderation.ruleset import ArticleContext, AuthorContext, RecentActivity, RuleContext, Ruleset
from moderation.store.comments import (
    CommentStore,
    ContextQuery,
    ContextReads,
    MachineVerdict,
    VerdictWrite,
)

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
    same, recent = store.recent_activity(
        comment.author_id, comment.text, comment.id, rules.repeat_window_s, rules.burst_window_s
    )
    return build_rule_context(
        comment,
        scores,
        counts=store.author_counts(comment.author_id),
        profile=store.author_profile(comment.author_id),
        article=store.article_settings(comment.article_id),
        same_text=same,
        burst=recent,
    )


def build_rule_context(
    comment: Comment,
    scores: dict[str, float],
    *,
    counts: Mapping[str, int],
    profile: Mapping[str, Any],
    article: Mapping[str, Any],
    same_text: int,
    burst: int,
) -> RuleContext:
    """Pure: the comment, its scores and what was read about its author and article."""
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
        recent=RecentActivity(same_text_by_author=same_text, author_comments_in_window=burst),
        received_at=comment.received_at or comment.created_at,
    )


class BatchStore(Protocol):
    """The two batched store calls of `classify_batch`: a CommentStore, or the same calls
    shared by a worker process's threads (SharedRoundTrips)."""

    def context_reads(self, queries: Sequence[ContextQuery]) -> list[ContextReads]: ...

    def write_machine_verdicts(
        self, items: Sequence[MachineVerdict]
    ) -> list[VerdictWrite | Exception]: ...


class SharedRoundTrips:
    """The classify tasks of one worker process (threads pool) share their context reads
    and verdict writes: a batch the model scored together reads and writes Redis in about
    one round trip each, not one per comment."""

    def __init__(self, store: CommentStore) -> None:
        self._reads: GroupCommit[ContextQuery, ContextReads] = GroupCommit(store.context_reads)
        self._writes: GroupCommit[MachineVerdict, VerdictWrite | Exception] = GroupCommit(
            store.write_machine_verdicts
        )

    def context_reads(self, queries: Sequence[ContextQuery]) -> list[ContextReads]:
        return self._reads(queries)

    def write_machine_verdicts(
        self, items: Sequence[MachineVerdict]
    ) -> list[VerdictWrite | Exception]:
        return self._writes(items)


def rule_contexts(
    store: BatchStore, scored: Sequence[tuple[Comment, dict[str, float]]], rules: Ruleset
) -> list[tuple[RuleContext, ContextReads]]:
    """`rule_context` for a whole batch, read from the store in one round trip, with what
    was read (the comment's state, for the verdict's write)."""
    reads = store.context_reads(
        [
            ContextQuery(
                c.id, c.author_id, c.article_id, c.text, rules.repeat_window_s, rules.burst_window_s
            )
            for c, _ in scored
        ]
    )
    out = []
    for (comment, scores), r in zip(scored, reads, strict=True):
        context = build_rule_context(
            comment,
            scores,
            counts=r.counts,
            profile=r.profile,
            article=r.article,
            same_text=r.same_text,
            burst=r.burst,
        )
        out.append((context, r))
    return out


def classify_batch(
    ids: Sequence[str],
    *,
    store: CommentStore,
    classifier: Classifier,
    ruleset: Callable[[], Ruleset],
    explain: bool = True,
    shared: BatchStore | None = None,
) -> BatchResult:
    """Verdicts first: each is stored as soon as scores and rules decide it. Spans for the
    labels that flagged or rejected it are added afterwards (`explain_pending`), marked
    `explanation: "pending"` until then, so occlusion never delays a verdict."""
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
    if not scored:
        return result
    batch_store = shared or store
    t_context = time.perf_counter()
    try:
        contexts = rule_contexts(batch_store, scored, rules)
    except Exception as exc:
        for comment, _ in scored:
            result.failed[comment.id] = f"{type(exc).__name__}: {exc}"
            log.error("classify.item_failed", comment_id=comment.id, error=str(exc))
        return result
    context_ms = (time.perf_counter() - t_context) * 1000 / len(scored)
    to_write: list[tuple[Comment, MachineVerdict]] = []
    for (comment, scores), (context, reads) in zip(scored, contexts, strict=True):
        try:
            t_rules = time.perf_counter()
            outcome = rules.evaluate(context)
            rules_ms = (time.perf_counter() - t_rules) * 1000
            verdict = build_verdict(
                scores=scores,
                outcome=outcome,
                spans=[],
                model=classifier.info,
                ruleset_version=rules.version,
                decided_at=iso(utcnow()),
                timings_ms={"model": model_ms, "context": context_ms, "rules": rules_ms},
                revision=comment.revision,
                explanation="pending" if explain and labels_to_explain(outcome) else None,
            )
        except Exception as exc:
            result.failed[comment.id] = f"{type(exc).__name__}: {exc}"
            log.error("classify.item_failed", comment_id=comment.id, error=str(exc))
            continue
        to_write.append(
            (
                comment,
                MachineVerdict(
                    comment_id=comment.id,
                    revision=comment.revision,
                    verdict=verdict,
                    state=reads.state,
                    author_rejections=reads.counts.get(Status.REJECTED.value, 0),
                ),
            )
        )
    if not to_write:
        return result
    # The batch's verdicts in one round trip, each atomic with its event.
    try:
        writes = batch_store.write_machine_verdicts([item for _, item in to_write])
    except Exception as exc:
        writes = [exc] * len(to_write)
    for (comment, item), written in zip(to_write, writes, strict=True):
        if isinstance(written, Exception):
            result.failed[comment.id] = f"{type(written).__name__}: {written}"
            log.error("classify.item_failed", comment_id=comment.id, error=str(written))
        elif written is VerdictWrite.WRITTEN:
            result.written[comment.id] = item.verdict.status
            log.info(
                "verdict.written",
                comment_id=comment.id,
                status=item.verdict.status.value,
                revision=comment.revision,
            )
        else:
            result.skipped[comment.id] = written.value
    return result


def explain_pending(
    store: CommentStore, classifier: Classifier, *, limit: int = 8, lease_s: float = 300.0
) -> int:
    """Claim up to `limit` verdicts waiting for spans, compute them, add them to the stored
    verdict if it is still the one explained. Returns how many were claimed."""
    claimed = store.claim_explanations(limit, lease_s)
    for comment in store.get_many(claimed):
        if comment is None:
            continue
        verdict = comment.verdict
        if (
            verdict is None
            or verdict.explanation != "pending"
            or verdict.revision != comment.revision  # edited since: this text is not its
        ):
            store.drop_explanation(comment.id)
            continue
        labels = verdict.labels_over_threshold()
        t0 = time.perf_counter()
        try:
            spans = classifier.explain(comment.text, labels) if labels else []
        except Exception as exc:  # a failed explanation must not keep the entry forever
            log.error("explain.failed", comment_id=comment.id, error=str(exc))
            spans = []
        attached = store.attach_spans(comment.id, comment.revision, verdict.decided_at, spans)
        log.info(
            "explain.done",
            comment_id=comment.id,
            spans=len(spans),
            attached=attached,
            ms=round((time.perf_counter() - t0) * 1000, 1),
        )
    return len(claimed)
