"""Hostile-input fuzzing of every API operation with every role: malformed and hostile bodies
(deep nesting, NaN and huge numbers, BOMs, UTF-16/32, invalid UTF-8, lone surrogates,
invisible text, out-of-range dates, dot ids, truncations, wrong types, unknown fields) plus
hostile path ids, query strings, content types and keys. Whatever arrives, the answer is
below 500, and nothing is stored half-way.

`make test` sends a few hundred bodies (a few seconds); `make test-reliability` sends
HOSTILE_FUZZ_BODIES (default 100,000)."""

from __future__ import annotations

import json
import os
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import ADMIN_KEY, MODERATOR_KEY, SITE_KEY, delete_prefix, make_settings

from moderation import create_app
from moderation.api.examples import REQUEST_EXAMPLES

QUICK_BODIES = 400
FULL_BODIES = int(os.environ.get("HOSTILE_FUZZ_BODIES", "100000"))

KEYS = [SITE_KEY, MODERATOR_KEY, ADMIN_KEY, "wrong-key-0000000", "", "mod_site_" + "A" * 32]
HOSTILE_STRINGS = [
    ".",
    "..",
    "",
    " ",
    "\u200b\u200d\u2060",
    "\u3164",
    "\x00",
    "\ud800",
    "\udfff\ud800",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-01:00",
    "1970-01-01T00:00:00+01:00",
    "2026-13-45T99:99:99Z",
    "NaN",
    "Infinity",
    "1e999",
    "../../etc/passwd",
    "%2e%2e",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "{{7*7}}",
    "x" * 129,
    "😀" * 300,
    "\u202e\u2066evil",
    "a:b:c",
    "-1",
    "99999999999999999999",
    "mod:comment:x",
    "*",
    "\r\nX-Injected: 1",
]
ID_LIKE = ["c-1", "c-2", "a-1", "u-1", "x" * 128, "..", ".", "a.b", "ü", "a b", "%00", "a/b"]


def json_values() -> st.SearchStrategy[Any]:
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=40),
        st.sampled_from(HOSTILE_STRINGS),
    )
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(
                st.text(max_size=12) | st.sampled_from(HOSTILE_STRINGS), inner, max_size=4
            )
        ),
        max_leaves=12,
    )


@dataclass(frozen=True)
class Op:
    method: str
    path: str  # werkzeug rule, e.g. /v1/comments/<comment_id>
    body_model: str | None


def operations(app: Flask) -> list[Op]:
    found = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        op = getattr(view, "__openapi__", None)
        if op is None:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append(Op(method, rule.rule, op.body.__name__ if op.body else None))
    return found


@st.composite
def bodies(draw: st.DrawFn, model: str | None) -> bytes:
    """A hostile body: a valid example with one field made hostile, or any JSON value, then
    maybe corrupted on the byte level."""
    base = dict(REQUEST_EXAMPLES.get(model or "", {}))
    if "id" in base:
        base["id"] = draw(st.sampled_from(["fz-1", "fz-2", "fz-3", f"fz-{uuid.uuid4().hex[:6]}"]))
        base["article_id"] = "fz-article"
    shape = draw(st.integers(0, 4))
    value: Any
    if shape == 0 and base:
        value = base  # valid: exercises the success paths with what follows
    elif shape in (1, 2) and base:
        value = dict(base)
        field = draw(st.sampled_from([*base, "extra", "metadata", "created_at", "text"]))
        if draw(st.booleans()) and field in value:
            del value[field]
        else:
            value[field] = draw(json_values())
    else:
        value = draw(json_values())
    text = json.dumps(value, allow_nan=True, ensure_ascii=draw(st.booleans()))
    raw = text.encode("utf-8", "surrogatepass")  # lone surrogates: invalid UTF-8 bytes
    corruption = draw(st.integers(0, 11))
    if corruption == 1:
        raw = raw[: draw(st.integers(0, max(0, len(raw) - 1)))]
    elif corruption == 2:
        depth = draw(st.sampled_from([33, 400, 1000, 5000]))
        raw = b"[" * depth + raw + b"]" * depth
    elif corruption == 3:
        raw = b"\xef\xbb\xbf" + raw
    elif corruption == 4:
        raw = text.encode(
            draw(st.sampled_from(["utf-16", "utf-16-le", "utf-32", "utf-32-be"])), "surrogatepass"
        )
    elif corruption == 5:
        at = draw(st.integers(0, len(raw)))
        raw = (
            raw[:at]
            + draw(st.sampled_from([b"\xff", b"\xc3", b"\x00", b"\xed\xa0\x80"]))
            + raw[at:]
        )
    elif corruption == 6:
        raw = re.sub(
            rb"\b\d+(\.\d+)?\b",
            draw(st.sampled_from([b"NaN", b"-Infinity", b"1e999"])),
            raw,
            count=1,
        )
    elif corruption == 7 and raw.startswith(b"{") and len(raw) > 2:
        raw = b'{"id": "dup", ' + raw[1:]  # a duplicate key when the body has an id
    elif corruption == 8:
        raw = raw + draw(st.sampled_from([b"garbage", b",", b"}", b"\x00"]))
    elif corruption == 9 and raw.startswith(b"{"):
        raw = b'{"metadata": {"a": ' + b"[" * 40 + b"]" * 40 + b"}, " + raw[1:]
    return raw


