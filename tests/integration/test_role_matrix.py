"""Every /v1 endpoint x {no key, site, moderator, admin}, generated from the route table
and each view's declared roles, so that a new route is in the matrix the day it is added
(and a /v1 route without a declared `operation` fails here)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support import ADMIN_KEY, MODERATOR_KEY, SITE_KEY, auth, make_settings

from moderation import create_app
from moderation.api.framework import Operation

KEYS = {"none": None, "site": SITE_KEY, "moderator": MODERATOR_KEY, "admin": ADMIN_KEY}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    operation: Operation | None

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def endpoints(app: Flask) -> list[Endpoint]:
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/v1/"):
            continue
        view = app.view_functions[rule.endpoint]
        path = re.sub(r"<(?:[^:<>]+:)?[^<>]+>", "x-1", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append(Endpoint(method, path, getattr(view, "__openapi__", None)))
    return found


# Built at collection time from an app that never connects (nothing does at creation).
_ROUTES = endpoints(create_app(make_settings("redis://127.0.0.1:6379/0", "role-matrix:")))


def expected(endpoint: Endpoint, who: str) -> str:
    assert endpoint.operation is not None, f"{endpoint} is not declared with @operation"
    roles = endpoint.operation.roles
    if not roles:
        return "open"
    if who == "none":
        return "401"
    if who == "admin" or who in roles:
        return "allowed"
    return "403"


def test_the_matrix_covers_the_api() -> None:
    paths = {str(e) for e in _ROUTES}
    for must in (
        "GET /v1/review",
        "POST /v1/comments/x-1/decision",
        "GET /v1/audit",
        "GET /v1/stats",
        "POST /v1/authors/x-1/ban",
    ):
        assert must in paths
    assert all(e.operation is not None for e in _ROUTES), [
        str(e) for e in _ROUTES if e.operation is None
    ]


@pytest.mark.parametrize("who", list(KEYS))
@pytest.mark.parametrize("endpoint", _ROUTES, ids=str)
def test_role_matrix(client: FlaskClient, endpoint: Endpoint, who: str) -> None:
    want = expected(endpoint, who)
    key = KEYS[who]
    headers = auth(key) if key else {}
    body: dict[str, object] | None = {} if endpoint.method in ("POST", "PUT", "PATCH") else None
    resp = client.open(endpoint.path, method=endpoint.method, json=body, headers=headers)
    got = resp.status_code
    if want == "401":
        assert got == 401, (str(endpoint), who, got)
        assert resp.content_type == "application/problem+json"
    elif want == "403":
        assert got == 403, (str(endpoint), who, got)
    else:
        assert got not in (401, 403), (str(endpoint), who, got, resp.get_data(as_text=True))
        assert got < 500, (str(endpoint), who, got, resp.get_data(as_text=True))
