"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from moderation.api.auth import optional_admin, services
from moderation.api.framework import operation
from moderation.api.schemas import Health, Readiness
from moderation.domain.verdict import Status
from moderation.services import Services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@operation(
    "Liveness: the API process answers", roles=(), responses={200: Health}, tags=("operations",)
)
def healthz() -> Any:
    return Health(status="ok")


def _check(fn: Any) -> str:
    try:
        fn()
        return "ok"
    except Exception as exc:
        return f"failed: {type(exc).__name__}: {exc}"[:200]


@bp.get("/readyz")
@operation(
    "Readiness: Redis and broker reachable, at least one classify worker with its model loaded",
    description="Anyone gets the status code and each check as ok / failed / unknown; an admin "
    "key (Authorization: Bearer) also gets the errors and the live workers.",
    roles=(),
    responses={200: Readiness, 503: Readiness},
    tags=("operations",),
)
def readyz() -> Any:
    svc = services()
    celery_app = current_app.extensions["moderation.celery"]
    checks = {
        "redis": _check(svc.redis.ping),
        "broker": _check(
            lambda: celery_app.connection_for_write().ensure_connection(
                max_retries=1, timeout=svc.settings.broker_timeout_s
            )
        ),
    }
    workers: list[dict[str, Any]] = []
    if checks["redis"] == "ok":
        workers = svc.workers.alive(within_s=3 * svc.settings.worker_heartbeat_s)
        checks["classify_worker"] = (
            "ok" if workers else "failed: no classify worker with a loaded model"
        )
    else:
        checks["classify_worker"] = "unknown"
    ok = all(v == "ok" for v in checks.values())
    if not (svc.settings.readiness_details_public or optional_admin()):
        # Error texts name hosts and ports, worker entries hosts, pids and versions: what an
        # attacker maps a deployment with. A probe needs only the status code.
        checks = {name: value.split(":", 1)[0] for name, value in checks.items()}
        workers = []
    return Readiness(
        status="ok" if ok else "unavailable", checks=checks, workers=workers
    ), 200 if ok else 503


class StoreCollector(Collector):
    """Queue depth and verdict totals read from Redis at scrape time, so every API process
    reports the same numbers whatever process did the work."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc

    def collect(self) -> Iterator[GaugeMetricFamily | HistogramMetricFamily]:
        try:
            r, keys = self.svc.redis, self.svc.keys
            pending = r.zcard(keys.pending())
            dead = r.zcard(keys.dead_letter())
            counts = r.hgetall(keys.verdict_counts())
            alive = len(self.svc.workers.alive(3 * self.svc.settings.worker_heartbeat_s))
            latency_buckets, latency_sum = self.svc.comments.verdict_latency()
        except Exception:
            return
        yield GaugeMetricFamily(
            "moderation_pending_comments", "Comments waiting for a verdict", value=pending
        )
        yield GaugeMetricFamily(
            "moderation_dead_letter_comments", "Comments that failed classification", value=dead
        )
        yield GaugeMetricFamily(
            "moderation_classify_workers", "Classify workers with a loaded model", value=alive
        )
        verdicts = GaugeMetricFamily(
            "moderation_verdicts",
            "Machine verdicts written, by status (monotonic)",
            labels=["status"],
        )
        for status in Status:
            verdicts.add_metric([status.value], float(counts.get(status.value, 0)))
        yield verdicts
        latency = HistogramMetricFamily(
            "moderation_verdict_latency_seconds",
            "Seconds from a comment's submission (or edit) to its machine verdict",
        )
        latency.add_metric([], [(b, float(c)) for b, c in latency_buckets], latency_sum)
        yield latency


def install_metrics(app: Flask, svc: Services) -> None:
    registry = CollectorRegistry()
    requests_total = Counter(
        "moderation_http_requests",
        "HTTP requests",
        ["method", "endpoint", "status"],
        registry=registry,
    )
    latency = Histogram(
        "moderation_http_request_seconds", "HTTP request latency", ["endpoint"], registry=registry
    )
    registry.register(StoreCollector(svc))
    app.extensions["moderation.metrics"] = registry

    @app.before_request
    def _start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _observe(resp: Response) -> Response:
        endpoint = request.endpoint or "unknown"
        requests_total.labels(request.method, endpoint, str(resp.status_code)).inc()
        if "started" in g:
            latency.labels(endpoint).observe(time.perf_counter() - g.started)
        return resp


@bp.get("/metrics")
def metrics() -> Response:
    registry: CollectorRegistry = current_app.extensions["moderation.metrics"]
    return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4")
