"""How many times the API waits for Redis per request, counted on a real Redis: a POST of a
comment is one round trip (its key's rate limit, the comment, its indexes and its event
together) plus the broker's publish, so that ingest cannot drift back to one trip per step."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from redis.connection import Connection
from support import SITE_KEY, auth, delete_prefix, make_settings

from moderation import create_app
from moderation.services import Services


class CountingConnection(Connection):
    """Counts what it sends: one send per command, or per pipeline or script, is one wait
    for the server's answer."""

    sent = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.sent += 1
        super().send_packed_command(command, check_health)


@pytest.fixture
def app(redis_url: str) -> Iterator[Flask]:
    prefix = f"test-rtt-{uuid.uuid4().hex[:8]}:"
    app = create_app(make_settings(redis_url, prefix, rate_limit_per_key=4))
    svc: Services = app.extensions["moderation"]
    svc.redis.connection_pool.connection_class = CountingConnection
    svc.redis.connection_pool.disconnect()
    # Connecting (HELLO, CLIENT SETINFO) and loading the script happen once per connection
    # and server, not per request: done before counting.
    assert app.test_client().post("/v1/comments", json=body(), headers=auth()).status_code == 202
    yield app
    delete_prefix(redis_url, prefix)


def body() -> dict[str, Any]:
    return {
        "id": f"c-{uuid.uuid4().hex[:12]}",
        "article_id": "article-rtt",
        "author_id": "author-rtt",
        "text": "Recalling an ambassador is a signal, not a rupture.",
    }


def round_trips(app: Flask, key: str, payload: dict[str, Any]) -> tuple[int, int]:
    client = app.test_client()
    before = CountingConnection.sent
    resp = client.post("/v1/comments", json=payload, headers=auth(key))
    return resp.status_code, CountingConnection.sent - before


def test_a_post_is_one_redis_round_trip(app: Flask) -> None:
    svc: Services = app.extensions["moderation"]
    first = body()
    assert round_trips(app, SITE_KEY, first) == (202, 1)
    stored = svc.comments.get(first["id"])
    assert stored is not None and stored.enqueued and stored.status.value == "pending"
    assert [e.type.value for e in svc.events.for_comment(first["id"])] == ["comment.stored"]
    # The site's retry: the same one round trip reads the stored comment back.
    assert round_trips(app, SITE_KEY, first) == (200, 1)


def test_a_post_with_a_stored_key_adds_only_the_key_lookup(app: Flask) -> None:
    svc: Services = app.extensions["moderation"]
    secret, _ = svc.api_keys.create("site", "rtt")
    round_trips(app, secret, body())  # its first use notes last_used_at (once a minute)
    assert round_trips(app, secret, body()) == (202, 2)


def test_the_rate_limit_in_the_same_round_trip_still_refuses_and_stores_nothing(
    app: Flask,
) -> None:
    svc: Services = app.extensions["moderation"]
    for _ in range(3):  # and the fixture's one
        assert round_trips(app, SITE_KEY, body())[0] == 202
    refused = body()
    resp = app.test_client().post("/v1/comments", json=refused, headers=auth(SITE_KEY))
    assert resp.status_code == 429
    assert "4 requests in" in resp.get_json()["detail"]
    assert svc.comments.get(refused["id"]) is None
    # A throttled key reads 429 before anything about its request's body.
    bad = app.test_client().post("/v1/comments", json={"id": "x"}, headers=auth(SITE_KEY))
    assert bad.status_code == 429
