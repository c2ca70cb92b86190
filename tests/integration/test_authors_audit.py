"""Author standing with expiry feeding the rules, author history, the audit trail of bans,
key creation and rule activation, and the moderator-agreement stats."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from support import ADMIN_KEY, MODERATOR_KEY, SITE_KEY, auth

from moderation.classify import rule_context
from moderation.domain.comment import iso, utcnow
from moderation.domain.verdict import Action, DecidedBy, Decision, Reason, Status, Verdict
from moderation.ruleset import load_ruleset
from moderation.ruleset.engine import RuleOutcome
from moderation.services import Services
from moderation.store.audit import AuditEntry
from moderation.store.comments import Actor, CommentStore, NewComment

MOD = Actor(key_id="mod-1", name="Mo", role="moderator")


def svc(app: Flask) -> Services:
    services: Services = app.extensions["moderation"]
    return services


def new_id(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:10]}"


def store_comment(
    store: CommentStore, author: str, text: str = "hello there", offset_ms: int = 0
) -> str:
    cid = new_id("c")
    store.create(
        NewComment(
            id=cid,
            article_id="art-authors",
            author_id=author,
            text=text,
            created_at=utcnow() + timedelta(milliseconds=offset_ms),
            parent_id=None,
            language=None,
            metadata={},
            body_hash=cid,
        )
    )
    return cid


def machine(status: Status, label: str = "insult", rule: str | None = None) -> Verdict:
    reasons = [
        Reason(
            source="model",
            message=f"{label} over threshold",
            label=label,
            score=0.9,
            threshold=0.6,
            action=Action.FLAG,
        )
    ]
    if rule:
        reasons.append(Reason(source="rule", message="rule", rule_id=rule, action=Action.REJECT))
    return Verdict(
        status=status,
        scores={label: 0.9},
        reasons=reasons,
        decided_by=DecidedBy.MODEL,
        decided_at=iso(utcnow()),
    )


def fired(outcome: RuleOutcome) -> set[str]:
    return {r.rule_id for r in outcome.reasons if r.rule_id}


def test_ban_with_expiry_is_seen_by_the_rules_until_it_lapses(
    app: Flask, client: FlaskClient
) -> None:
    author = new_id("troll")
    resp = client.post(
        f"/v1/authors/{author}/ban",
        json={"reason": "spam wave", "for_s": 3600},
        headers=auth(MODERATOR_KEY),
    )
    assert resp.status_code == 200, resp.get_json()
    out = resp.get_json()
    assert out["standing"] == "banned" and out["banned"] is True and out["reason"] == "spam wave"
    assert out["expires_at"] is not None

    store = svc(app).comments
    cid = store_comment(store, author)
    comment = store.get(cid)
    assert comment is not None
    rules = load_ruleset(svc(app).settings.rules_dirs)
    assert rule_context(store, comment, {}, rules).author.banned is True
    assert "banned-author" in fired(rules.evaluate(rule_context(store, comment, {}, rules)))

    # The clock moves past the expiry; nothing was rewritten, the ban simply no longer counts.
    later = CommentStore(store.r, store.keys)
    later.clock = lambda: utcnow() + timedelta(hours=2)
    context = rule_context(later, comment, {}, rules)
    assert context.author.banned is False
    assert "banned-author" not in fired(rules.evaluate(context))
    assert later.author_profile(author)["lapsed"] is True


def test_suspend_unban_and_put_are_audited_before_and_after(client: FlaskClient) -> None:
    author = new_id("auth")
    until = iso(utcnow() + timedelta(days=1))
    assert (
        client.post(
            f"/v1/authors/{author}/suspend",
            json={"reason": "heated thread", "expires_at": until},
            headers=auth(MODERATOR_KEY),
        ).status_code
        == 200
    )
    unban = client.post(f"/v1/authors/{author}/unban", json={}, headers=auth(ADMIN_KEY))
    assert unban.status_code == 200 and unban.get_json()["standing"] == "active"
    put = client.put(
        f"/v1/authors/{author}",
        json={"banned": True, "reason": "threats", "note": "see ticket 12"},
        headers=auth(MODERATOR_KEY),
    )
    assert put.status_code == 200 and put.get_json()["expires_at"] is None

    page = client.get(f"/v1/authors/{author}/audit", headers=auth(MODERATOR_KEY)).get_json()
    actions = [e["action"] for e in page["items"]]
    assert actions == ["author.ban", "author.unban", "author.suspend"]  # newest first
    ban, unbanned, suspend = page["items"]
    assert suspend["before"]["standing"] == "active"
    assert suspend["after"] == {"standing": "suspended", "expires_at": until, "note": ""}
    assert suspend["reason"] == "heated thread" and suspend["role"] == "moderator"
    assert unbanned["before"]["standing"] == "suspended" and unbanned["role"] == "admin"
    assert ban["after"]["standing"] == "banned" and ban["reason"] == "threats"

    everything = client.get("/v1/audit?limit=500", headers=auth(ADMIN_KEY)).get_json()
    assert {e["id"] for e in page["items"]} <= {e["id"] for e in everything["items"]}


def test_expiry_is_validated(client: FlaskClient) -> None:
    author = new_id("auth")
    past = iso(utcnow() - timedelta(minutes=1))
    for body in (
        {"reason": "x", "for_s": 60, "expires_at": iso(utcnow() + timedelta(days=1))},
        {"reason": "x", "expires_at": "2030-01-01T00:00:00"},
        {"reason": "", "for_s": 60},
        {"reason": "x", "for_s": -5},
    ):
        resp = client.post(f"/v1/authors/{author}/ban", json=body, headers=auth(MODERATOR_KEY))
        assert resp.status_code == 422, body
        assert resp.content_type == "application/problem+json"
    history = client.get(f"/v1/authors/{author}/audit", headers=auth(MODERATOR_KEY)).get_json()
    assert history["items"] == []  # a refused change leaves no trace
    # An expiry already past is recorded (and audited) as the ban it was, lapsed at once.
    lapsed = client.post(
        f"/v1/authors/{author}/ban", json={"reason": "x", "expires_at": past}, headers=auth()
    )
    assert lapsed.status_code == 403
    lapsed = client.post(
        f"/v1/authors/{author}/ban",
        json={"reason": "x", "expires_at": past},
        headers=auth(MODERATOR_KEY),
    )
    assert lapsed.status_code == 200
    assert lapsed.get_json()["standing"] == "active" and lapsed.get_json()["lapsed"] is True


def test_author_history_counts_and_latest(app: Flask, client: FlaskClient) -> None:
    store = svc(app).comments
    author = new_id("hist")
    ids = [store_comment(store, author, f"comment {i}", offset_ms=i * 10) for i in range(5)]
    store.write_machine_verdict(ids[0], 1, machine(Status.FLAGGED))
    store.write_machine_verdict(ids[1], 1, machine(Status.REJECTED))
    store.write_machine_verdict(ids[2], 1, machine(Status.APPROVED))
    store.decide(ids[0], 1, Decision.REJECT, reason="insult", note=None, actor=MOD)
    out = client.get(f"/v1/authors/{author}?limit=3", headers=auth(MODERATOR_KEY)).get_json()
    assert out["counts"] == {
        "flagged": 0,
        "rejected": 2,
        "approved": 1,
        "error": 0,
        "appealed": 0,
        "pending": 2,
    }
    assert [c["id"] for c in out["latest"]] == ids[::-1][:3]
    assert out["latest"][2]["verdict"]["status"] == "approved"
    assert out["standing"] == "active"
    audit = client.get(f"/v1/comments/{ids[0]}/audit", headers=auth(MODERATOR_KEY)).get_json()
    assert [e["action"] for e in audit["items"]] == ["comment.decide"]
    by_author = client.get(f"/v1/authors/{author}/audit", headers=auth(MODERATOR_KEY))
    assert [e["target_id"] for e in by_author.get_json()["items"]] == [ids[0]]


def test_audit_pages_with_before_and_roles(app: Flask, client: FlaskClient) -> None:
    author = new_id("pager")
    for i in range(5):
        client.post(
            f"/v1/authors/{author}/ban", json={"reason": f"r{i}"}, headers=auth(MODERATOR_KEY)
        )
    seen: list[str] = []
    before = None
    while True:
        url = f"/v1/authors/{author}/audit?limit=2" + (f"&before={before}" if before else "")
        page: dict[str, Any] = client.get(url, headers=auth(MODERATOR_KEY)).get_json()
        seen += [e["reason"] for e in page["items"]]
        before = page["next_before"]
        if before is None:
            break
    assert seen == ["r4", "r3", "r2", "r1", "r0"]
    assert client.get("/v1/audit", headers=auth(MODERATOR_KEY)).status_code == 403
    assert client.get(f"/v1/authors/{author}/audit", headers=auth(SITE_KEY)).status_code == 403
    bad = client.get("/v1/audit?before=nope", headers=auth(ADMIN_KEY))
    assert bad.status_code == 422


def test_key_creation_and_rule_changes_are_in_the_shared_audit(app: Flask) -> None:
    services = svc(app)
    _secret, key = services.api_keys.create("moderator", "Ada", actor=Actor("cli", "ops", "admin"))
    from moderation.store.rulesets import RulesetStore

    rules = RulesetStore(services.redis, services.keys)
    rules.activate(
        "v-test",
        {"a.yaml": "rules: []\n"},
        actor="adm-1",
        role="admin",
        comment="try",
        files_version="v-files",
        actor_name="Admin",
    )
    rules.revert(actor="adm-1", role="admin", comment="undo", files_version="v-files")
    # Newest first; other tests share this log, so take each action's newest entry and find
    # the key by its own id.
    by_action: dict[str, AuditEntry] = {}
    for entry in services.audit.latest(20):
        by_action.setdefault(entry.action, entry)
    (created,) = services.audit.about("key", key.key_id)
    assert created.action == "key.create"
    assert created.after == {"role": "moderator", "name": "Ada"}
    assert created.actor == "cli"
    activated, reverted = by_action["ruleset.activate"], by_action["ruleset.revert"]
    assert activated.before == {"version": "v-files", "source": "files"}
    assert activated.after == {"version": "v-test", "source": "api"}
    assert activated.reason == "try" and activated.actor_name == "Admin"
    assert reverted.after == {"version": "v-files", "source": "files"}
    assert rules.audit(2)[0].action == "revert"  # the ruleset's own trail is kept as it was


def test_stats_count_agreement_per_label_and_rule(app: Flask, client: FlaskClient) -> None:
    store = svc(app).comments
    before: dict[str, Any] = client.get("/v1/stats", headers=auth(MODERATOR_KEY)).get_json()
    label, rule = new_id("lbl"), new_id("rule")
    flagged = [store_comment(store, "stats-author") for _ in range(4)]
    for cid in flagged:
        store.write_machine_verdict(cid, 1, machine(Status.FLAGGED, label))
    store.decide(flagged[0], 1, Decision.REJECT, reason="r", note=None, actor=MOD)
    store.decide(flagged[1], 1, Decision.REJECT, reason="r", note=None, actor=MOD)
    store.decide(flagged[2], 1, Decision.APPROVE, reason="ok", note=None, actor=MOD)
    store.decide(flagged[3], 1, Decision.APPROVE, reason="ok", note=None, actor=MOD)
    store.undo_decision(flagged[3], actor=MOD, window_s=60)  # taken back: not counted
    rejected = store_comment(store, "stats-author")
    store.write_machine_verdict(rejected, 1, machine(Status.REJECTED, label, rule))
    store.appeal(rejected, "please", actor=MOD)
    store.decide(rejected, 1, Decision.APPROVE, reason="fine", note=None, actor=MOD)

    after = client.get("/v1/stats", headers=auth(MODERATOR_KEY)).get_json()
    mine = after["labels"][label]
    assert mine["flag_confirmed"] == 2 and mine["flag_overturned"] == 1
    assert mine["flag_precision"] == round(2 / 3, 4)
    assert mine["rejection_overturned"] == 1 and mine["appeal_granted"] == 1
    assert mine["rejection_precision"] == 0.0
    assert after["rules"][rule]["rejection_overturned"] == 1
    assert after["rules"][rule]["flag_precision"] is None
    grew = after["overall"]["flag_confirmed"] - before["overall"]["flag_confirmed"]
    assert grew == 2
    assert client.get("/v1/stats", headers=auth(SITE_KEY)).status_code == 403