@st.composite
def requests(draw: st.DrawFn, ops: list[Op]) -> tuple[Op, str, dict[str, str], bytes]:
    op = draw(st.sampled_from(ops))
    path = op.path
    for name in re.findall(r"<([^>]+)>", op.path):
        ident = draw(
            st.sampled_from(ID_LIKE) | st.sampled_from(HOSTILE_STRINGS) | st.text(max_size=20)
        )
        path = path.replace(f"<{name}>", quote(ident, safe="", errors="surrogatepass") or "x")
    if draw(st.booleans()):
        query = draw(
            st.dictionaries(
                st.sampled_from(["limit", "cursor", "status", "sort", "before", "label", "x"]),
                st.sampled_from(HOSTILE_STRINGS) | st.text(max_size=20),
                max_size=3,
            )
        )
        path += "?" + urlencode(query, errors="surrogatepass")
    headers = {}
    # Mostly a valid key (admin may do everything), so that bodies reach parsing; the rest
    # hostile: wrong or empty keys, wrong schemes, no header.
    if draw(st.integers(0, 9)) < 8:
        headers["Authorization"] = "Bearer " + draw(
            st.sampled_from([ADMIN_KEY, ADMIN_KEY, SITE_KEY, MODERATOR_KEY])
        )
    else:
        key = draw(st.sampled_from(KEYS))
        if key or draw(st.booleans()):
            scheme = draw(st.sampled_from(["Bearer ", "bearer ", "Basic ", ""]))
            headers["Authorization"] = scheme + key
    headers["Content-Type"] = draw(
        st.sampled_from(
            [
                "application/json",
                "application/json",
                "application/json; charset=utf-8",
                "application/json; charset=utf-16",
                "application/problem+json",
                "text/plain",
                "application/x-www-form-urlencoded",
            ]
        )
    )
    return op, path, headers, draw(bodies(op.body_model))


@pytest.fixture
def fuzz_target(redis_url: str) -> Iterator[tuple[Flask, str]]:
    prefix = f"test-hostile-{uuid.uuid4().hex[:8]}:"
    # Limits off (they would answer 429 to most of a fast run); the broker in memory: valid
    # comments are queued, nothing consumes them, nothing outlives the test.
    app = create_app(
        make_settings(
            redis_url, prefix, broker_url="memory://", rate_limit_per_key=0, auth_fail_limit=0
        )
    )
    yield app, prefix
    delete_prefix(redis_url, prefix)


def run_fuzz(app: Flask, prefix: str, count: int) -> Counter[int]:
    client = app.test_client()
    ops = operations(app)
    assert len(ops) >= 30  # every operation of the API, not a sample
    statuses: Counter[int] = Counter()
    server_errors: list[str] = []
    refused_ids: set[str] = set()
    accepted_ids: set[str] = set()

    @given(req=requests(ops))
    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def one(req: tuple[Op, str, dict[str, str], bytes]) -> None:
        op, path, headers, raw = req
        resp = client.open(path, method=op.method, data=raw, headers=headers)
        statuses[resp.status_code] += 1
        readiness = op.path == "/readyz" and resp.status_code == 503  # no worker: by design
        if resp.status_code >= 500 and not readiness:
            server_errors.append(f"{op.method} {path} {raw[:200]!r} -> {resp.status_code}")
        assert resp.status_code < 500 or readiness, server_errors[-1]
        if resp.status_code >= 400 and not readiness:
            assert resp.mimetype == "application/problem+json", (path, resp.status_code)
        if op.method == "POST" and op.path == "/v1/comments":
            try:
                sent = json.loads(raw)
            except (ValueError, RecursionError):
                return
            if isinstance(sent, dict) and isinstance(sent.get("id"), str):
                (accepted_ids if resp.status_code < 300 else refused_ids).add(sent["id"])

    one()
    check_nothing_half_stored(app, prefix, refused_ids - accepted_ids)
    return statuses


def check_nothing_half_stored(app: Flask, prefix: str, refused_ids: set[str]) -> None:
    """Every comment stored is whole (its fields, its article index, pending if pending), and
    no id that was only ever refused is stored."""
    svc = app.extensions["moderation"]
    r: Any = svc.redis
    for cid in refused_ids:
        # An id with a lone surrogate is no UTF-8 key at all; its bytes as such are checked.
        key = svc.keys.comment(cid).encode("utf-8", "surrogatepass")
        assert r.exists(key) == 0, f"refused comment {cid!r} was stored"
    for key in r.scan_iter(match=f"{prefix}comment:*", count=1000):
        if r.type(key) != "hash":
            continue
        stored = r.hgetall(key)
        missing = {"id", "article_id", "author_id", "text", "status", "revision"} - set(stored)
        assert not missing, f"{key} lacks {missing}"
        cid = stored["id"]
        assert r.zscore(svc.keys.article_comments(stored["article_id"]), cid) is not None, key
        if stored["status"] == "pending":
            assert r.zscore(svc.keys.pending(), cid) is not None, key


def test_hostile_bodies_quick(fuzz_target: tuple[Flask, str]) -> None:
    app, prefix = fuzz_target
    statuses = run_fuzz(app, prefix, QUICK_BODIES)
    assert sum(statuses.values()) >= QUICK_BODIES * 0.9


@pytest.mark.reliability
def test_hostile_bodies_100k(fuzz_target: tuple[Flask, str]) -> None:
    app, prefix = fuzz_target
    statuses = run_fuzz(app, prefix, FULL_BODIES)
    total = sum(statuses.values())
    print(f"hostile fuzz: {total} requests, statuses {dict(sorted(statuses.items()))}")
    assert total >= FULL_BODIES * 0.9
    assert not [s for s in statuses if s >= 500 and s != 503]
