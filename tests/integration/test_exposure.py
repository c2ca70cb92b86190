"""What the API shows to anyone: /readyz details only to an admin, Locations that never echo
the Host header, security headers on every response, and an optional Host allowlist."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support import ADMIN_KEY, MODERATOR_KEY, WorkerProcess, auth, delete_prefix, make_settings

from moderation import create_app


@pytest.fixture
def lonely_app(redis_url: str) -> Iterator[Flask]:
    """No classify worker announces itself under this prefix: /readyz is 503."""
    prefix = f"test-exposure-{uuid.uuid4().hex[:8]}:"
    yield create_app(make_settings(redis_url, prefix))
    delete_prefix(redis_url, prefix)


def test_readyz_hides_details_from_anyone_but_an_admin(
    client: FlaskClient, worker: WorkerProcess
) -> None:
    anonymous = client.get("/readyz")
    assert anonymous.status_code == 200
    assert anonymous.get_json() == {
        "status": "ok",
        "checks": {"redis": "ok", "broker": "ok", "classify_worker": "ok"},
        "workers": [],
    }
    for key in (MODERATOR_KEY, "not-a-key-0000"):
        assert client.get("/readyz", headers=auth(key)).get_json()["workers"] == []
    admin = client.get("/readyz", headers=auth(ADMIN_KEY))
    assert admin.status_code == 200
    assert admin.get_json()["workers"][0]["model"]


def test_readyz_failure_is_503_for_everyone_with_the_error_only_for_an_admin(
    lonely_app: Flask,
) -> None:
    client = lonely_app.test_client()
    anonymous = client.get("/readyz")
    assert anonymous.status_code == 503
    assert anonymous.get_json()["checks"]["classify_worker"] == "failed"
    admin = client.get("/readyz", headers=auth(ADMIN_KEY))
    assert admin.status_code == 503
    assert admin.get_json()["checks"]["classify_worker"].startswith("failed: no classify worker")


def test_readyz_details_can_be_made_public(redis_url: str) -> None:
    prefix = f"test-exposure-{uuid.uuid4().hex[:8]}:"
    app = create_app(make_settings(redis_url, prefix, readiness_details_public=True))
    checks = app.test_client().get("/readyz").get_json()["checks"]
    assert checks["classify_worker"].startswith("failed: no classify worker")


def test_redirect_location_never_echoes_the_host_header(client: FlaskClient) -> None:
    resp = client.get("/moderate", headers={"Host": "evil.example"})
    assert resp.status_code == 308
    assert resp.headers["Location"] == "/moderate/"
    signin = client.get("/moderate/", headers={"Host": "evil.example"})
    assert "evil.example" not in signin.headers["Location"]


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("get", "/healthz", {}),
        ("get", "/v1/comments/x-1", {"headers": auth()}),
        ("get", "/v1/comments/x-1", {}),  # 401
        ("get", "/v1/nothing-here", {}),  # 404
        ("post", "/v1/comments", {"data": "x" * 400_000, "content_type": "application/json"}),
        ("get", "/moderate", {}),  # 308
        ("get", "/metrics", {}),
        ("get", "/openapi.json", {}),
        ("get", "/docs", {}),
        ("get", "/moderate/sign-in", {}),
    ],
)
def test_every_response_carries_security_headers(
    client: FlaskClient, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    resp = getattr(client, method)(path, **kwargs)
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    if resp.mimetype != "text/html":
        assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
    if "headers" in kwargs:
        assert resp.headers["Cache-Control"] == "no-store"


def test_trusted_hosts_refuse_other_host_headers(redis_url: str) -> None:
    prefix = f"test-exposure-{uuid.uuid4().hex[:8]}:"
    app = create_app(make_settings(redis_url, prefix, trusted_hosts="mod.example.org"))
    client = app.test_client()
    resp = client.get("/healthz", headers={"Host": "evil.example"})
    assert resp.status_code == 400
    assert resp.mimetype == "application/problem+json"
    assert client.get("/healthz", headers={"Host": "mod.example.org"}).status_code == 200


def test_proxy_hops_make_the_forwarded_address_the_source(redis_url: str) -> None:
    prefix = f"test-exposure-{uuid.uuid4().hex[:8]}:"
    try:
        app = create_app(make_settings(redis_url, prefix, proxy_hops=1, auth_fail_limit=1))
        client = app.test_client()
        bad = {**auth("wrong-key-0000"), "X-Forwarded-For": "203.0.113.5"}
        assert client.get("/v1/audit", headers=bad).status_code == 401
        assert client.get("/v1/audit", headers=bad).status_code == 429
        good = {**auth(ADMIN_KEY), "X-Forwarded-For": "203.0.113.6"}
        assert client.get("/v1/audit", headers=good).status_code == 200
    finally:
        delete_prefix(redis_url, prefix)
