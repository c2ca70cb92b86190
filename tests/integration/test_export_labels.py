"""`moderation export-labels`: the decisions in force, as rows the training code reads."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner
from support import delete_prefix

from moderation.classifier.data import read_jsonl
from moderation.cli import main
from moderation.domain.comment import iso, utcnow
from moderation.domain.verdict import Action, DecidedBy, Decision, Reason, Status, Verdict
from moderation.store.comments import Actor, CommentStore, NewComment
from moderation.store.keys import Keys

MOD = Actor(key_id="mod-x", name="Xi", role="moderator")


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    value = f"test-export-{uuid.uuid4().hex[:8]}:"
    yield value
    delete_prefix(redis_url, value)


def flagged(store: CommentStore, cid: str, text: str) -> None:
    store.create(
        NewComment(
            id=cid,
            article_id="a",
            author_id="u",
            text=text,
            created_at=utcnow(),
            parent_id=None,
            language="en" if cid != "c-nolang" else None,
            metadata={},
            body_hash=cid,
        )
    )
    verdict = Verdict(
        status=Status.FLAGGED,
        scores={"insult": 0.7},
        reasons=[Reason(source="model", message="m", label="insult", action=Action.FLAG)],
        decided_by=DecidedBy.MODEL,
        decided_at=iso(utcnow()),
    )
    store.write_machine_verdict(cid, 1, verdict)


def test_export_writes_the_decisions_in_force(redis_url: str, prefix: str, tmp_path: Path) -> None:
    store = CommentStore(redis.Redis.from_url(redis_url, decode_responses=True), Keys(prefix))
    texts = {
        "c-rej": "You are a worthless idiot",
        "c-app": "Israeli and Palestinian families both grieve",
        "c-undone": "borderline remark",
        "c-edited": "first words",
        "c-nolang": "Muslims and Jews live on this street",
        "c-undecided": "nobody looked at this",
    }
    for cid, text in texts.items():
        flagged(store, cid, text)
    store.decide("c-rej", 1, Decision.REJECT, reason="insult", note=None, actor=MOD)
    store.decide("c-app", 1, Decision.APPROVE, reason="fine", note=None, actor=MOD)
    store.decide("c-undone", 1, Decision.REJECT, reason="x", note=None, actor=MOD)
    store.undo_decision("c-undone", actor=MOD, window_s=60)
    store.decide("c-edited", 1, Decision.APPROVE, reason="ok", note=None, actor=MOD)
    store.edit("c-edited", "second words, not judged yet")
    store.decide("c-nolang", 1, Decision.APPROVE, reason="identity terms", note=None, actor=MOD)

    env = {"MODERATION_REDIS_URL": redis_url, "MODERATION_KEY_PREFIX": prefix}
    out = tmp_path / "labels.jsonl"
    result = CliRunner().invoke(main, ["export-labels", "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    by_id = {r["id"]: r for r in rows}
    assert set(by_id) == {"moderation:c-rej:r1", "moderation:c-app:r1", "moderation:c-nolang:r1"}
    assert by_id["moderation:c-rej:r1"] == {
        "id": "moderation:c-rej:r1",
        "text": texts["c-rej"],
        "source": "moderation",
        "lang": "en",
        "labels": {"toxicity": 1},
    }
    assert by_id["moderation:c-app:r1"]["labels"] == {"toxicity": 0}
    assert by_id["moderation:c-nolang:r1"]["lang"] == "und"
    assert "3 rows written; 2 decisions no longer in force" in result.stderr

    # The training code reads it as it reads the shipped sets.
    examples = read_jsonl(out)
    assert {e.labels["toxicity"] for e in examples} == {0, 1}

    tomorrow = (utcnow() + timedelta(days=1)).strftime("%Y-%m-%d")
    later = CliRunner().invoke(main, ["export-labels", "--since", tomorrow], env=env)
    assert later.exit_code == 0 and later.stdout == ""
    today = utcnow().strftime("%Y-%m-%d")
    stdout = CliRunner().invoke(main, ["export-labels", "--since", today], env=env)
    assert len(stdout.stdout.splitlines()) == 3
