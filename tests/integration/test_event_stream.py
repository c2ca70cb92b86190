"""The comment event stream against the changes that made it: 1,000 comments taken through
store, machine verdict, moderator decision, appeal, decision on appeal, undos and edits.
Every change has exactly one event (in the stream and in the comment's own history, with
the same id) and every event has its change; refused operations leave no event."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import redis
from support import delete_prefix

from moderation.domain.comment import iso, utcnow
from moderation.domain.events import CommentEvent, EventType
from moderation.domain.verdict import (
    Action,
    DecidedBy,
    Decision,
    ModelRef,
    Reason,
    RulesetRef,
    Status,
    Verdict,
)
from moderation.store.comments import (
    Actor,
    AppealResult,
    CommentStore,
    DecisionResult,
    NewComment,
    UndoResult,
    VerdictWrite,
)
from moderation.store.events import EventLog
from moderation.store.keys import Keys

N = 1000
MOD = Actor(key_id="mod-a", name="Ann", role="moderator")
SITE = Actor(key_id="site-a", name="site", role="site")

# (type, status before, status after, revision) of one change, as the test made it.
Change = tuple[EventType, Status | None, Status, int]


@pytest.fixture
def store(redis_url: str) -> Iterator[CommentStore]:
    prefix = f"test-events-{uuid.uuid4().hex[:8]}:"
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        yield CommentStore(client, Keys(prefix))
    finally:
        delete_prefix(redis_url, prefix)


def machine_verdict(i: int, status: Status, revision: int) -> Verdict:
    label = ("insult", "threat", "identity_attack")[i % 3]
    reasons = [
        Reason(
            source="model",
            message=f"{label} over threshold",
            label=label,
            score=0.5 + (i % 50) / 100,
            threshold=0.5,
            action=Action.FLAG,
        )
    ]
    tags, notify = [], []
    if status is Status.REJECTED:
        reasons.append(
            Reason(source="rule", message="slur list", rule_id="slurs", action=Action.REJECT)
        )
        tags, notify = ["hate"], ["oncall"]
    return Verdict(
        status=status,
        scores={label: 0.5 + (i % 50) / 100},
        reasons=reasons,
        model=ModelRef(name="test-model", version="1"),
        ruleset=RulesetRef(version=f"rules-{revision}"),
        decided_by=DecidedBy.RULES if status is Status.REJECTED else DecidedBy.MODEL,
        decided_at=iso(utcnow()),
        revision=revision,
        tags=tags,
        notify=notify,
    )


def lifecycle(store: CommentStore, i: int) -> list[Change]:
    """One comment's story; every accepted change is recorded, every refusal asserted."""
    cid = f"ev-{i:04d}"
    made: list[Change] = []
    store.create(
        NewComment(
            id=cid,
            article_id=f"art-{i % 7}",
            author_id=f"author-{i % 40}",
            text=f"comment number {i}",
            created_at=utcnow() - timedelta(seconds=N - i),
            parent_id=None,
            language="en",
            metadata={},
            body_hash=f"h{i}",
        )
    )
    made.append((EventType.STORED, None, Status.PENDING, 1))

    status = (Status.FLAGGED, Status.REJECTED, Status.APPROVED)[i % 3]
    verdict = machine_verdict(i, status, 1)
    assert store.write_machine_verdict(cid, 2, verdict) is VerdictWrite.STALE
    assert store.write_machine_verdict(cid, 1, verdict) is VerdictWrite.WRITTEN
    made.append((EventType.for_machine_verdict(status), Status.PENDING, status, 1))
    assert store.write_machine_verdict(cid, 1, verdict) is VerdictWrite.KEPT  # a re-run

    if status is Status.APPROVED:
        if i % 2 == 0:  # an edit: moderated again from scratch
            assert store.edit(cid, f"comment number {i}, edited") is not None
            made.append((EventType.EDITED, status, Status.PENDING, 2))
            again = machine_verdict(i, Status.FLAGGED, 2)
            assert store.write_machine_verdict(cid, 1, again) is VerdictWrite.STALE
            assert store.write_machine_verdict(cid, 2, again) is VerdictWrite.WRITTEN
            made.append((EventType.FLAGGED, Status.PENDING, Status.FLAGGED, 2))
        return made

    appealed = store.appeal(cid, "please look again", actor=SITE)
    if status is Status.REJECTED:
        assert appealed is AppealResult.APPEALED
        made.append((EventType.APPEALED, Status.REJECTED, Status.APPEALED, 1))
        assert store.appeal(cid, "again", actor=SITE) is AppealResult.ALREADY
        final = Decision.APPROVE if i % 4 == 1 else Decision.REJECT
        decided, _ = store.decide(cid, 1, final, reason="on appeal", note=None, actor=MOD)
        assert decided is DecisionResult.DECIDED
        made.append((EventType.DECIDED, Status.APPEALED, final.status, 1))
        other = Decision.REJECT if final is Decision.APPROVE else Decision.APPROVE
        refused, _ = store.decide(cid, 1, other, reason="x", note=None, actor=MOD)
        assert refused is DecisionResult.FINAL
        return made

    assert appealed is AppealResult.NOT_REJECTED
    # Flagged: a stale decision is refused, then a decision, maybe undone, maybe appealed.
    assert store.decide(cid, 2, Decision.REJECT, reason="x", note=None, actor=MOD) == (
        DecisionResult.STALE,
        1,
    )
    decision = Decision.REJECT if i % 2 == 0 else Decision.APPROVE
    assert store.decide(cid, 1, decision, reason="r", note="n", actor=MOD)[0] is (
        DecisionResult.DECIDED
    )
    made.append((EventType.DECIDED, Status.FLAGGED, decision.status, 1))
    assert store.decide(cid, 1, decision, reason="r", note=None, actor=MOD)[0] is (
        DecisionResult.UNCHANGED
    )
    if i % 5 == 0:
        assert store.undo_decision(cid, actor=MOD, window_s=60) is UndoResult.UNDONE
        made.append((EventType.UNDONE, decision.status, Status.FLAGGED, 1))
        assert store.undo_decision(cid, actor=MOD, window_s=60) is UndoResult.NOTHING
        return made
    if decision is Decision.REJECT:
        assert store.appeal(cid, "please", actor=SITE) is AppealResult.APPEALED
        made.append((EventType.APPEALED, Status.REJECTED, Status.APPEALED, 1))
        assert store.decide(cid, 1, Decision.APPROVE, reason="ok", note=None, actor=MOD)[0] is (
            DecisionResult.DECIDED
        )
        made.append((EventType.DECIDED, Status.APPEALED, Status.APPROVED, 1))
        assert store.undo_decision(cid, actor=MOD, window_s=0) is UndoResult.EXPIRED
    return made


