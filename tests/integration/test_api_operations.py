"""Operator-facing endpoints, the OpenAPI document, and behaviour when Redis or the broker is down."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support import (
    ADMIN_KEY,
    ROOT,
    RedisServer,
    WorkerProcess,
    auth,
    delete_prefix,
    free_port,
    make_settings,
    wait_for,
)

from moderation import create_app
from moderation.config import Settings
from moderation.queue import TaskQueue
from moderation.services import Services
from workers.celery_app import create_celery_app
from workers.tasks import sweep_pending


def test_healthz(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readyz_reports_a_loaded_worker(client: FlaskClient, worker: WorkerProcess) -> None:
    resp = client.get("/readyz", headers=auth(ADMIN_KEY))  # the workers: admin only
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["checks"] == {"redis": "ok", "broker": "ok", "classify_worker": "ok"}
    assert body["workers"][0]["model"]


def test_readyz_is_503_without_workers(redis_url: str) -> None:
    settings = make_settings(redis_url, f"test-noworker-{uuid.uuid4().hex[:8]}:")
    resp = create_app(settings).test_client().get("/readyz")
    assert resp.status_code == 503
    assert resp.get_json()["checks"]["classify_worker"].startswith("failed")


def test_metrics_expose_queue_and_verdict_figures(
    client: FlaskClient, worker: WorkerProcess
) -> None:
    cid = f"metrics-{uuid.uuid4().hex[:8]}"
    body = {"id": cid, "article_id": "a", "author_id": "u", "text": "a remark to time"}
    assert client.post("/v1/comments", json=body, headers=auth()).status_code == 202
    wait_for(
        lambda: client.get(f"/v1/comments/{cid}", headers=auth()).get_json()["status"] != "pending",
        60,
    )
    text = client.get("/metrics").get_data(as_text=True)
    assert "moderation_pending_comments" in text
    assert 'moderation_verdicts{status="approved"}' in text
    assert "moderation_http_requests_total" in text
    count = next(
        ln for ln in text.splitlines() if ln.startswith("moderation_verdict_latency_seconds_count")
    )
    assert float(count.split()[-1]) >= 1
    assert 'moderation_verdict_latency_seconds_bucket{le="+Inf"}' in text


def test_openapi_is_generated_from_the_models(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"] == "3.1.0"
    post = spec["paths"]["/v1/comments"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/CommentIn"
    )
    schema = spec["components"]["schemas"]["CommentIn"]
    assert set(schema["required"]) == {"id", "article_id", "author_id", "text"}
    assert schema["properties"]["text"]["maxLength"] == 20000
    assert "/v1/comments/{comment_id}" in spec["paths"]
    assert "/v1/articles/{article_id}/comments" in spec["paths"]
    assert {"202", "409", "401", "403", "422", "503"} <= set(post["responses"])


def test_docs_reference_lists_operations(client: FlaskClient) -> None:
    page = client.get("/docs/reference").get_data(as_text=True)
    assert "/v1/comments" in page and "CommentIn" in page and "/metrics" in page


def test_docs_page_serves_swagger_ui_from_local_assets(client: FlaskClient) -> None:
    page = client.get("/docs").get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert "/docs/assets/swagger-ui-bundle.js" in assets
    assert not [a for a in assets if "://" in a]  # no CDN
    assert "<script>" not in page  # no inline script
    for asset in assets:
        if asset.startswith("/docs/assets/"):
            with client.get(asset) as resp:
                assert resp.status_code == 200, asset
    assert client.get("/docs/assets/../../config.py").status_code == 404
    assert client.get("/docs/assets/index.html").status_code == 404  # only what the page uses


def test_every_request_body_has_a_valid_example(app: Flask, client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    bodies = {
        op["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]: op[
            "requestBody"
        ]["content"]["application/json"].get("example")
        for methods in spec["paths"].values()
        for op in methods.values()
        if "requestBody" in op
    }
    assert bodies and all(example is not None for example in bodies.values()), bodies
    models = {
        op.body.__name__: op.body
        for view in app.view_functions.values()
        if (op := getattr(view, "__openapi__", None)) is not None and op.body is not None
    }
    for name, example in bodies.items():
        models[name].model_validate(example)  # raises if the README-grade example drifted


def test_503_when_redis_is_stopped(tmp_path: Path) -> None:
    server = RedisServer().start()
    settings = make_settings(server.url, "test-down:")
    client = create_app(settings).test_client()
    body = {"id": "down-1", "article_id": "a", "author_id": "u", "text": "hello"}
    assert client.post("/v1/comments", json=body, headers=auth()).status_code == 202
    server.stop()
    resp = client.post("/v1/comments", json={**body, "id": "down-2"}, headers=auth())
    assert resp.status_code == 503
    assert resp.mimetype == "application/problem+json"
    assert resp.headers["Retry-After"]
    assert client.get("/v1/comments/down-1", headers=auth()).status_code == 503
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200


def test_broker_down_is_503_and_the_sweeper_recovers_the_comment(
    redis_url: str, settings: Settings, worker: WorkerProcess
) -> None:
    dead_broker = f"redis://127.0.0.1:{free_port()}/0"
    broken = make_settings(redis_url, settings.key_prefix, broker_url=dead_broker)
    client = create_app(broken).test_client()
    cid = f"nobroker-{uuid.uuid4().hex[:8]}"
    body = {"id": cid, "article_id": "a", "author_id": "u", "text": "hello again"}
    resp = client.post("/v1/comments", json=body, headers=auth())
    assert resp.status_code == 503
    assert resp.get_json()["type"].endswith(":queue-unavailable")
    # Stored before the enqueue failed: not lost, pending, waiting for the sweeper.
    good = create_app(settings).test_client()
    assert good.get(f"/v1/comments/{cid}", headers=auth()).get_json()["status"] == "pending"
    svc = good.application.extensions["moderation"]
    sweep_settings = make_settings(redis_url, settings.key_prefix, pending_sweep_after_s=1)
    svc.settings = sweep_settings
    queue = TaskQueue(create_celery_app(settings), 1.0)
    time.sleep(1.1)
    wait_for(lambda: queue.classify_backlog() == 0, 60)  # the sweeper waits for an idle queue
    result = sweep_pending(svc, queue)
    assert result["requeued"] >= 1
    done = wait_for(
        lambda: (
            (b := good.get(f"/v1/comments/{cid}", headers=auth()).get_json())["status"] != "pending"
            and b
        ),
        60,
    )
    assert done["verdict"]["scores"]


def test_retry_after_broker_failure_enqueues(
    redis_url: str, settings: Settings, worker: WorkerProcess
) -> None:
    """The site's retry of a 503 must get the comment classified, not just acknowledged."""
    dead = make_settings(
        redis_url, settings.key_prefix, broker_url=f"redis://127.0.0.1:{free_port()}/0"
    )
    cid = f"retry-{uuid.uuid4().hex[:8]}"
    body = {"id": cid, "article_id": "a", "author_id": "u", "text": "a fine comment"}
    assert (
        create_app(dead).test_client().post("/v1/comments", json=body, headers=auth()).status_code
        == 503
    )
    good = create_app(settings).test_client()
    assert good.post("/v1/comments", json=body, headers=auth()).status_code == 202
    wait_for(
        lambda: good.get(f"/v1/comments/{cid}", headers=auth()).get_json()["status"] != "pending",
        60,
    )


