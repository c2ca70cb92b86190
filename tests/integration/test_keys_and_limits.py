"""API keys as an operator manages them (create with expiry, list, revoke: audited), and the
abuse limits every API process shares through Redis: per key and per failed-auth address,
answered 429 problem+json with Retry-After. Clocks are injected, nothing sleeps."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from support import ADMIN_KEY, SITE_KEY, auth, delete_prefix, make_settings

from moderation import create_app
from moderation.cli import main
from moderation.services import Services


class Clock:
    def __init__(self) -> None:
        # In the past (the CLI lists with the real clock) and the start of a window of 10 s
        # and of 60 s.
        self.now = 1_700_000_040.0

    def __call__(self) -> float:
        return self.now

    def utc(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    prefix = f"test-keys-{uuid.uuid4().hex[:8]}:"
    yield prefix
    delete_prefix(redis_url, prefix)


def make_app(redis_url: str, prefix: str, clock: Clock, **overrides: Any) -> Flask:
    """One API process: its own Services, sharing only Redis with the others."""
    app = create_app(make_settings(redis_url, prefix, **overrides))
    svc: Services = app.extensions["moderation"]
    svc.limiter.clock = clock
    svc.api_keys.clock = clock.utc
    return app


def cli(redis_url: str, prefix: str, *args: str) -> Any:
    env = {"MODERATION_REDIS_URL": redis_url, "MODERATION_KEY_PREFIX": prefix}
    return CliRunner().invoke(main, ["keys", *args], env=env)


def listed(redis_url: str, prefix: str) -> dict[str, dict[str, Any]]:
    result = cli(redis_url, prefix, "list", "--all", "--json")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    return {row["id"]: row for row in rows}


def assert_429(resp: Any) -> dict[str, Any]:
    assert resp.status_code == 429, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    assert int(resp.headers["Retry-After"]) >= 1
    body: dict[str, Any] = resp.get_json()
    assert body["type"] == "urn:moderation:problem:too-many-requests"
    return body


def test_revoked_key_is_refused_everywhere_and_audited(redis_url: str, prefix: str) -> None:
    clock = Clock()
    apps = [make_app(redis_url, prefix, clock) for _ in range(2)]
    created = cli(redis_url, prefix, "create", "--role", "site", "--name", "the site")
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip()
    key_id = next(iter(listed(redis_url, prefix)))
    for app in apps:
        assert app.test_client().get("/v1/comments/x-1", headers=auth(secret)).status_code == 404

    revoked = cli(redis_url, prefix, "revoke", key_id, "--reason", "leaked in a log")
    assert revoked.exit_code == 0, revoked.output
    for app in apps:
        resp = app.test_client().get("/v1/comments/x-1", headers=auth(secret))
        assert resp.status_code == 401
        assert "revoked" in resp.get_json()["detail"]
    assert cli(redis_url, prefix, "revoke", key_id).exit_code == 0  # again: harmless

    row = listed(redis_url, prefix)[key_id]
    assert row["state"] == "revoked" and row["revoked_at"]
    audit = apps[0].extensions["moderation"].audit.about("key", key_id)
    assert [e.action for e in audit] == ["key.revoke", "key.create"]  # one revoke entry
    assert audit[0].reason == "leaked in a log" and audit[0].actor == "cli"


def test_revoke_names_what_is_wrong(redis_url: str, prefix: str) -> None:
    unknown = cli(redis_url, prefix, "revoke", "abcdef123456")
    assert unknown.exit_code != 0 and "no stored key" in unknown.output
    short = cli(redis_url, prefix, "revoke", "ab")
    assert short.exit_code != 0 and "at least 6" in short.output


def test_key_expires_at_its_time(redis_url: str, prefix: str) -> None:
    clock = Clock()
    app = make_app(redis_url, prefix, clock)
    svc: Services = app.extensions["moderation"]
    secret, key = svc.api_keys.create("site", "temp", expires_at=clock.utc() + timedelta(hours=1))
    client = app.test_client()
    assert client.get("/v1/comments/x-1", headers=auth(secret)).status_code == 404
    clock.now += 3600
    assert client.get("/v1/comments/x-1", headers=auth(secret)).status_code == 401
    assert listed(redis_url, prefix)[key.key_id]["state"] == "expired"


def test_create_with_expiry_and_a_bad_duration(redis_url: str, prefix: str) -> None:
    made = cli(redis_url, prefix, "create", "--role", "moderator", "--expires-in", "30d")
    assert made.exit_code == 0, made.output
    (row,) = listed(redis_url, prefix).values()
    expires = datetime.fromisoformat(row["expires_at"])
    assert timedelta(days=29) < expires - datetime.now(UTC) <= timedelta(days=30)
    bad = cli(redis_url, prefix, "create", "--role", "site", "--expires-in", "soon")
    assert bad.exit_code != 0 and "--expires-in" in bad.output


def test_last_used_is_recorded_at_most_once_a_minute(redis_url: str, prefix: str) -> None:
    clock = Clock()
    app = make_app(redis_url, prefix, clock)
    svc: Services = app.extensions["moderation"]
    secret, key = svc.api_keys.create("site", "used")
    assert listed(redis_url, prefix)[key.key_id]["last_used_at"] is None
    client = app.test_client()
    client.get("/v1/comments/x-1", headers=auth(secret))
    first = listed(redis_url, prefix)[key.key_id]["last_used_at"]
    assert datetime.fromisoformat(first) == clock.utc()
    clock.now += 30
    client.get("/v1/comments/x-1", headers=auth(secret))
    assert listed(redis_url, prefix)[key.key_id]["last_used_at"] == first
    clock.now += 31
    client.get("/v1/comments/x-1", headers=auth(secret))
    assert listed(redis_url, prefix)[key.key_id]["last_used_at"] != first


def test_list_shows_bootstrap_keys_and_never_secrets(redis_url: str, prefix: str) -> None:
    env = {
        "MODERATION_REDIS_URL": redis_url,
        "MODERATION_KEY_PREFIX": prefix,
        "MODERATION_BOOTSTRAP_KEYS": f"site:{SITE_KEY}",
    }
    result = CliRunner().invoke(main, ["keys", "list"], env=env)
    assert result.exit_code == 0, result.output
    assert "env" in result.output and SITE_KEY not in result.output
    refused = CliRunner().invoke(
        main,
        [
            "keys",
            "revoke",
            next(
                iter(
                    Services.from_settings(
                        make_settings(redis_url, prefix, bootstrap_keys=f"site:{SITE_KEY}")
                    ).bootstrap_keys
                )
            )[:12],
        ],
        env=env,
    )
    assert refused.exit_code != 0 and "MODERATION_BOOTSTRAP_KEYS" in refused.output


def test_failed_auth_is_throttled_per_address_across_processes(redis_url: str, prefix: str) -> None:
    clock = Clock()
    one, two = (
        make_app(redis_url, prefix, clock, auth_fail_limit=3, auth_fail_window_s=60).test_client()
        for _ in range(2)
    )
    for client in (one, two, one):
        assert client.get("/v1/audit", headers=auth("wrong-key-00000")).status_code == 401
    # The budget is spent: even the right key from this address waits for the window.
    body = assert_429(two.get("/v1/audit", headers=auth(ADMIN_KEY)))
    assert "failed authentications" in body["detail"]
    assert int(two.get("/v1/audit", headers=auth(ADMIN_KEY)).headers["Retry-After"]) == 60
    # Another address is not affected.
    other = two.get("/v1/audit", headers=auth(ADMIN_KEY), environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert other.status_code == 200
    clock.now += 60
    assert one.get("/v1/audit", headers=auth(ADMIN_KEY)).status_code == 200


def test_requests_without_a_key_do_not_spend_the_failure_budget(
    redis_url: str, prefix: str
) -> None:
    client = make_app(redis_url, prefix, Clock(), auth_fail_limit=2).test_client()
    for _ in range(5):
        assert client.get("/v1/audit").status_code == 401
    assert client.get("/v1/audit", headers=auth(ADMIN_KEY)).status_code == 200


def test_per_key_rate_limit_is_shared_and_per_key(redis_url: str, prefix: str) -> None:
    clock = Clock()
    one, two = (
        make_app(
            redis_url, prefix, clock, rate_limit_per_key=4, rate_limit_window_s=10
        ).test_client()
        for _ in range(2)
    )
    for client in (one, two, one, two):
        assert client.get("/v1/audit", headers=auth(ADMIN_KEY)).status_code == 200
    clock.now += 4
    body = assert_429(one.get("/v1/audit", headers=auth(ADMIN_KEY)))
    assert "4 requests in 10 s" in body["detail"]
    assert one.get("/v1/audit", headers=auth(ADMIN_KEY)).headers["Retry-After"] == "6"
    # Another key has its own budget.
    assert two.get("/v1/comments/x-1", headers=auth(SITE_KEY)).status_code == 404
    clock.now += 6
    assert two.get("/v1/audit", headers=auth(ADMIN_KEY)).status_code == 200


def test_limits_of_zero_are_off(redis_url: str, prefix: str) -> None:
    client = make_app(
        redis_url, prefix, Clock(), rate_limit_per_key=0, auth_fail_limit=0
    ).test_client()
    for _ in range(30):
        assert client.get("/v1/audit", headers=auth("wrong-key-00000")).status_code == 401
    assert client.get("/v1/audit", headers=auth(ADMIN_KEY)).status_code == 200
