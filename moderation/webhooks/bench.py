"""`moderation webhooks bench`: deliveries per second to a local receiver, and the latency a
webhook adds from the verdict (its event appended in the verdict's transaction) to the
receiver reading the request. Runs a real io worker process against Redis under a
throw-away key prefix; prints the figures and writes JSON and a latency histogram."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from moderation.config import Settings
from moderation.domain.comment import iso, utcnow
from moderation.domain.events import CommentEvent, EventType
from moderation.domain.verdict import Status
from moderation.services import Services
from moderation.store.events import EventLog
from moderation.store.webhooks import Subscription, WebhookStore
from moderation.webhooks.dispatcher import GROUP
from moderation.webhooks.signing import new_secret


@dataclass
class _Sink:
    arrivals: dict[str, float] = field(default_factory=dict)  # event id -> receipt time
    count: int = 0
    cond: threading.Condition = field(default_factory=threading.Condition)


def _receiver(sink: _Sink) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            now = time.time()
            event_id = json.loads(body)["data"]["event_id"]
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()
            with sink.cond:
                sink.arrivals.setdefault(event_id, now)
                sink.count += 1
                sink.cond.notify_all()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _event(article: str) -> CommentEvent:
    return CommentEvent(
        type=EventType.REJECTED,
        comment_id=f"bench-{uuid.uuid4().hex[:10]}",
        article_id=article,
        author_id="bench",
        revision=1,
        status_before=Status.PENDING,
        status_after=Status.REJECTED,
        decided_by="model",
        at=iso(utcnow()),
    )


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_bench(
    base: Settings,
    *,
    latency_events: int,
    rate: float,
    burst_events: int,
    concurrency: int,
    out: Path | None,
    echo: Any = print,
) -> dict[str, Any]:
    prefix = f"{base.key_prefix}bench-{uuid.uuid4().hex[:8]}:"
    settings = base.model_copy(
        update={
            "key_prefix": prefix,
            "webhook_allow_nets": "127.0.0.1/32",
            "webhook_allow_http": True,
            "webhook_dispatch_block_ms": 1000,
        }
    )
    svc = Services.from_settings(settings)
    events, store = EventLog(svc.redis, svc.keys), WebhookStore(svc.redis, svc.keys)
    sink = _Sink()
    server = _receiver(sink)
    now = iso(utcnow())
    store.create(
        Subscription(
            id="wh_bench",
            url=f"http://127.0.0.1:{server.server_address[1]}/hook",
            events=["comment.rejected"],
            created_at=now,
            updated_at=now,
            created_by="bench",
            secret=new_secret(),
        ),
        actor="bench",
        role="admin",
    )
    env = dict(os.environ)
    env.update(
        MODERATION_REDIS_URL=settings.redis_url,
        MODERATION_KEY_PREFIX=prefix,
        MODERATION_WEBHOOK_ALLOW_NETS="127.0.0.1/32",
        MODERATION_WEBHOOK_ALLOW_HTTP="true",
        MODERATION_LOG_LEVEL="WARNING",
    )
    if settings.broker_url:
        env["MODERATION_BROKER_URL"] = settings.broker_url
    worker = subprocess.Popen(
        [
            *(sys.executable, "-m", "moderation", "worker", "--queues", "io"),
            *("--pool", "threads", "--concurrency", str(concurrency)),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while events.lag(GROUP) is None:  # the dispatcher creates its group when it starts
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the io worker did not start")
            time.sleep(0.1)

        def append(n: int, pace_s: float) -> dict[str, float]:
            sent: dict[str, float] = {}
            for _ in range(n):
                event = _event("bench")
                pipe = svc.redis.pipeline(transaction=True)
                events.append(pipe, event)
                pipe.execute()
                sent[event.event_id] = time.time()
                if pace_s:
                    time.sleep(pace_s)
            return sent

        def wait_all(expected: int, timeout_s: float) -> None:
            with sink.cond:
                sink.cond.wait_for(lambda: sink.count >= expected, timeout_s)

        echo(f"latency: {latency_events} events at {rate:g}/s ...")
        paced = append(latency_events, 1 / rate)
        wait_all(latency_events, 60)
        latencies = [
            (sink.arrivals[eid] - t) * 1000 for eid, t in paced.items() if eid in sink.arrivals
        ]
        echo(f"throughput: burst of {burst_events} events ...")
        start = time.time()
        burst = append(burst_events, 0)
        wait_all(latency_events + burst_events, 300)
        last = max(sink.arrivals[eid] for eid in burst if eid in sink.arrivals)
        delivered = sum(1 for eid in burst if eid in sink.arrivals)
        result: dict[str, Any] = {
            "latency_events": len(latencies),
            "latency_ms": {
                "p50": round(_percentile(latencies, 0.5), 2),
                "p90": round(_percentile(latencies, 0.9), 2),
                "p99": round(_percentile(latencies, 0.99), 2),
                "mean": round(statistics.fmean(latencies), 2),
                "max": round(max(latencies), 2),
            },
            "burst_events": burst_events,
            "burst_delivered": delivered,
            "deliveries_per_s": round(delivered / (last - start), 1),
            "worker_concurrency": concurrency,
            "cpus": os.cpu_count(),
        }
    finally:
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
        server.shutdown()
        for key in svc.redis.scan_iter(match=f"{prefix}*", count=1000):
            svc.redis.delete(key)
    lat = result["latency_ms"]
    echo(
        f"verdict->delivery latency (ms): p50 {lat['p50']}  p90 {lat['p90']}  "
        f"p99 {lat['p99']}  max {lat['max']}  ({result['latency_events']} events)"
    )
    echo(
        f"throughput: {result['deliveries_per_s']} deliveries/s "
        f"({delivered}/{burst_events} delivered, {concurrency} worker threads)"
    )
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "webhooks-bench.json").write_text(json.dumps(result, indent=2) + "\n")
        _histogram(latencies, out / "webhooks-latency.png")
        echo(f"wrote {out / 'webhooks-bench.json'} and {out / 'webhooks-latency.png'}")
    return result


def _histogram(latencies: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(latencies, bins=40)
    ax.set_xlabel("verdict -> receiver latency (ms)")
    ax.set_ylabel("deliveries")
    ax.set_title("Webhook delivery latency")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
