"""Every bad input is a 4xx problem+json naming the field, and stores nothing."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support import auth


def fresh_id() -> str:
    return f"bad-{uuid.uuid4().hex[:12]}"


def valid(cid: str) -> dict[str, Any]:
    return {"id": cid, "article_id": "a-1", "author_id": "u-1", "text": "hello"}


def assert_nothing_stored(app: Flask, cid: str) -> None:
    svc = app.extensions["moderation"]
    assert svc.redis.exists(svc.keys.comment(cid)) == 0
    assert svc.redis.zscore(svc.keys.pending(), cid) is None


def assert_problem(resp: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    body: dict[str, Any] = resp.get_json()
    assert body["status"] == status
    assert body["type"].startswith("urn:moderation:problem:")
    assert body["detail"]
    if field is not None:
        assert field in body["detail"], body["detail"]
        assert any(e["field"].startswith(field) for e in body.get("errors", [])), body
    return body


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.pop("text"), "text"),
        (lambda b: b.pop("article_id"), "article_id"),
        (lambda b: b.update(extra="x"), "extra"),
        (lambda b: b.update(id="has space"), "id"),
        (lambda b: b.update(author_id="ü-nicode"), "author_id"),
        (lambda b: b.update(article_id="x" * 129), "article_id"),
        (lambda b: b.update(text=""), "text"),
        (lambda b: b.update(text="   \n\t "), "text"),
        (lambda b: b.update(text="x" * 20_001), "text"),
        (lambda b: b.update(text="bad\x00byte"), "text"),
        (lambda b: b.update(text=42), "text"),
        (lambda b: b.update(created_at="yesterday"), "created_at"),
        (lambda b: b.update(metadata={"blob": "y" * 4200}), "metadata"),
        (lambda b: b.update(metadata=["not", "an", "object"]), "metadata"),
        (lambda b: b.update(parent_id="../etc"), "parent_id"),
    ],
)
def test_invalid_field_is_422_naming_it(
    client: FlaskClient, app: Flask, mutate: Any, field: str
) -> None:
    cid = fresh_id()
    body = valid(cid)
    mutate(body)
    resp = client.post("/v1/comments", json=body, headers=auth())
    assert_problem(resp, 422, field)
    if isinstance(body.get("id"), str):
        assert_nothing_stored(app, body["id"])
    assert_nothing_stored(app, cid)


def test_lone_surrogate_is_rejected(client: FlaskClient, app: Flask) -> None:
    cid = fresh_id()
    raw = json.dumps(valid(cid)).replace('"hello"', '"half \\ud800 pair"')
    resp = client.post("/v1/comments", data=raw, content_type="application/json", headers=auth())
    assert_problem(resp, 422, "text")
    assert_nothing_stored(app, cid)


def test_non_json_body_is_400(client: FlaskClient, app: Flask) -> None:
    resp = client.post(
        "/v1/comments", data="{not json", content_type="application/json", headers=auth()
    )
    assert_problem(resp, 400)


def test_invalid_utf8_is_400(client: FlaskClient) -> None:
    resp = client.post(
        "/v1/comments",
        data=b'{"text": "\xff\xfe"}',
        content_type="application/json",
        headers=auth(),
    )
    assert_problem(resp, 400)


def test_json_that_is_not_an_object_is_422(client: FlaskClient) -> None:
    resp = client.post(
        "/v1/comments", data="[1, 2]", content_type="application/json", headers=auth()
    )
    assert_problem(resp, 422)


def test_wrong_content_type_is_415(client: FlaskClient, app: Flask) -> None:
    cid = fresh_id()
    resp = client.post(
        "/v1/comments", data=json.dumps(valid(cid)), content_type="text/plain", headers=auth()
    )
    assert_problem(resp, 415)
    assert_nothing_stored(app, cid)


def test_body_over_the_limit_is_413(client: FlaskClient, app: Flask) -> None:
    cid = fresh_id()
    body = valid(cid)
    body["metadata"] = {"pad": "z" * (400 * 1024)}
    resp = client.post(
        "/v1/comments", data=json.dumps(body), content_type="application/json", headers=auth()
    )
    assert_problem(resp, 413)
    assert_nothing_stored(app, cid)


def test_edit_with_bad_text_changes_nothing(client: FlaskClient, app: Flask) -> None:
    cid = fresh_id()
    assert client.post("/v1/comments", json=valid(cid), headers=auth()).status_code == 202
    resp = client.put(f"/v1/comments/{cid}", json={"text": ""}, headers=auth())
    assert_problem(resp, 422, "text")
    stored = client.get(f"/v1/comments/{cid}", headers=auth()).get_json()
    assert stored["text"] == "hello" and stored["revision"] == 1


def test_unknown_route_and_method_are_problems(client: FlaskClient) -> None:
    assert_problem(client.get("/v1/nothing-here"), 404)
    resp = client.delete("/v1/comments")
    assert_problem(resp, 405)
    assert "POST" in resp.headers["Allow"]


def test_malformed_path_id_is_422(client: FlaskClient) -> None:
    resp = client.get("/v1/comments/has%20space", headers=auth())
    assert_problem(resp, 422, "comment_id")


def test_free_form_metadata_is_kept_verbatim(client: FlaskClient) -> None:
    cid = fresh_id()
    raw = json.dumps({**valid(cid), "metadata": {"odd": "nul\u0000 and \ud800 half"}})
    resp = client.post("/v1/comments", data=raw, content_type="application/json", headers=auth())
    assert resp.status_code == 202
    stored = client.get(f"/v1/comments/{cid}", headers=auth()).get_json()
    assert stored["metadata"] == {"odd": "nul\u0000 and \ud800 half"}