def shape(e: CommentEvent) -> Change:
    return (e.type, e.status_before, e.status_after, e.revision)


def test_every_change_has_exactly_one_event_and_vice_versa(store: CommentStore) -> None:
    with ThreadPoolExecutor(max_workers=16) as pool:
        made = dict(zip(range(N), pool.map(lambda i: lifecycle(store, i), range(N)), strict=True))
    expected = {f"ev-{i:04d}": changes for i, changes in made.items()}

    log = EventLog(store.r, store.keys)
    stream: list[CommentEvent] = []
    cursor = "-"
    while batch := log.range(cursor, "+", count=2000):  # read in pages, as a consumer does
        stream += batch
        cursor = "(" + batch[-1].stream_id
    total = sum(len(v) for v in expected.values())
    assert len(stream) == total == log.length()
    assert len({e.event_id for e in stream}) == total

    by_comment: dict[str, list[CommentEvent]] = defaultdict(list)
    for e in stream:
        by_comment[e.comment_id].append(e)
    assert by_comment.keys() == expected.keys()

    # Pipelined: one round trip for every comment's own history.
    pipe = store.r.pipeline(transaction=False)
    for cid in expected:
        pipe.lrange(store.keys.comment_events(cid), 0, -1)
    histories = dict(zip(expected, pipe.execute(), strict=True))

    for cid, changes in expected.items():
        events = by_comment[cid]
        assert [shape(e) for e in events] == changes, cid
        own = [CommentEvent.model_validate_json(raw) for raw in histories[cid]]
        assert [e.event_id for e in own] == [e.event_id for e in events], cid
        for e in events:
            if e.type is EventType.REJECTED:
                assert e.rule_ids == ["slurs"] and e.tags == ["hate"] and e.notify == ["oncall"]
            if e.type is EventType.DECIDED:
                assert e.decided_by == "moderator" and e.actor == MOD.key_id
        assert events[-1].status_after is store.get(cid).status  # type: ignore[union-attr]

    assert log.for_comment("ev-0000") == [
        e.model_copy(update={"stream_id": ""}) for e in by_comment["ev-0000"]
    ]
