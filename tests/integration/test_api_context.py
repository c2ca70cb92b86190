"""Article settings and author standing change what the worker decides."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support import MODERATOR_KEY, SITE_KEY, WorkerProcess, auth, wait_for

from moderation.config import Settings

pytestmark = pytest.mark.slow


# The whole pipeline, once per broker (Redis, and RabbitMQ where it answers): see conftest.py.
@pytest.fixture(scope="module")
def settings(broker_settings: Settings) -> Settings:
    return broker_settings


@pytest.fixture(scope="module")
def app(broker_app: Flask) -> Flask:
    return broker_app


@pytest.fixture
def client(broker_app: Flask) -> FlaskClient:
    return broker_app.test_client()


@pytest.fixture(scope="module")
def worker(broker_worker: WorkerProcess) -> WorkerProcess:
    return broker_worker


def post_and_wait(client: FlaskClient, article: str, author: str, text: str) -> dict[str, Any]:
    cid = f"ctx-{uuid.uuid4().hex[:10]}"
    body = {"id": cid, "article_id": article, "author_id": author, "text": text}
    assert client.post("/v1/comments", json=body, headers=auth()).status_code == 202

    def done() -> dict[str, Any] | None:
        got: dict[str, Any] = client.get(f"/v1/comments/{cid}", headers=auth()).get_json()
        return got if got["status"] != "pending" else None

    result: dict[str, Any] = wait_for(done, 60)
    return result


def rule_ids(comment: dict[str, Any]) -> set[str]:
    return {r["rule_id"] for r in comment["verdict"]["reasons"] if r.get("rule_id")}


def test_closed_article_rejects_new_comments(client: FlaskClient, worker: WorkerProcess) -> None:
    article = f"art-{uuid.uuid4().hex[:8]}"
    resp = client.put(
        f"/v1/articles/{article}/settings", json={"closed": True}, headers=auth(SITE_KEY)
    )
    assert resp.status_code == 200 and resp.get_json()["closed"] is True
    got = post_and_wait(client, article, "someone", "A calm and reasonable remark.")
    assert got["status"] == "rejected"
    assert "closed-thread" in rule_ids(got)


def test_premoderated_article_flags_every_comment(
    client: FlaskClient, worker: WorkerProcess
) -> None:
    article = f"art-{uuid.uuid4().hex[:8]}"
    client.put(f"/v1/articles/{article}/settings", json={"premoderate": True}, headers=auth())
    got = post_and_wait(client, article, "someone", "A calm and reasonable remark.")
    assert got["status"] in ("flagged", "rejected")
    assert "premoderated-article" in rule_ids(got)


def test_banned_author_is_rejected_and_moderators_see_history(
    client: FlaskClient, worker: WorkerProcess
) -> None:
    author = f"troll-{uuid.uuid4().hex[:8]}"
    resp = client.put(
        f"/v1/authors/{author}",
        json={"banned": True, "note": "spam wave"},
        headers=auth(MODERATOR_KEY),
    )
    assert resp.status_code == 200
    assert resp.get_json()["banned"] is True and resp.get_json()["updated_by"].startswith(
        "moderator:"
    )
    got = post_and_wait(client, "any-article", author, "Perfectly polite words.")
    assert got["status"] == "rejected" and "banned-author" in rule_ids(got)
    profile = client.get(f"/v1/authors/{author}", headers=auth(MODERATOR_KEY)).get_json()
    assert profile["counts"].get("rejected") == 1


def test_article_settings_are_validated_and_role_checked(client: FlaskClient) -> None:
    bad = client.put("/v1/articles/a1/settings", json={"sensitivity": 3}, headers=auth())
    assert bad.status_code == 422 and "sensitivity" in bad.get_json()["detail"]
    assert (
        client.put(
            "/v1/articles/a1/settings", json={"closed": True}, headers=auth(MODERATOR_KEY)
        ).status_code
        == 403
    )
    assert (
        client.put("/v1/authors/u1", json={"banned": True}, headers=auth(SITE_KEY)).status_code
        == 403
    )
    assert client.get("/v1/articles/bad%20id/settings", headers=auth()).status_code == 422
