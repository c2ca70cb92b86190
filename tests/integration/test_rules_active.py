"""A ruleset activated through the API reaches running workers without a restart, a bad
one is refused there too, and `rules backtest` reads stored comments without writing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner
from flask.testing import FlaskClient
from support import ADMIN_KEY, ROOT, WorkerProcess, auth, delete_prefix, wait_for
from test_api_rules import EXTRA, FILES_VERSION, bundle

from moderation.cli import main
from moderation.config import Settings
from moderation.domain.comment import iso, utcnow
from moderation.domain.verdict import DecidedBy, ModelRef, RulesetRef, Status, Verdict
from moderation.ruleset.active import ActiveRuleset
from moderation.ruleset.reload import RulesetHolder
from moderation.services import Services
from moderation.store.comments import NewComment
from moderation.store.keys import Keys
from moderation.store.rulesets import RulesetStore

RULES = ROOT / "rules"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(redis_url: str) -> Iterator[RulesetStore]:
    prefix = f"test-active-{uuid.uuid4().hex[:8]}:"
    yield RulesetStore(redis.Redis.from_url(redis_url, decode_responses=True), Keys(prefix))
    delete_prefix(redis_url, prefix)


def activate(store: RulesetStore, version: str, files: dict[str, str]) -> None:
    store.activate(
        version, files, actor="test", role="admin", comment="", files_version=FILES_VERSION
    )


def test_follows_the_store_at_most_once_a_second(store: RulesetStore) -> None:
    clock = Clock()
    active = ActiveRuleset(RulesetHolder([RULES], clock=clock), store, clock=clock)
    assert active.current().version == FILES_VERSION and active.bundle_version is None

    activate(store, "v-extra", bundle(**{"zz.yaml": EXTRA}))
    clock.now += 0.5
    assert active.current().version == FILES_VERSION  # not asked yet
    clock.now += 0.5
    ruleset = active.current()
    assert active.bundle_version == "v-extra" and ruleset.version != FILES_VERSION
    assert active.source == "api"
    rule = ruleset.rule("zorblax-ban")
    assert rule is not None and active.display_name(rule.where.file) == "zz.yaml"

    store.revert(actor="test", role="admin", comment="", files_version=FILES_VERSION)
    clock.now += 1
    assert active.current().version == FILES_VERSION and active.bundle_version is None


def test_a_bad_bundle_keeps_the_last_good_ruleset(store: RulesetStore) -> None:
    clock = Clock()
    active = ActiveRuleset(RulesetHolder([RULES], clock=clock), store, clock=clock)
    activate(store, "v-good", bundle(**{"zz.yaml": EXTRA}))
    clock.now += 1
    good = active.current()
    assert good.rule("zorblax-ban") is not None

    # The store takes what it is given; only the API validates. A worker must still refuse.
    broken = EXTRA.replace('must_match: ["I love z0rblax"]', "must_match: [hello]")
    activate(store, "v-bad", bundle(**{"zz.yaml": broken}))
    for _ in range(3):
        clock.now += 1
        assert active.current() is good
    assert active.refusals == 1  # not compiled again every second
    assert active.last_error is not None
    assert "v-bad" in active.last_error and "zz.yaml:" in active.last_error
    assert "should match" in active.last_error

    # Reverting clears the refusal and returns to the files.
    store.revert(actor="test", role="admin", comment="", files_version=FILES_VERSION)
    clock.now += 1
    assert active.current().version == FILES_VERSION and active.last_error is None


def test_a_running_worker_uses_an_activated_ruleset(
    client: FlaskClient, settings: Settings, worker: WorkerProcess
) -> None:
    registry = Services.from_settings(settings).workers

    def worker_on(version: str) -> bool:
        return any(
            w.get("pid") == worker.proc.pid and w.get("ruleset_version") == version
            for w in registry.alive(30)
        )

    resp = client.put(
        "/v1/ruleset",
        json={"files": bundle(**{"zz.yaml": EXTRA}), "comment": "worker test"},
        headers=auth(ADMIN_KEY),
    )
    assert resp.status_code == 200, resp.get_json()
    version = resp.get_json()["version"]
    try:
        # The heartbeat reports the ruleset the worker evaluates with (every 2 s here).
        wait_for(lambda: worker_on(version), timeout_s=15)
        cid = f"zorblax-{uuid.uuid4().hex[:10]}"
        body = {"id": cid, "article_id": "rules-art", "author_id": f"u-{cid}", "text": "zorblax!"}
        assert client.post("/v1/comments", json=body, headers=auth()).status_code == 202

        def decided() -> Any:
            out = client.get(f"/v1/comments/{cid}", headers=auth()).get_json()
            return out if out["status"] != "pending" else None

        done = wait_for(decided, timeout_s=30)
        assert done["status"] == "rejected"
        verdict = done["verdict"]
        assert verdict["ruleset"]["version"] == version and verdict["decided_by"] == "rules"
        reason = next(r for r in verdict["reasons"] if r.get("rule_id") == "zorblax-ban")
        assert reason["message"] == "Mentions zorblax." and reason["spans"]
    finally:
        client.delete("/v1/ruleset", headers=auth(ADMIN_KEY))
        # The session's other tests expect the files again.
        wait_for(lambda: worker_on(FILES_VERSION), timeout_s=15)


def _snapshot(r: Any, prefix: str) -> dict[str, tuple[bytes, int]]:
    return {k: (r.dump(k), r.pttl(k)) for k in sorted(r.scan_iter(match=f"{prefix}*"))}


def test_backtest_reads_stored_comments_and_writes_nothing(redis_url: str, tmp_path: Path) -> None:
    prefix = f"test-backtest-{uuid.uuid4().hex[:8]}:"
    settings = Settings(redis_url=redis_url, key_prefix=prefix)
    svc = Services.from_settings(settings)
    now = utcnow()

    def stored(cid: str, text: str, status: Status | None, *, days_ago: float = 0) -> None:
        created = now - timedelta(days=days_ago)
        svc.comments.create(
            NewComment(cid, "art", f"author-{cid}", text, created, None, None, {}, cid)
        )
        if status is not None:
            verdict = Verdict(
                status=status,
                scores={"toxicity": 0.05, "insult": 0.01},
                model=ModelRef(name="m", version="1"),
                ruleset=RulesetRef(version=FILES_VERSION),
                decided_by=DecidedBy.MODEL,
                decided_at=iso(now),
            )
            svc.comments.write_machine_verdict(cid, 1, verdict)

    try:
        stored("bt-hit", "zorblax is great", Status.APPROVED)
        stored("bt-hit-old", "zorblax again", Status.APPROVED, days_ago=10)
        stored("bt-clean", "a calm remark about the ambassador", Status.APPROVED)
        stored("bt-pending", "zorblax pending", None)
        candidate = tmp_path / "candidate"
        candidate.mkdir()
        for name, text in bundle(**{"zz.yaml": EXTRA}).items():
            (candidate / name).parent.mkdir(exist_ok=True)
            (candidate / name).write_text(text)

        raw = redis.Redis.from_url(redis_url)
        before = _snapshot(raw, prefix)
        env = {"MODERATION_REDIS_URL": redis_url, "MODERATION_KEY_PREFIX": prefix}
        since = (now - timedelta(days=1)).isoformat()
        result = CliRunner().invoke(
            main,
            ["rules", "backtest", "--rules", str(candidate), "--since", since],
            env=env,
        )
        assert result.exit_code == 0, result.output
        out = result.stdout
        assert "1 of 2 verdicts would change (1 pending/error skipped)" in out
        assert "approved -> rejected: 1" in out
        assert "zorblax-ban: 1" in out and "bt-hit approved -> rejected" in out
        assert "1 comments created before" in out

        everything = CliRunner().invoke(
            main, ["rules", "backtest", "--rules", str(candidate)], env=env
        )
        assert everything.exit_code == 0, everything.output
        assert "2 of 3 verdicts would change" in everything.stdout

        assert _snapshot(raw, prefix) == before  # same keys, values and expiries
    finally:
        delete_prefix(redis_url, prefix)


def test_backtest_since_must_be_a_date() -> None:
    result = CliRunner().invoke(main, ["rules", "backtest", "--since", "yesterday"])
    assert result.exit_code != 0 and "ISO 8601" in result.output
