"""The webhook admin API (real Redis, no worker): subscriptions and their audit trail,
destinations refused at subscription time without a connection, roles, and the
dispatcher's re-claim of events a dead consumer read but never acknowledged."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support import ADMIN_KEY, MODERATOR_KEY, auth, delete_prefix, make_settings, wait_for

from moderation import create_app
from moderation.config import Settings
from moderation.domain.comment import iso, utcnow
from moderation.domain.events import CommentEvent, EventType
from moderation.domain.verdict import Status
from moderation.services import Services
from moderation.store.events import EventLog
from moderation.store.webhooks import WebhookStore
from moderation.webhooks.dispatcher import GROUP, Dispatcher


@pytest.fixture(scope="module")
def strict_settings(redis_url: str, session_prefix: str) -> Iterator[Settings]:
    """Default guard: no allowlist, https only."""
    prefix = f"{session_prefix}whapi-{uuid.uuid4().hex[:6]}:"
    yield make_settings(redis_url, prefix)
    delete_prefix(redis_url, prefix)


@pytest.fixture(scope="module")
def strict_app(strict_settings: Settings) -> Flask:
    return create_app(strict_settings)


@pytest.fixture
def api(strict_app: Flask) -> FlaskClient:
    return strict_app.test_client()


def audit(settings: Settings, webhook_id: str) -> list[Any]:
    svc = Services.from_settings(settings)
    return WebhookStore(svc.redis, svc.keys).audit_trail(webhook_id)


def test_crud_is_audited_and_never_shows_the_secret_again(
    api: FlaskClient, strict_settings: Settings
) -> None:
    created = api.post(
        "/v1/webhooks",
        json={
            "url": "https://1.1.1.1/hooks/moderation",
            "events": ["comment.rejected", "rule.notify", "comment.rejected"],
            "article_ids": ["a1"],
            "rule_tags": ["hate"],
            "description": "chat channel",
        },
        headers=auth(ADMIN_KEY),
    )
    assert created.status_code == 201, created.json
    body = created.json or {}
    wid = body["id"]
    assert body["secret"].startswith("whsec_")
    assert body["events"] == ["comment.rejected", "rule.notify"]
    assert created.headers["Location"] == f"/v1/webhooks/{wid}"
    listed = api.get("/v1/webhooks", headers=auth(ADMIN_KEY)).json or {}
    assert [w["id"] for w in listed["items"]] == [wid]
    assert "secret" not in listed["items"][0]
    one = api.get(f"/v1/webhooks/{wid}", headers=auth(ADMIN_KEY)).json or {}
    assert "secret" not in one and one["description"] == "chat channel"
    patched = api.patch(
        f"/v1/webhooks/{wid}", json={"events": ["*"], "active": False}, headers=auth(ADMIN_KEY)
    )
    assert patched.status_code == 200 and (patched.json or {})["events"] == ["*"]
    rotated = api.post(f"/v1/webhooks/{wid}/rotate-secret", headers=auth(ADMIN_KEY))
    assert rotated.status_code == 200
    assert (rotated.json or {})["secret"] != body["secret"]
    assert api.delete(f"/v1/webhooks/{wid}", headers=auth(ADMIN_KEY)).status_code == 204
    assert api.get(f"/v1/webhooks/{wid}", headers=auth(ADMIN_KEY)).status_code == 404
    assert api.delete(f"/v1/webhooks/{wid}", headers=auth(ADMIN_KEY)).status_code == 404
    trail = audit(strict_settings, wid)
    assert [e.action for e in trail] == [
        "webhook.delete",
        "webhook.rotate_secret",
        "webhook.update",
        "webhook.create",
    ]
    for entry in trail:
        assert entry.target_type == "webhook" and entry.actor and entry.role == "admin"
        text = entry.model_dump_json()
        assert "whsec_" not in text  # secrets never reach the audit log
    assert trail[2].before and trail[2].before["active"] is True
    assert trail[2].after and trail[2].after["active"] is False


SSRF_AT_SUBSCRIPTION = [
    "https://127.0.0.1/",
    "https://2130706433/",
    "https://0177.0.0.1/",
    "https://0x7f.1/",
    "https://[::1]/",
    "https://0.0.0.0/",
    "https://169.254.169.254/latest/meta-data/",
    "https://[::ffff:169.254.169.254]/",
    "https://[::ffff:127.0.0.1]/",
    "https://10.0.0.1/",
    "https://100.64.0.1/",
    "https://[fd00:ec2::254]/",
    "https://localhost/",
    "http://1.1.1.1/",
]


@pytest.mark.parametrize("url", SSRF_AT_SUBSCRIPTION)
def test_private_destinations_are_refused_at_subscription_without_connecting(
    url: str, api: FlaskClient, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    redis_port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    attempts: list[Any] = []
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        if isinstance(address, tuple) and address[1] == redis_port:
            return real_connect(self, address)  # the store itself
        attempts.append(address)
        raise OSError("no connections in this test")

    monkeypatch.setattr(socket.socket, "connect", connect)
    resp = api.post("/v1/webhooks", json={"url": url, "events": ["*"]}, headers=auth(ADMIN_KEY))
    assert resp.status_code == 422, resp.json
    problem = resp.json or {}
    assert resp.content_type == "application/problem+json"
    assert problem["type"] == "urn:moderation:problem:webhook-destination-refused"
    assert problem["errors"][0]["field"] == "url"
    assert problem["detail"].startswith("url refused: ")
    assert attempts == []


def test_patch_checks_a_new_url_too(api: FlaskClient) -> None:
    wid = (
        api.post(
            "/v1/webhooks",
            json={"url": "https://1.1.1.1/", "events": ["*"]},
            headers=auth(ADMIN_KEY),
        ).json
        or {}
    )["id"]
    resp = api.patch(
        f"/v1/webhooks/{wid}", json={"url": "https://169.254.169.254/"}, headers=auth(ADMIN_KEY)
    )
    assert resp.status_code == 422
    assert "cloud metadata" in (resp.json or {})["detail"]


def test_only_admins(api: FlaskClient) -> None:
    for method, path in (("get", "/v1/webhooks"), ("post", "/v1/webhooks")):
        assert getattr(api, method)(path, headers=auth(MODERATOR_KEY)).status_code == 403
        assert getattr(api, method)(path).status_code == 401


def test_bad_bodies(api: FlaskClient) -> None:
    for body in (
        {"url": "https://1.1.1.1/", "events": []},
        {"url": "https://1.1.1.1/", "events": ["comment.nope"]},
        {"url": "https://1.1.1.1/", "events": ["*"], "secret": "mine"},
    ):
        resp = api.post("/v1/webhooks", json=body, headers=auth(ADMIN_KEY))
        assert resp.status_code == 422, body


def test_openapi_documents_the_webhook_api(api: FlaskClient) -> None:
    paths = (api.get("/openapi.json").json or {})["paths"]
    for path in (
        "/v1/webhooks",
        "/v1/webhooks/{webhook_id}",
        "/v1/webhooks/{webhook_id}/rotate-secret",
        "/v1/webhooks/{webhook_id}/deliveries",
        "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
        "/v1/webhooks/{webhook_id}/test",
    ):
        assert path in paths


def test_dispatcher_reclaims_events_a_dead_consumer_never_acked(
    redis_url: str, session_prefix: str
) -> None:
    prefix = f"{session_prefix}whclaim-{uuid.uuid4().hex[:6]}:"
    settings = make_settings(redis_url, prefix, webhook_claim_idle_ms=100)
    svc = Services.from_settings(settings)
    store = WebhookStore(svc.redis, svc.keys)
    events = EventLog(svc.redis, svc.keys)
    try:
        now = iso(utcnow())
        from moderation.store.webhooks import Subscription

        store.create(
            Subscription(
                id="wh_claim",
                url="https://1.1.1.1/",
                events=["comment.rejected"],
                created_at=now,
                updated_at=now,
                created_by="k",
                secret="whsec_AAAA",
            ),
            actor="k",
            role="admin",
        )
        event = CommentEvent(
            type=EventType.REJECTED,
            comment_id="c1",
            article_id="a1",
            author_id="u1",
            revision=1,
            status_before=Status.PENDING,
            status_after=Status.REJECTED,
            at=iso(utcnow()),
        )
        pipe = svc.redis.pipeline(transaction=True)
        events.append(pipe, event)
        pipe.execute()
        sent: list[str] = []

        def make(consumer: str) -> Dispatcher:
            return Dispatcher(store, events, svc.comments, settings, sent.append, consumer=consumer)

        dead = make("dead")
        dead.ensure_group()
        assert [e.event_id for e in events.read_group(GROUP, "dead", count=10)] == [
            event.event_id
        ]  # read, then "killed" before dispatching and acking
        alive = make("alive")
        # Re-claimed once idle past webhook_claim_idle_ms (by Redis's own clock).
        wait_for(lambda: alive.run_once(block_ms=None) or sent, 5)
        assert len(sent) == 1
        assert svc.redis.xpending(svc.keys.events(), GROUP)["pending"] == 0
        # Dispatching the same event again (a crash after storing, before acking) makes
        # no second delivery.
        alive.dispatch([event])
        assert len(sent) == 1
        # Its lease: a delivery whose worker vanished is handed out again when it ends.
        assert alive.sweep() == 0
        svc.redis.zadd(svc.keys.webhook_due(), {sent[0]: 0})
        assert alive.sweep() == 1 and sent[-1] == sent[0]
    finally:
        delete_prefix(redis_url, prefix)
