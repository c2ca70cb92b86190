"""Hostile bodies found by trying the service as an attacker would: each is a clear 4xx
problem+json (never a 500) and stores nothing; and every body the schema allows fits."""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support import auth

from moderation.api.schemas import MAX_METADATA_BYTES, MAX_TEXT_CHARS


def fresh_id() -> str:
    return f"hostile-{uuid.uuid4().hex[:12]}"


def valid(cid: str, **extra: Any) -> dict[str, Any]:
    return {"id": cid, "article_id": "a-1", "author_id": "u-1", "text": "hello", **extra}


def assert_nothing_stored(app: Flask, cid: str) -> None:
    svc = app.extensions["moderation"]
    assert svc.redis.exists(svc.keys.comment(cid)) == 0
    assert svc.redis.zscore(svc.keys.pending(), cid) is None


def post_raw(client: FlaskClient, raw: str | bytes, **kwargs: Any) -> Any:
    content_type = kwargs.pop("content_type", "application/json")
    return client.post(
        "/v1/comments", data=raw, content_type=content_type, headers=auth(), **kwargs
    )


def problem(resp: Any, status: int, slug: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.get_data(as_text=True)[:500]
    assert resp.mimetype == "application/problem+json"
    body: dict[str, Any] = resp.get_json()
    assert body["status"] == status and body["detail"]
    if slug is not None:
        assert body["type"] == f"urn:moderation:problem:{slug}", body
    return body


def test_json_nested_1000_deep_is_400(client: FlaskClient) -> None:
    body = problem(post_raw(client, "[" * 1000 + "]" * 1000), 400, "json-too-deep")
    assert "1000 levels" in body["detail"]


def test_metadata_nested_400_deep_is_400_and_stores_nothing(
    client: FlaskClient, app: Flask
) -> None:
    cid = fresh_id()
    raw = json.dumps(valid(cid))[:-1] + ', "metadata": {"a": ' + "[" * 400 + "]" * 400 + "}}"
    problem(post_raw(client, raw), 400, "json-too-deep")
    assert_nothing_stored(app, cid)


def test_brackets_inside_strings_do_not_count_as_depth(client: FlaskClient) -> None:
    cid = fresh_id()
    resp = client.post("/v1/comments", json=valid(cid, text='[[[[{{{{"' * 50), headers=auth())
    assert resp.status_code == 202, resp.get_json()


@pytest.mark.parametrize(
    "created_at",
    [
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-01:00",
        "1970-01-01T00:00:00+01:00",  # before the epoch: negative listing cursor
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
    ],
)
def test_out_of_range_created_at_is_422(client: FlaskClient, app: Flask, created_at: str) -> None:
    cid = fresh_id()
    body = problem(post_raw(client, json.dumps(valid(cid, created_at=created_at))), 422)
    assert body["errors"][0]["field"] == "created_at"
    assert_nothing_stored(app, cid)


def test_created_at_at_the_bounds_is_accepted_and_listed(client: FlaskClient) -> None:
    article = f"a-{uuid.uuid4().hex[:8]}"
    for stamp in ("1971-01-01T00:00:00-14:00", "9998-12-31T23:59:59+14:00"):
        body = {**valid(fresh_id(), created_at=stamp), "article_id": article}
        assert client.post("/v1/comments", json=body, headers=auth()).status_code == 202
    page = client.get(f"/v1/articles/{article}/comments?limit=1", headers=auth()).get_json()
    follow = client.get(
        f"/v1/articles/{article}/comments?limit=1&cursor={page['next_cursor']}", headers=auth()
    )
    assert follow.status_code == 200 and len(follow.get_json()["items"]) == 1


@pytest.mark.parametrize(
    "text",
    [
        "\u200b\u200b\u200b",  # zero-width space
        "\u200c\u200d\u2060\ufeff",  # joiners, word joiner, BOM
        "\u202e\u2066\u2069",  # bidi controls
        "\u3164\u115f\u2800",  # Hangul fillers, Braille blank
        "\U000e0041\U000e0042",  # tag characters
        " \u00a0\u3000\n\t",
    ],
)
def test_invisible_only_text_is_422(client: FlaskClient, app: Flask, text: str) -> None:
    cid = fresh_id()
    problem(client.post("/v1/comments", json=valid(cid, text=text), headers=auth()), 422)
    assert_nothing_stored(app, cid)


def test_text_with_invisible_characters_around_words_is_accepted(client: FlaskClient) -> None:
    resp = client.post(
        "/v1/comments", json=valid(fresh_id(), text="\u200bhe\u200dllo\u2060"), headers=auth()
    )
    assert resp.status_code == 202


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_422(client: FlaskClient, app: Flask, number: str) -> None:
    cid = fresh_id()
    raw = json.dumps(valid(cid))[:-1] + f', "metadata": {{"score": [1, {number}]}}}}'
    body = problem(post_raw(client, raw), 422, "validation")
    assert body["errors"][0]["field"] == "metadata.score.1"
    assert_nothing_stored(app, cid)


@pytest.mark.parametrize("field", ["id", "article_id", "author_id", "parent_id"])
@pytest.mark.parametrize("value", [".", ".."])
def test_dot_ids_are_422(client: FlaskClient, app: Flask, field: str, value: str) -> None:
    cid = fresh_id()
    body = valid(cid)
    body[field] = value
    problem(client.post("/v1/comments", json=body, headers=auth()), 422)
    assert_nothing_stored(app, cid)
    assert_nothing_stored(app, value)


def test_ids_with_dots_inside_are_still_accepted(client: FlaskClient) -> None:
    for cid in (f".x{uuid.uuid4().hex[:6]}", f"...{uuid.uuid4().hex[:6]}", f"v1.{fresh_id()}"):
        assert client.post("/v1/comments", json=valid(cid), headers=auth()).status_code == 202


@pytest.mark.parametrize(
    ("encode", "slug"),
    [
        (lambda s: s.encode("utf-16"), "unsupported-encoding"),
        (lambda s: s.encode("utf-16-le"), "unsupported-encoding"),
        (lambda s: s.encode("utf-32"), "unsupported-encoding"),
        (lambda s: s.encode("utf-32-be"), "unsupported-encoding"),
        (lambda s: b"\xef\xbb\xbf" + s.encode("utf-8"), "unsupported-encoding"),
    ],
)
def test_utf16_utf32_and_bom_bodies_are_415(
    client: FlaskClient, app: Flask, encode: Any, slug: str
) -> None:
    cid = fresh_id()
    body = problem(post_raw(client, encode(json.dumps(valid(cid)))), 415, slug)
    assert "UTF-8" in body["detail"]
    assert_nothing_stored(app, cid)


def test_declared_non_utf8_charset_is_415(client: FlaskClient, app: Flask) -> None:
    cid = fresh_id()
    resp = post_raw(
        client, json.dumps(valid(cid)), content_type="application/json; charset=latin-1"
    )
    problem(resp, 415, "unsupported-encoding")
    assert_nothing_stored(app, cid)


def test_chunked_body_over_the_limit_is_413(client: FlaskClient, app: Flask) -> None:
    cid = fresh_id()
    limit = app.config["MAX_CONTENT_LENGTH"]
    raw = json.dumps(valid(cid, metadata={"pad": "z" * limit})).encode()
    resp = client.post(
        "/v1/comments",
        input_stream=io.BytesIO(raw),
        content_type="application/json",
        headers={**auth(), "Transfer-Encoding": "chunked"},
        # What a WSGI server that de-chunks the body sets: no Content-Length.
        environ_overrides={"wsgi.input_terminated": True},
    )
    problem(resp, 413, "payload-too-large")
    assert_nothing_stored(app, cid)


def test_chunked_body_under_the_limit_is_accepted(client: FlaskClient) -> None:
    raw = json.dumps(valid(fresh_id())).encode()
    resp = client.post(
        "/v1/comments",
        input_stream=io.BytesIO(raw),
        content_type="application/json",
        headers={**auth(), "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert resp.status_code == 202, resp.get_json()


def largest_valid_body(cid: str) -> bytes:
    """The largest comment the schema allows, as Python's json.dumps sends it by default
    (ASCII escapes: 12 bytes for each character outside the BMP, which counts as 4 bytes of
    metadata and 1 character of text)."""
    ident = "x" * 128
    metadata = {"k": "\U0001f600" * ((MAX_METADATA_BYTES - len('{"k":""}')) // 4)}
    body = {
        "id": cid + "y" * (128 - len(cid)),
        "article_id": ident,
        "author_id": ident,
        "parent_id": ident,
        "language": "x" * 35,
        "created_at": "2026-12-01T13:14:15.123456+14:00",
        "text": "\U0001f600" * MAX_TEXT_CHARS,
        "metadata": metadata,
    }
    return json.dumps(body).encode()


def test_every_body_the_schema_allows_fits_the_default_limit(
    client: FlaskClient, app: Flask
) -> None:
    raw = largest_valid_body(fresh_id())
    assert len(raw) <= app.config["MAX_CONTENT_LENGTH"]
    resp = post_raw(client, raw)
    assert resp.status_code == 202, resp.get_data(as_text=True)[:300]


def test_20000_non_latin_characters_are_accepted(client: FlaskClient) -> None:
    for text in ("語" * MAX_TEXT_CHARS, "😀" * MAX_TEXT_CHARS):
        resp = client.post("/v1/comments", json=valid(fresh_id(), text=text), headers=auth())
        assert resp.status_code == 202, resp.get_data(as_text=True)[:300]
