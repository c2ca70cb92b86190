"""The v1 contract, end to end: HTTP -> Redis -> a real Celery worker -> verdict in Redis."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support import ADMIN_KEY, MODERATOR_KEY, WorkerProcess, auth, wait_for

from moderation.config import Settings
from moderation.domain.labels import LABELS

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


def new_id(prefix: str = "c") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def comment(**overrides: Any) -> dict[str, Any]:
    body = {
        "id": new_id(),
        "article_id": "article-1",
        "author_id": "author-1",
        "text": "Recalling an ambassador is a signal, not a rupture.",
    }
    body.update(overrides)
    return body


def verdict_of(client: FlaskClient, cid: str, timeout_s: float = 60.0) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        body: dict[str, Any] = client.get(f"/v1/comments/{cid}", headers=auth()).get_json()
        return body if body["status"] != "pending" else None

    result: dict[str, Any] = wait_for(done, timeout_s)
    return result


def test_posted_comment_gets_a_stored_verdict(client: FlaskClient, worker: WorkerProcess) -> None:
    body = comment()
    resp = client.post("/v1/comments", json=body, headers=auth())
    assert resp.status_code == 202
    assert resp.headers["Location"] == f"/v1/comments/{body['id']}"
    assert resp.get_json()["status"] == "pending"

    done = verdict_of(client, body["id"])
    assert done["status"] in {"approved", "flagged", "rejected"}
    verdict = done["verdict"]
    assert verdict["status"] == done["status"]
    # Every label is either scored or named as not scored (the embedded model does not
    # score threat and sexual_explicit).
    assert set(verdict["scores"]) | set(verdict["not_scored"]) == set(LABELS)
    assert not set(verdict["scores"]) & set(verdict["not_scored"])
    assert all(0.0 <= s <= 1.0 for s in verdict["scores"].values())
    assert verdict["model"]["name"] and verdict["model"]["version"]
    assert verdict["ruleset"]["version"]
    assert verdict["decided_by"] in {"model", "rules"}
    for reason in verdict["reasons"]:
        assert reason["source"] in {"model", "rule"} and reason["message"]


def test_retry_with_same_body_is_safe_and_not_classified_again(
    client: FlaskClient, worker: WorkerProcess
) -> None:
    body = comment()
    assert client.post("/v1/comments", json=body, headers=auth()).status_code == 202
    first = verdict_of(client, body["id"])
    again = client.post("/v1/comments", json=body, headers=auth())
    assert again.status_code in (200, 202)
    assert again.get_json()["status"] == first["status"]
    # A second classification would write a new decided_at.
    time.sleep(1.5)
    later = client.get(f"/v1/comments/{body['id']}", headers=auth()).get_json()
    assert later["verdict"]["decided_at"] == first["verdict"]["decided_at"]
    assert later["revision"] == 1


def test_same_id_with_different_body_is_a_conflict(client: FlaskClient) -> None:
    body = comment()
    assert client.post("/v1/comments", json=body, headers=auth()).status_code == 202
    resp = client.post("/v1/comments", json={**body, "text": "something else"}, headers=auth())
    assert resp.status_code == 409
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["type"].endswith(":conflict")
    stored = client.get(f"/v1/comments/{body['id']}", headers=auth()).get_json()
    assert stored["text"] == body["text"]


def test_edit_is_moderated_again(client: FlaskClient, worker: WorkerProcess) -> None:
    body = comment()
    client.post("/v1/comments", json=body, headers=auth())
    first = verdict_of(client, body["id"])
    resp = client.put(
        f"/v1/comments/{body['id']}",
        json={"text": "An edited, still civil, remark."},
        headers=auth(),
    )
    assert resp.status_code == 202
    assert resp.get_json()["revision"] == 2
    assert resp.get_json()["status"] == "pending"
    # Until the new revision is classified, the verdict shown is labelled as revision 1's.
    assert resp.get_json()["verdict"]["revision"] == 1
    second = verdict_of(client, body["id"])
    assert second["revision"] == 2
    assert second["text"] == "An edited, still civil, remark."
    assert second["verdict"]["decided_at"] != first["verdict"]["decided_at"]
    assert second["verdict"]["revision"] == 2


def test_edit_of_unknown_comment_is_404(client: FlaskClient) -> None:
    resp = client.put("/v1/comments/nope-404", json={"text": "x"}, headers=auth())
    assert resp.status_code == 404
    assert resp.mimetype == "application/problem+json"


def test_unknown_comment_is_404(client: FlaskClient) -> None:
    resp = client.get("/v1/comments/does-not-exist", headers=auth())
    assert resp.status_code == 404
    assert resp.get_json()["type"].endswith(":not-found")


@pytest.mark.parametrize("header", [None, "Bearer wrong-key-000000", "Basic abc", "Bearer "])
def test_missing_or_wrong_key_is_401(client: FlaskClient, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    body = comment()
    resp = client.post("/v1/comments", json=body, headers=headers)
    assert resp.status_code == 401
    assert resp.mimetype == "application/problem+json"
    assert "WWW-Authenticate" in resp.headers
    assert client.get(f"/v1/comments/{body['id']}", headers=auth()).status_code == 404


def test_wrong_role_is_403(client: FlaskClient) -> None:
    body = comment()
    resp = client.post("/v1/comments", json=body, headers=auth(MODERATOR_KEY))
    assert resp.status_code == 403
    assert "site" in resp.get_json()["detail"]
    assert client.get(f"/v1/comments/{body['id']}", headers=auth()).status_code == 404


def test_admin_may_post_and_moderator_may_read(client: FlaskClient) -> None:
    body = comment()
    assert client.post("/v1/comments", json=body, headers=auth(ADMIN_KEY)).status_code == 202
    assert client.get(f"/v1/comments/{body['id']}", headers=auth(MODERATOR_KEY)).status_code == 200


def test_created_key_works_and_is_stored_hashed(client: FlaskClient, app: Any) -> None:
    svc = app.extensions["moderation"]
    secret, _key = svc.api_keys.create("site", "test")
    assert svc.redis.exists(svc.keys.api_key(secret)) == 0  # never stored in clear
    resp = client.post("/v1/comments", json=comment(), headers=auth(secret))
    assert resp.status_code == 202


def test_article_listing_is_newest_first_and_paginated(
    client: FlaskClient, worker: WorkerProcess
) -> None:
    article = new_id("article")
    ids = []
    for i in range(5):
        body = comment(article_id=article, created_at=f"2026-11-0{i + 1}T10:00:00Z")
        ids.append(body["id"])
        assert client.post("/v1/comments", json=body, headers=auth()).status_code == 202
    seen: list[str] = []
    cursor = None
    while True:
        url = f"/v1/articles/{article}/comments?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=auth()).get_json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))
    for cid in ids:
        verdict_of(client, cid)
    statuses = {client.get(f"/v1/comments/{c}", headers=auth()).get_json()["status"] for c in ids}
    for status in statuses:
        page = client.get(
            f"/v1/articles/{article}/comments?status={status}", headers=auth()
        ).get_json()
        assert page["items"] and all(c["status"] == status for c in page["items"])
    assert (
        client.get(f"/v1/articles/{article}/comments?status=pending", headers=auth()).get_json()[
            "items"
        ]
        == []
    )


def test_listing_rejects_bad_query(client: FlaskClient) -> None:
    for query in ("limit=0", "limit=5000", "status=maybe", "cursor=%%%"):
        resp = client.get(f"/v1/articles/a/comments?{query}", headers=auth())
        assert resp.status_code == 422, query
        assert resp.mimetype == "application/problem+json"


def test_dead_lettered_comment_can_be_retried_by_an_admin(
    client: FlaskClient, app: Any, worker: WorkerProcess
) -> None:
    body = comment()
    client.post("/v1/comments", json=body, headers=auth())
    verdict_of(client, body["id"])
    svc = app.extensions["moderation"]
    # Simulate exhausted retries: back to pending, then dead-lettered.
    svc.comments.edit(body["id"], "text that the model failed on")
    svc.comments.mark_error(body["id"], 2, "model crashed")
    assert client.get(f"/v1/comments/{body['id']}", headers=auth()).get_json()["status"] == "error"
    assert client.post(f"/v1/comments/{body['id']}/retry", headers=auth()).status_code == 403
    resp = client.post(f"/v1/comments/{body['id']}/retry", headers=auth(ADMIN_KEY))
    assert resp.status_code == 202 and resp.get_json()["status"] == "pending"
    assert verdict_of(client, body["id"])["status"] in {"approved", "flagged", "rejected"}
    again = client.post(f"/v1/comments/{body['id']}/retry", headers=auth(ADMIN_KEY))
    assert again.status_code == 409