def test_retried_edit_after_broker_failure_enqueues(
    redis_url: str, settings: Settings, worker: WorkerProcess
) -> None:
    """An edit answered 503 is stored; the site's retry of the same PUT queues it (202)."""
    good = create_app(settings).test_client()
    cid = f"retry-edit-{uuid.uuid4().hex[:8]}"
    body = {"id": cid, "article_id": "a", "author_id": "u", "text": "a fine comment"}
    assert good.post("/v1/comments", json=body, headers=auth()).status_code == 202
    wait_for(lambda: good.get(f"/v1/comments/{cid}", headers=auth()).get_json()["verdict"], 60)
    dead = make_settings(
        redis_url, settings.key_prefix, broker_url=f"redis://127.0.0.1:{free_port()}/0"
    )
    edit = {"text": "a fine comment, edited"}
    failed = create_app(dead).test_client().put(f"/v1/comments/{cid}", json=edit, headers=auth())
    assert failed.status_code == 503
    retried = good.put(f"/v1/comments/{cid}", json=edit, headers=auth())
    assert retried.status_code == 202 and retried.get_json()["revision"] == 2
    wait_for(
        lambda: (
            (good.get(f"/v1/comments/{cid}", headers=auth()).get_json()["verdict"] or {}).get(
                "revision"
            )
            == 2
        ),
        60,
    )
    again = good.put(f"/v1/comments/{cid}", json=edit, headers=auth())
    assert again.status_code == 200 and again.get_json()["revision"] == 2


def _compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(not _compose_available(), reason="no docker compose client on this machine")
def test_compose_file_is_valid() -> None:
    out = subprocess.run(
        ["docker", "compose", "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr


def test_compose_file_runs_the_documented_stack() -> None:
    """Checked without Docker too: the services and Redis settings the README promises."""
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"redis", "api", "worker-classify", "worker-io", "beat", "flower"} <= set(services)
    redis_cmd = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis_cmd and "noeviction" in redis_cmd
    assert (
        services["worker-classify"]["command"][-5:-3] == ["classify", "--pool"]
        or "classify" in services["worker-classify"]["command"]
    )
    assert "io" in services["worker-io"]["command"]
    # The image runs the ONNX path: no torch (the [torch] extra is not installed), the
    # embedded model's ONNX file built once at build time.
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert not [line for line in dockerfile.splitlines() if "RUN" in line and "torch" in line]
    assert "RUN pip install . " in dockerfile and "load_classifier(Settings())" in dockerfile


def test_a_stopped_worker_leaves_readiness_at_once(redis_url: str, tmp_path: Path) -> None:
    prefix = f"test-leave-{uuid.uuid4().hex[:8]}:"
    settings = make_settings(redis_url, prefix, worker_heartbeat_s=1)
    proc = WorkerProcess(settings, tmp_path / "worker.log").start()
    registry = Services.from_settings(settings).workers
    assert [w["pid"] for w in registry.alive(30)] == [proc.proc.pid]  # type: ignore[union-attr]
    # The model loads before Celery starts; only a running Celery worker handles SIGTERM.
    wait_for(lambda: " ready." in (tmp_path / "worker.log").read_text(), 60)
    proc.stop()
    time.sleep(1.5)  # longer than a heartbeat: a late beat must not re-register it
    assert registry.alive(30) == []
    delete_prefix(redis_url, prefix)
