"""Webhook deliveries end to end: a real io worker process (its dispatcher thread reads the
comment event stream) delivering to a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from standardwebhooks.webhooks import Webhook
from support import ADMIN_KEY, SITE_KEY, WorkerProcess, auth, delete_prefix, make_settings, wait_for
from test_webhooks_receiver import Answer, Received, Receiver

from moderation import create_app
from moderation.config import Settings
from moderation.domain.comment import iso, utcnow
from moderation.domain.events import CommentEvent, EventType
from moderation.domain.verdict import Status
from moderation.services import Services
from moderation.store.events import EventLog
from moderation.webhooks.delivery import Timeouts, send
from moderation.webhooks.sender import guard_for

pytestmark = pytest.mark.slow

WEBHOOK_SETTINGS: dict[str, Any] = {
    "webhook_allow_nets": "127.0.0.1/32",
    "webhook_allow_http": True,
    "webhook_retry_schedule": "0.3,0.3,0.3,0.3,0.3",  # 6 attempts
    "webhook_retry_jitter": 0.0,
    "webhook_connect_timeout_s": 1.0,
    "webhook_read_timeout_s": 3.0,
    "webhook_disable_after": 2,
    "webhook_lease_s": 6.0,
    "webhook_claim_idle_ms": 1000,
    "webhook_dispatch_block_ms": 100,
}


@pytest.fixture(scope="module")
def wh_settings(redis_url: str, session_prefix: str) -> Iterator[Settings]:
    prefix = f"{session_prefix}wh-{uuid.uuid4().hex[:6]}:"
    yield make_settings(redis_url, prefix, **WEBHOOK_SETTINGS)
    delete_prefix(redis_url, prefix)


@pytest.fixture(scope="module")
def wh_app(wh_settings: Settings) -> Flask:
    return create_app(wh_settings)


@pytest.fixture
def api(wh_app: Flask) -> FlaskClient:
    return wh_app.test_client()


@pytest.fixture(scope="module")
def io_worker(
    wh_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(wh_settings, tmp_path_factory.mktemp("wh-worker") / "worker.log").start()
    yield proc
    proc.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    yield rec
    rec.close()


def subscribe(api: FlaskClient, url: str, events: list[str], **extra: Any) -> dict[str, Any]:
    resp = api.post(
        "/v1/webhooks", json={"url": url, "events": events, **extra}, headers=auth(ADMIN_KEY)
    )
    assert resp.status_code == 201, resp.json
    body: dict[str, Any] = resp.json or {}
    return body


def emit(settings: Settings, type_: EventType = EventType.REJECTED, **over: Any) -> CommentEvent:
    """Append an event as the comment store does, in a MULTI."""
    values: dict[str, Any] = {
        "type": type_,
        "comment_id": f"c-{uuid.uuid4().hex[:8]}",
        "article_id": "a1",
        "author_id": "u1",
        "revision": 1,
        "status_before": Status.PENDING,
        "status_after": Status.REJECTED,
        "decided_by": "model",
        "at": iso(utcnow()),
    }
    values.update(over)
    event = CommentEvent.model_validate(values)
    svc = Services.from_settings(settings)
    pipe = svc.redis.pipeline(transaction=True)
    EventLog(svc.redis, svc.keys).append(pipe, event)
    pipe.execute()
    return event


def deliveries(api: FlaskClient, webhook_id: str) -> list[dict[str, Any]]:
    resp = api.get(f"/v1/webhooks/{webhook_id}/deliveries", headers=auth(ADMIN_KEY))
    assert resp.status_code == 200, resp.json
    items: list[dict[str, Any]] = (resp.json or {})["items"]
    return items


def verify(secret: str, got: Received) -> Any:
    return Webhook(secret).verify(got.body, got.headers)


def test_signed_delivery_verifies_and_is_listed(
    io_worker: WorkerProcess, wh_settings: Settings, api: FlaskClient, receiver: Receiver
) -> None:
    sub = subscribe(api, receiver.url("/signed"), ["comment.rejected"], include_text=False)
    event = emit(wh_settings)
    emit(wh_settings, EventType.APPROVED, status_after=Status.APPROVED)  # not subscribed
    receiver.wait(lambda r: len([x for x in r if x.path == "/signed"]) >= 1)
    [got] = receiver.on("/signed")
    payload = verify(sub["secret"], got)  # also checks the timestamp is within 5 minutes
    assert payload["type"] == "comment.rejected"
    assert payload["data"]["event_id"] == event.event_id
    assert payload["data"]["comment"]["id"] == event.comment_id
    assert abs(int(got.headers["webhook-timestamp"]) - got.at) < 60
    wait_for(lambda: deliveries(api, sub["id"])[0]["status"] == "delivered", 10)
    [d] = deliveries(api, sub["id"])
    assert d["id"] == got.headers["webhook-id"]
    assert d["attempts"][0]["status_code"] == 200
    assert d["attempts"][0]["latency_ms"] > 0


def test_rotated_secret_signs_alongside_the_old_one(
    io_worker: WorkerProcess, wh_settings: Settings, api: FlaskClient, receiver: Receiver
) -> None:
    sub = subscribe(api, receiver.url("/rotate"), ["comment.rejected"])
    rotated = api.post(f"/v1/webhooks/{sub['id']}/rotate-secret", headers=auth(ADMIN_KEY)).json
    assert rotated and rotated["secret"] != sub["secret"] and rotated["previous_secret_expires_at"]
    emit(wh_settings)
    receiver.wait(lambda r: len([x for x in r if x.path == "/rotate"]) >= 1)
    got = receiver.on("/rotate")[0]
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    verify(sub["secret"], got)
    verify(rotated["secret"], got)
    # Grace period over at once: only the newest secret signs.
    again = api.post(
        f"/v1/webhooks/{sub['id']}/rotate-secret?grace_s=0", headers=auth(ADMIN_KEY)
    ).json
    assert again
    emit(wh_settings)
    receiver.wait(lambda r: len([x for x in r if x.path == "/rotate"]) >= 2)
    last = receiver.on("/rotate")[1]
    verify(again["secret"], last)
    with pytest.raises(Exception, match="signature"):
        verify(rotated["secret"], last)


def test_failing_receiver_recovers_and_every_event_arrives_with_its_id(
    io_worker: WorkerProcess, wh_settings: Settings, api: FlaskClient, receiver: Receiver
) -> None:
    def flaky(_: Received, index: int) -> Answer:
        return (500, {}, b"down") if index < 4 else (200, {}, b"ok")

    receiver.responders["/flaky"] = flaky
    sub = subscribe(api, receiver.url("/flaky"), ["*"])
    events = [emit(wh_settings) for _ in range(3)]

    def delivered_ids(received: list[Received]) -> set[str]:
        on_path = [r for r in received if r.path == "/flaky"]
        return {r.headers["webhook-id"] for r in on_path[4:]}

    receiver.wait(lambda r: len(delivered_ids(r)) == 3, 30)
    by_id: dict[str, list[Received]] = {}
    for got in receiver.on("/flaky"):
        by_id.setdefault(got.headers["webhook-id"], []).append(got)
    assert len(by_id) == 3
    seen_events = set()
    for attempts in by_id.values():
        assert len({a.body for a in attempts}) == 1  # the same message, re-signed
        for a in attempts:
            verify(sub["secret"], a)
        seen_events.add(json.loads(attempts[0].body)["data"]["event_id"])
    assert seen_events == {e.event_id for e in events}
    assert sum(len(a) for a in by_id.values()) >= 7  # 4 failures + 3 successes
    wait_for(lambda: all(d["status"] == "delivered" for d in deliveries(api, sub["id"])), 10)
    codes = [a["status_code"] for d in deliveries(api, sub["id"]) for a in d["attempts"]]
    assert codes.count(500) == 4 and codes.count(200) == 3


def test_hanging_receiver_times_out_without_blocking_other_endpoints(
    io_worker: WorkerProcess, wh_settings: Settings, api: FlaskClient, receiver: Receiver
) -> None:
    released = threading.Event()
    receiver.responders["/hang"] = receiver.hang(released)
    hanging = subscribe(api, receiver.url("/hang"), ["comment.flagged"])
    subscribe(api, receiver.url("/fast"), ["comment.flagged"])
    try:
        emit(wh_settings, EventType.FLAGGED, status_after=Status.FLAGGED)
        receiver.wait(lambda r: {"/fast", "/hang"} <= {x.path for x in r}, 15)
        # The fast endpoint got its delivery while the other held a worker thread (for the
        # 3 s read timeout), not after it.
        assert receiver.on("/fast")[0].at - receiver.on("/hang")[0].at < 3.0

        def timed_out() -> bool:
            found = deliveries(api, hanging["id"])
            return bool(found) and any(
                (a["error"] or "").startswith("timeout") for a in found[0]["attempts"]
            )

        wait_for(timed_out, 15)
    finally:
        released.set()


def test_endpoint_disabled_after_consecutive_failed_events(
    io_worker: WorkerProcess, wh_settings: Settings, api: FlaskClient, receiver: Receiver
) -> None:
    receiver.responders["/down"] = lambda _, __: (503, {}, b"down")
    sub = subscribe(api, receiver.url("/down"), ["comment.edited"])
    for _ in range(2):
        emit(wh_settings, EventType.EDITED, status_after=Status.PENDING)

    def state() -> dict[str, Any]:
        found: dict[str, Any] = (
            api.get(f"/v1/webhooks/{sub['id']}", headers=auth(ADMIN_KEY)).json or {}
        )
        return found

    wait_for(lambda: state()["active"] is False, 30)
    assert "2 consecutive events" in state()["disabled_reason"]
    assert all(d["status"] == "dead" for d in deliveries(api, sub["id"]))
    assert all(len(d["attempts"]) == 6 for d in deliveries(api, sub["id"]))
    svc = Services.from_settings(wh_settings)
    from moderation.store.webhooks import WebhookStore

    trail = WebhookStore(svc.redis, svc.keys).audit_trail(sub["id"])
    assert [e.action for e in trail][:1] == ["webhook.disable"]
    assert trail[0].actor == "system" and trail[0].before and trail[0].before["active"] is True
    requests_before = len(receiver.on("/down"))
    emit(wh_settings, EventType.EDITED, status_after=Status.PENDING)
    # Redelivery is refused while disabled; re-enabling resets the failure count.
    dead = deliveries(api, sub["id"])[0]["id"]
    refused = api.post(
        f"/v1/webhooks/{sub['id']}/deliveries/{dead}/redeliver", headers=auth(ADMIN_KEY)
    )
    assert refused.status_code == 409
    back = api.patch(f"/v1/webhooks/{sub['id']}", json={"active": True}, headers=auth(ADMIN_KEY))
    assert back.json and back.json["active"] and back.json["consecutive_failures"] == 0
    assert len(receiver.on("/down")) == requests_before  # nothing sent while disabled


def test_redelivery_of_a_dead_letter_keeps_the_webhook_id(
    io_worker: WorkerProcess, wh_settings: Settings, api: FlaskClient, receiver: Receiver
) -> None:
    healthy = threading.Event()
    receiver.responders["/later"] = lambda _, __: (
        (200, {}, b"ok") if healthy.is_set() else (500, {}, b"no")
    )
    sub = subscribe(api, receiver.url("/later"), ["comment.appealed"])
    emit(wh_settings, EventType.APPEALED, status_after=Status.REJECTED)
    wait_for(lambda: [d["status"] for d in deliveries(api, sub["id"])] == ["dead"], 30)
    [dead] = deliveries(api, sub["id"])
    healthy.set()
    resp = api.post(
        f"/v1/webhooks/{sub['id']}/deliveries/{dead['id']}/redeliver", headers=auth(ADMIN_KEY)
    )
    assert resp.status_code == 202
    wait_for(lambda: deliveries(api, sub["id"])[0]["status"] == "delivered", 15)
    ids = {r.headers["webhook-id"] for r in receiver.on("/later")}
    assert ids == {dead["id"]}
    assert len(deliveries(api, sub["id"])[0]["attempts"]) == 7


def test_ping(io_worker: WorkerProcess, api: FlaskClient, receiver: Receiver) -> None:
    sub = subscribe(api, receiver.url("/ping"), ["comment.approved"])
    resp = api.post(f"/v1/webhooks/{sub['id']}/test", headers=auth(ADMIN_KEY))
    assert resp.status_code == 202
    receiver.wait(lambda r: any(x.path == "/ping" for x in r), 15)
    assert verify(sub["secret"], receiver.on("/ping")[0])["type"] == "webhook.ping"


def test_rule_notify_from_the_rule_files(
    io_worker: WorkerProcess, api: FlaskClient, receiver: Receiver
) -> None:
    """A real comment, classified by the worker: rules/words.yaml's threat-phrases rule
    has `notify: [moderators]`."""
    sub = subscribe(api, receiver.url("/notify"), ["rule.notify"], include_text=True)
    plain = subscribe(api, receiver.url("/plain"), ["rule.notify"], rule_tags=["spam"])
    comment_id = f"c-{uuid.uuid4().hex[:8]}"
    text = "people like him should be shot"
    resp = api.post(
        "/v1/comments",
        json={"id": comment_id, "article_id": "a-notify", "author_id": "u9", "text": text},
        headers=auth(SITE_KEY),
    )
    assert resp.status_code == 202, resp.json
    receiver.wait(lambda r: any(x.path == "/notify" for x in r), 60)
    payload = verify(sub["secret"], receiver.on("/notify")[0])
    assert payload["type"] == "rule.notify"
    assert payload["data"]["comment"]["id"] == comment_id
    assert payload["data"]["comment"]["text"] == text
    assert "moderators" in payload["data"]["notify"]
    assert "threat-phrases" in payload["data"]["rule_ids"]
    assert payload["data"]["event_type"] in ("comment.flagged", "comment.rejected")
    assert deliveries(api, plain["id"]) == []  # its tag filter did not match


def test_redirect_to_a_private_address_is_not_followed(
    receiver: Receiver, wh_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver.responders["/redirect"] = lambda _, __: (
        302,
        {"location": "http://169.254.169.254/latest/meta-data/"},
        b"",
    )
    connected: list[Any] = []
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        connected.append(address)
        if address[0] != "127.0.0.1":
            raise OSError("only the receiver may be reached in this test")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    result = send(guard_for(wh_settings), receiver.url("/redirect"), "{}", {}, Timeouts(1, 1), 1024)
    assert not result.ok and result.status_code == 302
    assert result.error and "redirects are not followed" in result.error
    assert [a for a in connected if a[0] != "127.0.0.1"] == []
    assert len(receiver.on("/redirect")) == 1


def test_worker_killed_mid_delivery_still_delivers(
    redis_url: str,
    session_prefix: str,
    receiver: Receiver,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    prefix = f"{session_prefix}whkill-{uuid.uuid4().hex[:6]}:"
    settings = make_settings(
        redis_url,
        prefix,
        **{**WEBHOOK_SETTINGS, "webhook_read_timeout_s": 5.0, "webhook_lease_s": 6.0},
    )
    app = create_app(settings)
    client = app.test_client()
    log_dir = tmp_path_factory.mktemp("wh-kill")
    hold = threading.Event()

    def first_hangs(_: Received, index: int) -> Answer:
        if index == 0:
            hold.wait(30)
        return 200, {}, b"ok"

    receiver.responders["/kill"] = first_hangs
    first = WorkerProcess(settings, log_dir / "first.log").start()
    second: WorkerProcess | None = None
    try:
        sub = subscribe(client, receiver.url("/kill"), ["comment.rejected"])
        emit(settings)
        receiver.wait(lambda r: any(x.path == "/kill" for x in r), 30)
        assert first.proc is not None
        first.proc.kill()  # SIGKILL while the request is in flight
        first.proc.wait(10)
        hold.set()
        second = WorkerProcess(settings, log_dir / "second.log").start()
        receiver.wait(lambda r: len([x for x in r if x.path == "/kill"]) >= 2, 60)
        ids = {r.headers["webhook-id"] for r in receiver.on("/kill")}
        assert len(ids) == 1
        wait_for(lambda: deliveries(client, sub["id"])[0]["status"] == "delivered", 15)
    finally:
        hold.set()
        if second is not None:
            second.stop()
        first.stop()
        delete_prefix(redis_url, prefix)
