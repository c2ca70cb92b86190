"""The moderators' API against the real Redis: queue, filters, claims, decisions, undo, bulk,
appeals and history, as a moderator and a site would see them."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support import ADMIN_KEY, MODERATOR_KEY, SITE_KEY, auth, make_settings, wait_for

from moderation import create_app
from moderation.domain.comment import body_fingerprint, iso, utcnow
from moderation.domain.verdict import (
    Action,
    DecidedBy,
    ModelRef,
    Reason,
    RulesetRef,
    Status,
    Verdict,
)
from moderation.services import Services
from moderation.store.comments import Actor, NewComment, UndoResult


@pytest.fixture
def env(redis_url: str) -> Iterator[tuple[Flask, Services]]:
    """A fresh key prefix per test: counts and queues start empty."""
    settings = make_settings(redis_url, f"test-review-{uuid.uuid4().hex[:8]}:")
    app = create_app(settings)
    svc: Services = app.extensions["moderation"]
    yield app, svc
    for key in svc.redis.scan_iter(match=f"{settings.key_prefix}*", count=1000):
        svc.redis.delete(key)
    svc.redis.close()  # its own connection pool: close it rather than leave it to GC


def machine_verdict(
    status: Status, *, label: str = "toxicity", score: float = 0.9, rule: str | None = None
) -> Verdict:
    reasons = [
        Reason(
            source="model",
            label=label,
            score=score,
            threshold=0.8,
            message=f"{label} {score:.2f} >= 0.80",
        )
    ]
    if rule:
        reasons.append(
            Reason(source="rule", rule_id=rule, action=Action.FLAG, message=f"rule {rule}")
        )
    return Verdict(
        status=status,
        scores={label: score},
        reasons=reasons,
        model=ModelRef(name="m", version="1"),
        ruleset=RulesetRef(version="r1"),
        decided_by=DecidedBy.RULES if rule else DecidedBy.MODEL,
        decided_at=iso(utcnow()),
        tags=["words"] if rule else [],
        notify=[],
    )


def stored(
    svc: Services,
    cid: str,
    status: Status,
    *,
    article: str = "art-1",
    author: str = "u-1",
    text: str = "some comment",
    **verdict: Any,
) -> None:
    svc.comments.create(
        NewComment(
            cid, article, author, text, utcnow(), None, None, {}, body_fingerprint({"id": cid})
        )
    )
    svc.comments.write_machine_verdict(cid, 1, machine_verdict(status, **verdict))


def queue(client: FlaskClient, key: str = MODERATOR_KEY, **params: Any) -> dict[str, Any]:
    resp = client.get("/v1/review", query_string=params, headers=auth(key))
    assert resp.status_code == 200, resp.get_json()
    body: dict[str, Any] = resp.get_json()
    return body


def ids(page: dict[str, Any]) -> list[str]:
    return [item["comment"]["id"] for item in page["items"]]


def decide(
    client: FlaskClient, cid: str, decision: str, revision: int = 1, key: str = MODERATOR_KEY
) -> Any:
    return client.post(
        f"/v1/comments/{cid}/decision",
        json={"decision": decision, "reason": "spam", "revision": revision},
        headers=auth(key),
    )


def test_queue_lists_flagged_by_priority_with_counts(env: tuple[Flask, Services]) -> None:
    app, svc = env
    stored(svc, "low", Status.FLAGGED, score=0.81)
    stored(svc, "high", Status.FLAGGED, score=0.99)
    stored(svc, "by-rule", Status.FLAGGED, score=0.5, rule="spam-links")
    stored(svc, "ok", Status.APPROVED, score=0.1, article="art-2")
    stored(svc, "bad", Status.REJECTED, score=0.99)
    page = queue(app.test_client())
    assert ids(page) == ["by-rule", "high", "low"]  # a rule's flag outranks a score
    assert page["total"] == 3
    assert page["counts"]["by_status"] == {
        "flagged": 3,
        "rejected": 1,
        "approved": 1,
        "error": 0,
        "appealed": 0,
    }
    assert page["counts"]["by_article"] == {"art-1": 3}
    assert ids(queue(app.test_client(), sort="age")) == ["low", "high", "by-rule"]
    assert ids(queue(app.test_client(), sort="score")) == ["high", "low", "by-rule"]
    assert ids(queue(app.test_client(), status="approved")) == ["ok"]


def test_filters_narrow_the_queue(env: tuple[Flask, Services]) -> None:
    app, svc = env
    client = app.test_client()
    stored(svc, "a", Status.FLAGGED, label="insult", author="u-7", score=0.85)
    stored(svc, "b", Status.FLAGGED, label="threat", article="art-9", score=0.95)
    stored(svc, "c", Status.FLAGGED, rule="spam-links", score=0.3)
    assert ids(queue(client, label="insult")) == ["a"]
    assert ids(queue(client, author_id="u-7")) == ["a"]
    assert ids(queue(client, article_id="art-9")) == ["b"]
    assert ids(queue(client, rule_id="spam-links")) == ["c"]
    assert ids(queue(client, tag="words")) == ["c"]
    assert ids(queue(client, min_score=0.9)) == ["b"]
    assert ids(queue(client, min_score=0.8, max_score=0.9, sort="age")) == ["a"]
    assert queue(client, label="insult", article_id="art-9")["total"] == 0
    svc.comments.edit("a", "edited text")
    svc.comments.write_machine_verdict("a", 2, machine_verdict(Status.FLAGGED, label="insult"))
    assert ids(queue(client, edited="true")) == ["a"]


def test_cursor_pages_through_every_item_once(env: tuple[Flask, Services]) -> None:
    app, svc = env
    client = app.test_client()
    for i in range(23):
        stored(svc, f"c{i:02d}", Status.FLAGGED, score=0.8 + (i % 4) / 100)  # many ties
    for i in range(23, 30):
        stored(svc, f"c{i:02d}", Status.FLAGGED, label="insult", score=0.9)
    everything = [f"c{i:02d}" for i in range(30)]
    insults_over = [f"c{i:02d}" for i in range(23, 30)]
    over_81 = [f"c{i:02d}" for i in range(30) if i >= 23 or i % 4 >= 2]
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({}, everything),
        ({"label": "insult", "min_score": 0.85}, insults_over),
        ({"min_score": 0.815}, over_81),
        (
            {"label": "toxicity", "article_id": "art-1", "max_score": 0.815},
            sorted(set(everything) - set(over_81)),
        ),
    ]
    for extra, expected in cases:
        for sort in ("priority", "age", "score"):
            seen: list[str] = []
            params: dict[str, Any] = {"limit": 3, "sort": sort, **extra}
            while True:
                page = queue(client, **params)
                assert page["total"] == len(expected)
                seen += ids(page)
                if not page["next_cursor"]:
                    break
                params["cursor"] = page["next_cursor"]
            assert sorted(seen) == expected, (sort, extra)
    bad = client.get("/v1/review?cursor=bm9wZQ", headers=auth(MODERATOR_KEY))  # not score~id
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "cursor"


def test_decision_overrides_the_machine_and_is_recorded(env: tuple[Flask, Services]) -> None:
    app, svc = env
    client = app.test_client()
    stored(svc, "c1", Status.FLAGGED)
    resp = decide(client, "c1", "approve")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "approved"
    assert body["verdict"]["decided_by"] == "moderator"
    assert body["verdict"]["decision"]["reason"] == "spam"
    assert body["verdict"]["scores"] == {"toxicity": 0.9}  # the machine's evidence is kept
    assert client.get("/v1/comments/c1", headers=auth(SITE_KEY)).get_json()["status"] == "approved"
    assert ids(queue(client)) == []
    assert ids(queue(client, status="approved")) == ["c1"]
    # A machine re-run (new model version) does not overwrite it.
    rerun = machine_verdict(Status.REJECTED).model_copy(
        update={"model": ModelRef(name="m", version="2")}
    )
    svc.comments.write_machine_verdict("c1", 1, rerun)
    assert svc.comments.get("c1").status is Status.APPROVED  # type: ignore[union-attr]
    history = client.get("/v1/comments/c1/history", headers=auth(MODERATOR_KEY)).get_json()
    assert [e["type"] for e in history["events"]] == [
        "comment.stored",
        "comment.flagged",
        "comment.decided",
    ]
    assert history["events"][-1]["status_before"] == "flagged"
    audit = svc.audit.about("comment", "c1")
    assert [(a.action, a.before, a.after["status"]) for a in audit] == [  # type: ignore[index]
        ("comment.decide", {"status": "flagged", "revision": 1}, "approved")
    ]


def test_stale_revision_is_a_409_naming_the_current_one(env: tuple[Flask, Services]) -> None:
    app, svc = env
    client = app.test_client()
    stored(svc, "c1", Status.FLAGGED)
    svc.comments.edit("c1", "new text")
    resp = decide(client, "c1", "reject", revision=1)
    assert resp.status_code == 409
    problem = resp.get_json()
    assert problem["type"].endswith(":stale-revision")
    assert "current revision is 2" in problem["detail"]
    assert problem["errors"][0]["current_revision"] == 2
    assert svc.comments.get("c1").status is Status.PENDING  # type: ignore[union-attr]


def test_claims_between_two_moderators(env: tuple[Flask, Services]) -> None:
    app, svc = env
    client = app.test_client()
    other, _ = svc.api_keys.create("moderator", "bob")
    stored(svc, "c1", Status.FLAGGED)
    first = client.post("/v1/review/c1/claim", headers=auth(MODERATOR_KEY))
    assert first.status_code == 200 and first.get_json()["expires_in_s"] > 0
    assert client.post("/v1/review/c1/claim", headers=auth(MODERATOR_KEY)).status_code == 200
    second = client.post("/v1/review/c1/claim", headers=auth(other))
    assert second.status_code == 409 and "claimed by" in second.get_json()["detail"]
    seen_by_bob = queue(client, key=other)["items"][0]["claim"]
    assert seen_by_bob["actor_name"] == "bootstrap moderator"
    assert decide(client, "c1", "reject", key=other).status_code == 409
    assert svc.comments.get("c1").status is Status.FLAGGED  # type: ignore[union-attr]
    client.delete("/v1/review/c1/claim", headers=auth(MODERATOR_KEY))
    assert client.post("/v1/review/c1/claim", headers=auth(other)).status_code == 200
    assert decide(client, "c1", "reject", key=other).status_code == 200


def test_a_claim_expires_by_itself(env: tuple[Flask, Services]) -> None:
    _, svc = env
    stored(svc, "c1", Status.FLAGGED)
    svc.comments.review.claim("c1", "alice", "alice", ttl_s=10)
    svc.redis.pexpire(svc.keys.claim("c1"), 1)  # what ten seconds would do
    wait_for(lambda: not svc.redis.exists(svc.keys.claim("c1")), timeout_s=2)
    assert svc.comments.review.claim("c1", "bob", "bob", ttl_s=10)["actor"] == "bob"


def test_undo_restores_the_previous_state(env: tuple[Flask, Services]) -> None:
    app, svc = env
    client = app.test_client()
    stored(svc, "c1", Status.FLAGGED)
    decide(client, "c1", "reject")
    assert svc.comments.author_counts("u-1") == {"flagged": 0, "rejected": 1}
    resp = client.delete("/v1/comments/c1/decision", headers=auth(MODERATOR_KEY))
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "flagged" and body["verdict"]["decided_by"] == "model"
    assert ids(queue(client)) == ["c1"]
    assert svc.comments.author_counts("u-1") == {"flagged": 1, "rejected": 0}
    again = client.delete("/v1/comments/c1/decision", headers=auth(MODERATOR_KEY))
    assert again.status_code == 409 and again.get_json()["type"].endswith(":nothing-to-undo")
    decide(client, "c1", "approve")
    moderator = Actor("k", "alice", "moderator")
    assert svc.comments.undo_decision("c1", actor=moderator, window_s=0) is UndoResult.EXPIRED
    assert [a.action for a in svc.audit.about("comment", "c1")] == [
        "comment.decide",
        "comment.undo",
        "comment.decide",
    ][::-1]


def test_bulk_by_filter_skips_claimed_and_is_safe_to_repeat(env: tuple[Flask, Services]) -> None:
    app, svc = env
    client = app.test_client()
    for i in range(5):
        stored(svc, f"x{i}", Status.FLAGGED, author="troll", article="art-5")
    stored(svc, "other", Status.FLAGGED, author="someone", article="art-5")
    svc.comments.review.claim("x0", "bob-key", "bob", ttl_s=60)
    body = {
        "decision": "reject",
        "reason": "spam wave",
        "filter": {"status": "flagged", "author_id": "troll", "article_id": "art-5"},
    }
    first = client.post("/v1/review/bulk", json=body, headers=auth(MODERATOR_KEY)).get_json()
    assert first["changed"] == 4 and sorted(first["changed_ids"]) == ["x1", "x2", "x3", "x4"]
    assert first["skipped"] == [{"id": "x0", "why": "claimed"}]
    assert sorted(ids(queue(client))) == ["other", "x0"]
    again = client.post("/v1/review/bulk", json=body, headers=auth(MODERATOR_KEY)).get_json()
    assert again["changed"] == 0
    bulk_audit = svc.audit.about("bulk", first["bulk_id"])
    assert [(a.action, a.after["changed"], a.after["skipped"]) for a in bulk_audit] == [  # type: ignore[index]
        ("review.bulk", 4, 1)
    ]
    assert bulk_audit[0].after["filter"] == {  # type: ignore[index]
        "status": "flagged",
        "article_id": "art-5",
        "author_id": "troll",
    }
    assert all(
        a.after["bulk_id"] == first["bulk_id"]  # type: ignore[index]
        for a in svc.audit.about("comment", "x1")
    )
    by_ids = {
        "decision": "reject",
        "reason": "spam wave",
        "items": [{"id": "x1", "revision": 1}, {"id": "nope"}],
    }
    third = client.post("/v1/review/bulk", json=by_ids, headers=auth(MODERATOR_KEY)).get_json()
    assert third["changed"] == 0
    assert third["skipped"] == [{"id": "x1", "why": "already"}, {"id": "nope", "why": "not-found"}]
    both = {**body, "items": [{"id": "x1"}]}
    assert client.post("/v1/review/bulk", json=both, headers=auth(MODERATOR_KEY)).status_code == 422


def test_bulk_by_ids_skips_what_was_edited_meanwhile(env: tuple[Flask, Services]) -> None:
    app, svc = env
    client = app.test_client()
    stored(svc, "e1", Status.FLAGGED)
    stored(svc, "e2", Status.FLAGGED)
    svc.comments.edit("e2", "changed")
    body = {
        "decision": "approve",
        "reason": "fine",
        "items": [{"id": "e1", "revision": 1}, {"id": "e2", "revision": 1}],
    }
    result = client.post("/v1/review/bulk", json=body, headers=auth(ADMIN_KEY)).get_json()
    assert result["changed_ids"] == ["e1"]
    assert result["skipped"] == [{"id": "e2", "why": "edited"}]


def test_appeal_once_then_final_decision(env: tuple[Flask, Services]) -> None:
    app, svc = env
    client = app.test_client()
    stored(svc, "r1", Status.REJECTED)
    stored(svc, "f1", Status.FLAGGED)
    appeal = {"message": "It was a quote from the article."}
    assert (
        client.post("/v1/comments/f1/appeal", json=appeal, headers=auth(SITE_KEY)).status_code
        == 409
    )
    resp = client.post("/v1/comments/r1/appeal", json=appeal, headers=auth(SITE_KEY))
    assert resp.status_code == 202
    assert resp.get_json()["status"] == "appealed"
    assert resp.get_json()["appeal"]["message"] == appeal["message"]
    assert ids(queue(client, status="appealed")) == ["r1"]
    assert (
        client.post("/v1/comments/r1/appeal", json=appeal, headers=auth(SITE_KEY)).status_code
        == 409
    )
    # A machine re-run leaves an appealed comment alone.
    rerun = machine_verdict(Status.APPROVED).model_copy(
        update={"model": ModelRef(name="m", version="2")}
    )
    svc.comments.write_machine_verdict("r1", 1, rerun)
    assert svc.comments.get("r1").status is Status.APPEALED  # type: ignore[union-attr]
    assert decide(client, "r1", "approve").get_json()["final"] is True
    final = decide(client, "r1", "reject")
    assert final.status_code == 409 and final.get_json()["type"].endswith(":final")
    again = client.post("/v1/comments/r1/appeal", json=appeal, headers=auth(SITE_KEY))
    assert again.status_code == 409
    events = [
        e["type"]
        for e in client.get("/v1/comments/r1/history", headers=auth(MODERATOR_KEY)).get_json()[
            "events"
        ]
    ]
    assert events == ["comment.stored", "comment.rejected", "comment.appealed", "comment.decided"]


def test_roles_of_the_review_api(env: tuple[Flask, Services]) -> None:
    app, svc = env
    client = app.test_client()
    stored(svc, "c1", Status.FLAGGED)
    assert client.get("/v1/review", headers=auth(SITE_KEY)).status_code == 403
    assert decide(client, "c1", "approve", key=SITE_KEY).status_code == 403
    assert (
        client.post(
            "/v1/comments/c1/appeal", json={"message": "m"}, headers=auth(MODERATOR_KEY)
        ).status_code
        == 403
    )
    assert client.get("/v1/review").status_code == 401
    assert decide(client, "c1", "approve", key=ADMIN_KEY).status_code == 200


def test_dead_letter_set_follows_the_error_status(env: tuple[Flask, Services]) -> None:
    app, svc = env
    client = app.test_client()
    svc.comments.create(NewComment("d1", "art-1", "u-1", "text", utcnow(), None, None, {}, "h"))
    svc.comments.mark_error("d1", 1, "model crashed")
    assert ids(queue(client, status="error")) == ["d1"]
    assert svc.redis.zscore(svc.keys.dead_letter(), "d1") is not None
    assert decide(client, "d1", "approve").status_code == 200
    assert svc.redis.zscore(svc.keys.dead_letter(), "d1") is None
    client.delete("/v1/comments/d1/decision", headers=auth(MODERATOR_KEY))
    assert svc.comments.get("d1").status is Status.ERROR  # type: ignore[union-attr]
    assert svc.redis.zscore(svc.keys.dead_letter(), "d1") is not None


def test_two_moderators_claiming_at_once_get_one_claim(env: tuple[Flask, Services]) -> None:
    app, svc = env
    stored(svc, "c1", Status.FLAGGED)
    keys = [MODERATOR_KEY, svc.api_keys.create("moderator", "bob")[0]]
    for _ in range(20):
        svc.redis.delete(svc.keys.claim("c1"))
        barrier = threading.Barrier(2)

        def claim(key: str, barrier: threading.Barrier = barrier) -> int:
            barrier.wait()
            return app.test_client().post("/v1/review/c1/claim", headers=auth(key)).status_code

        with ThreadPoolExecutor(2) as pool:
            codes = sorted(pool.map(claim, keys))
        assert codes == [200, 409]
