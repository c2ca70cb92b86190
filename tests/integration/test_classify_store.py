"""classify_batch against the real Redis: idempotent, atomic, respectful of moderators."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from redis.connection import Connection
from support import make_settings

from moderation.classifier.base import ModelInfo
from moderation.classify import BatchResult, SharedRoundTrips, classify_batch, explain_pending
from moderation.domain.comment import body_fingerprint, iso, utcnow
from moderation.domain.verdict import DecidedBy, Decision, Span, Status, Verdict
from moderation.ruleset import Ruleset, load_ruleset
from moderation.services import Services
from moderation.store.comments import (
    Actor,
    ContextQuery,
    DecisionResult,
    MachineVerdict,
    NewComment,
    VerdictWrite,
)


class KeywordClassifier:
    """Scores 0.99 toxicity for texts containing 'idiot', else 0.01; 'poison' raises."""

    info = ModelInfo("keyword", "1")
    labels: tuple[str, ...] = ("toxicity", "insult")

    def predict(self, texts: Sequence[str]) -> list[dict[str, float]]:
        if any("poison" in t for t in texts):
            raise ValueError("poison")
        return [{"toxicity": 0.99 if "idiot" in t else 0.01, "insult": 0.0} for t in texts]

    def explain(self, text: str, labels: Sequence[str]) -> list[Span]:
        start = text.find("idiot")
        return [Span(start=start, end=start + 5, label="toxicity")] if start >= 0 else []


@pytest.fixture
def svc(redis_url: str) -> Services:
    return Services.from_settings(make_settings(redis_url, f"test-cls-{uuid.uuid4().hex[:8]}:"))


@pytest.fixture(scope="module")
def ruleset() -> Ruleset:
    from moderation.config import DEFAULT_RULES_DIR

    return load_ruleset([DEFAULT_RULES_DIR])


def store(svc: Services, text: str, author: str = "a1") -> str:
    cid = f"c-{uuid.uuid4().hex[:10]}"
    svc.comments.create(
        NewComment(
            cid, "art", author, text, utcnow(), None, None, {}, body_fingerprint({"t": text})
        )
    )
    return cid


def run(svc: Services, ids: list[str], ruleset: Ruleset) -> BatchResult:
    return classify_batch(
        ids, store=svc.comments, classifier=KeywordClassifier(), ruleset=lambda: ruleset
    )


def test_toxic_comment_is_flagged_then_its_span_highlighted(
    svc: Services, ruleset: Ruleset
) -> None:
    cid = store(svc, "you absolute idiot")
    run(svc, [cid], ruleset)
    comment = svc.comments.get(cid)
    assert comment is not None and comment.status in (Status.FLAGGED, Status.REJECTED)
    # The verdict is stored first, its spans not yet computed.
    assert comment.verdict is not None and comment.verdict.explanation == "pending"
    assert not any(r.spans for r in comment.verdict.reasons)
    events_before = svc.events.length()
    assert explain_pending(svc.comments, KeywordClassifier()) == 1
    comment = svc.comments.get(cid)
    assert comment is not None and comment.verdict is not None
    assert comment.verdict.explanation == "ready"
    assert svc.events.length() == events_before  # adding spans is not a state change
    assert svc.comments.explanations_pending() == 0
    reason = next(r for r in comment.verdict.reasons if r.label == "toxicity")
    assert reason.spans and comment.text[reason.spans[0].start : reason.spans[0].end] == "idiot"
    assert svc.redis.zscore(svc.keys.pending(), cid) is None
    assert svc.redis.zscore(svc.keys.article_comments("art", comment.status.value), cid) is not None
    assert svc.redis.zscore(svc.keys.article_comments("art", "pending"), cid) is None


def test_running_twice_gives_one_verdict(svc: Services, ruleset: Ruleset) -> None:
    cid = store(svc, "a perfectly civil remark")
    run(svc, [cid], ruleset)
    first = svc.comments.get(cid)
    run(svc, [cid], ruleset)
    second = svc.comments.get(cid)
    assert first is not None and second is not None and first.verdict == second.verdict
    assert svc.comments.author_counts("a1") == {"approved": 1}


def test_one_poison_comment_does_not_fail_its_neighbours(svc: Services, ruleset: Ruleset) -> None:
    good, bad = store(svc, "fine words"), store(svc, "poison words")
    result = run(svc, [good, bad], ruleset)
    assert bad in result.failed  # type: ignore[attr-defined]
    assert svc.comments.get(good).status is Status.APPROVED  # type: ignore[union-attr]
    assert svc.comments.get(bad).status is Status.PENDING  # type: ignore[union-attr]


def test_moderator_decision_is_never_overwritten(svc: Services, ruleset: Ruleset) -> None:
    cid = store(svc, "you idiot")
    run(svc, [cid], ruleset)
    comment = svc.comments.get(cid)
    assert comment is not None and comment.verdict is not None
    alice = Actor(key_id="alice-key", name="alice", role="moderator")
    outcome = svc.comments.decide(
        cid, comment.revision, Decision.APPROVE, reason="fair criticism", note=None, actor=alice
    )
    assert outcome == (DecisionResult.DECIDED, comment.revision)
    rerun = comment.verdict.model_copy(update={"ruleset": None})
    assert svc.comments.write_machine_verdict(cid, comment.revision, rerun) is VerdictWrite.KEPT
    kept = svc.comments.get(cid)
    assert kept is not None and kept.status is Status.APPROVED
    assert kept.verdict is not None and kept.verdict.decided_by is DecidedBy.MODERATOR
    assert kept.verdict.decision is not None and kept.verdict.decision.actor == "alice-key"


def test_an_edit_after_a_decision_is_moderated_again(svc: Services, ruleset: Ruleset) -> None:
    cid = store(svc, "you idiot")
    run(svc, [cid], ruleset)
    alice = Actor(key_id="alice-key", name="alice", role="moderator")
    svc.comments.decide(cid, 1, Decision.APPROVE, reason="ok", note=None, actor=alice)
    svc.comments.edit(cid, "a thoughtful reply about the ambassador")
    run(svc, [cid], ruleset)
    comment = svc.comments.get(cid)
    assert comment is not None and comment.revision == 2
    assert comment.verdict is not None and comment.verdict.decided_by is not DecidedBy.MODERATOR
    assert comment.verdict.revision == 2


def test_verdict_for_an_old_revision_is_discarded(svc: Services) -> None:
    cid = store(svc, "first text")
    svc.comments.edit(cid, "second text")
    stale = Verdict(status=Status.APPROVED, decided_by=DecidedBy.MODEL, decided_at=iso(utcnow()))
    assert svc.comments.write_machine_verdict(cid, 1, stale) is VerdictWrite.STALE
    assert svc.comments.get(cid).status is Status.PENDING  # type: ignore[union-attr]


def test_dead_letter_and_retry(svc: Services) -> None:
    cid = store(svc, "text")
    assert svc.comments.mark_error(cid, 1, "model crashed")
    comment = svc.comments.get(cid)
    assert comment is not None and comment.status is Status.ERROR
    assert svc.redis.zscore(svc.keys.dead_letter(), cid) is not None
    assert svc.comments.retry_errored(cid)
    assert svc.comments.get(cid).status is Status.PENDING  # type: ignore[union-attr]
    assert svc.redis.zscore(svc.keys.dead_letter(), cid) is None


def test_repeat_posting_is_counted_from_the_store(svc: Services, ruleset: Ruleset) -> None:
    ids = [store(svc, "Vote for my   channel", author="repeater") for _ in range(3)]
    other = store(svc, "a different thought", author="repeater")
    run(svc, [*ids, other], ruleset)
    fired = [
        {r.rule_id for r in svc.comments.get(cid).verdict.reasons}  # type: ignore[union-attr]
        for cid in ids
    ]
    # Each copy sees the other two in the repeat window: case and spacing aside, same text.
    assert all("repeat-spam" in f for f in fired)
    assert "repeat-post" not in {
        r.rule_id
        for r in svc.comments.get(other).verdict.reasons  # type: ignore[union-attr]
    }
    same, burst = svc.comments.recent_activity("repeater", "vote for my channel", "x", 600, 300)
    assert (same, burst) == (3, 4)


def test_an_approved_comment_needs_no_explanation(svc: Services, ruleset: Ruleset) -> None:
    cid = store(svc, "a perfectly civil remark")
    run(svc, [cid], ruleset)
    comment = svc.comments.get(cid)
    assert comment is not None and comment.verdict is not None
    assert comment.verdict.explanation is None
    assert svc.comments.explanations_pending() == 0


def test_spans_never_touch_a_moderators_decision(svc: Services, ruleset: Ruleset) -> None:
    cid = store(svc, "you idiot")
    run(svc, [cid], ruleset)
    comment = svc.comments.get(cid)
    assert comment is not None and comment.verdict is not None
    machine = comment.verdict
    alice = Actor(key_id="alice-key", name="alice", role="moderator")
    svc.comments.decide(cid, 1, Decision.APPROVE, reason="quote", note=None, actor=alice)
    decided = svc.comments.get(cid)
    spans = [Span(start=4, end=9, label="toxicity")]
    assert not svc.comments.attach_spans(cid, 1, machine.decided_at, spans)
    assert svc.comments.get(cid) == decided
    assert svc.comments.explanations_pending() == 0


def test_an_undo_brings_back_the_spans_still_owed(svc: Services, ruleset: Ruleset) -> None:
    cid = store(svc, "you idiot")
    run(svc, [cid], ruleset)
    assert svc.comments.explanations_pending() == 1
    alice = Actor(key_id="alice-key", name="alice", role="moderator")
    svc.comments.decide(cid, 1, Decision.APPROVE, reason="quote", note=None, actor=alice)
    assert svc.comments.explanations_pending() == 0
    svc.comments.undo_decision(cid, actor=alice, window_s=300)
    # The machine verdict is back, still waiting for its spans: it is queued again.
    assert svc.comments.explanations_pending() == 1
    explain_pending(svc.comments, KeywordClassifier())
    restored = svc.comments.get(cid)
    assert restored is not None and restored.verdict is not None
    assert restored.verdict.explanation == "ready"
    reason = next(r for r in restored.verdict.reasons if r.label == "toxicity")
    assert restored.text[reason.spans[0].start : reason.spans[0].end] == "idiot"


def test_spans_for_an_older_verdict_are_dropped(svc: Services, ruleset: Ruleset) -> None:
    cid = store(svc, "you idiot")
    run(svc, [cid], ruleset)
    first = svc.comments.get(cid)
    assert first is not None and first.verdict is not None
    svc.comments.edit(cid, "you fool of an idiot")
    run(svc, [cid], ruleset)
    spans = [Span(start=4, end=9, label="toxicity")]
    # The first verdict's spans arrive late: its revision and decided_at are no longer there.
    assert not svc.comments.attach_spans(cid, 1, first.verdict.decided_at, spans)
    current = svc.comments.get(cid)
    assert current is not None and current.verdict is not None
    assert current.verdict.revision == 2 and current.verdict.explanation == "pending"
    explain_pending(svc.comments, KeywordClassifier())
    current = svc.comments.get(cid)
    assert current is not None and current.verdict is not None
    reason = next(r for r in current.verdict.reasons if r.label == "toxicity")
    assert current.text[reason.spans[0].start : reason.spans[0].end] == "idiot"


def test_a_claimed_explanation_is_leased(svc: Services, ruleset: Ruleset) -> None:
    cid = store(svc, "you idiot")
    run(svc, [cid], ruleset)
    assert svc.comments.claim_explanations(10, lease_s=60) == [cid]
    assert svc.comments.claim_explanations(10, lease_s=60) == []  # another worker: leased
    assert svc.comments.explanations_pending() == 1


class CountingConnection(Connection):
    sent = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.sent += 1
        super().send_packed_command(command, check_health)


def test_a_batch_reads_its_context_and_writes_its_verdicts_in_one_round_trip_each(
    redis_url: str, ruleset: Ruleset
) -> None:
    svc = Services.from_settings(make_settings(redis_url, f"test-cls-{uuid.uuid4().hex[:8]}:"))
    svc.redis.connection_pool.connection_class = CountingConnection
    ids = [store(svc, f"comment {i} {'you idiot' if i % 3 == 0 else 'fine'}") for i in range(12)]
    run(svc, [store(svc, "warm the connection and the scripts, you idiot")], ruleset)
    before = CountingConnection.sent
    result = run(svc, ids, ruleset)
    # Loading the batch, its rule context, its verdicts: one round trip each.
    assert CountingConnection.sent - before == 3
    assert isinstance(result, BatchResult) and set(result.written) == set(ids)
    owed = 0
    for cid in ids:
        comment = svc.comments.get(cid)
        assert comment is not None and comment.verdict is not None
        owed += comment.verdict.explanation == "pending"
        events = [e.type.value for e in svc.events.for_comment(cid)]
        assert events == ["comment.stored", f"comment.{comment.status.value}"]
        assert svc.redis.zscore(svc.keys.pending(), cid) is None
        index = svc.keys.article_comments("art", comment.status)
        assert svc.redis.zscore(index, cid) is not None
    assert owed >= 4  # the idiots, at least
    assert svc.comments.explanations_pending() == owed + 1  # and the warm-up's


def test_a_comment_changed_between_its_read_and_its_write_is_not_overwritten(
    svc: Services, ruleset: Ruleset
) -> None:
    """The batched write applies a change only to the state it was decided on: an edit
    that lands between the context read and the write makes that verdict stale, and a
    record that cannot be read fails only its own comment."""
    edited, damaged, fine = (store(svc, t) for t in ("you idiot", "fine words", "also fine"))
    comments = [c for c in svc.comments.get_many([edited, damaged, fine]) if c is not None]
    queries = [ContextQuery(c.id, c.author_id, c.article_id, c.text, 60, 60) for c in comments]
    reads = svc.comments.context_reads(queries)
    assert svc.comments.edit(edited, "you idiot, edited") is not None
    verdict = Verdict(status=Status.APPROVED, decided_by=DecidedBy.MODEL, decided_at=iso(utcnow()))
    items = [
        MachineVerdict(c.id, 1, verdict, r.state, 0) for c, r in zip(comments, reads, strict=True)
    ]
    items[1] = MachineVerdict(damaged, 1, verdict, ("approved", "x", *items[1].state[2:]), 0)
    out = svc.comments.write_machine_verdicts(items)
    assert out[0] is VerdictWrite.STALE
    assert isinstance(out[1], ValueError)
    assert out[2] is VerdictWrite.WRITTEN
    after = svc.comments.get(edited)
    assert after is not None and after.status is Status.PENDING and after.revision == 2
    assert [e.type.value for e in svc.events.for_comment(edited)] == [
        "comment.stored",
        "comment.edited",
    ]
    still = svc.comments.get(damaged)
    assert still is not None and still.status is Status.PENDING


def test_threads_share_their_round_trips(redis_url: str, ruleset: Ruleset) -> None:
    """As a batch's tasks do when the model hands them their scores at once."""
    svc = Services.from_settings(make_settings(redis_url, f"test-cls-{uuid.uuid4().hex[:8]}:"))
    svc.redis.connection_pool.connection_class = CountingConnection
    shared = SharedRoundTrips(svc.comments)
    start = threading.Barrier(16)

    def task(cid: str) -> BatchResult:
        start.wait()
        return classify_batch(
            [cid],
            store=svc.comments,
            classifier=KeywordClassifier(),
            ruleset=lambda: ruleset,
            shared=shared,
        )

    with ThreadPoolExecutor(16) as pool:
        # The first round opens the threads' connections (a few commands each).
        list(pool.map(task, [store(svc, f"warm {i}") for i in range(16)]))
        ids = [store(svc, f"thread {i}, you idiot") for i in range(16)]
        before = CountingConnection.sent
        results = list(pool.map(task, ids))
        sent = CountingConnection.sent - before
    assert all(r.written for r in results)
    # 16 loads, then the 16 context reads and 16 writes in a few shared round trips (one
    # each made alone: 16 x 6 = 96 before the writes were batched; measured 20 here, more
    # when a thread still opens a connection).
    assert sent < 16 * 3, sent
    for comment in svc.comments.get_many(ids):
        assert comment is not None and comment.status is not Status.PENDING
