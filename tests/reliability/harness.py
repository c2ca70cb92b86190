"""Real processes for the fault tests: a throw-away Redis with AOF on a fixed port (so it
can be killed and restarted), the API under gunicorn, classify workers and beat, a load
generator that behaves like the site (retries a POST on 503 or a dropped connection, with
the same id and body), and the audit that counts what was lost or duplicated."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis
from support import ROOT, SITE_KEY, RedisServer, free_port, make_settings, worker_env

from moderation.config import Settings
from moderation.domain.events import EventType
from moderation.services import Services

MACHINE_VERDICTS = {EventType.APPROVED, EventType.FLAGGED, EventType.REJECTED}
FINAL = {"approved", "flagged", "rejected"}

TEXTS = [
    "The ambassador recall is a sensible diplomatic step, comment {i}.",
    "I disagree with the ministry here, but both sides should talk ({i}).",
    "Israeli and Palestinian families both deserve peace; note {i}.",
    "You are an idiot and everyone hates you {i}",
    "Muslim and Jewish neighbours signed the letter together, {i}.",
    "What a stupid article, the writer is a moron {i}",
]


class AofRedis(RedisServer):
    """redis-server with AOF in its own directory (see RedisServer): kill() and start()
    again keep the data."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)

    def start(self) -> AofRedis:
        super().start()
        return self

    def kill(self) -> None:
        self.stop()


@dataclass
class Stack:
    """One stack's processes, all on loopback, logs under `logs`."""

    settings: Settings
    logs: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    api_port: int = 0

    def env(self) -> dict[str, str]:
        env = worker_env(self.settings)
        env.update(
            MODERATION_CLASSIFY_LEASE_S=str(self.settings.classify_lease_s),
            MODERATION_SWEEP_INTERVAL_S=str(self.settings.sweep_interval_s),
            MODERATION_CLASSIFY_MAX_RETRIES=str(self.settings.classify_max_retries),
            MODERATION_BROKER_TIMEOUT_S=str(self.settings.broker_timeout_s),
            MODERATION_REDIS_TIMEOUT_S=str(self.settings.redis_timeout_s),
            MODERATION_EXPLAIN="false",  # spans are not what these tests are about
            MODERATION_LOG_LEVEL="WARNING",
        )
        env.update(self.extra_env)
        return env

    def spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "moderation", *args],
                env=self.env(),
                stdout=log,
                stderr=log,
                cwd=ROOT,
            )
        self.procs[name] = proc
        return proc

    def start_worker(self, name: str = "worker", timeout_s: float = 120) -> subprocess.Popen[bytes]:
        proc = self.spawn(
            name, ["worker", "--queues", "classify,io", "--pool", "threads", "--concurrency", "8"]
        )
        registry = Services.from_settings(self.settings).workers
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{name} exited early: {(self.logs / f'{name}.log').read_text()[-3000:]}"
                )
            with contextlib.suppress(redis.RedisError):
                if any(w.get("pid") == proc.pid for w in registry.alive(30)):
                    return proc
            time.sleep(0.2)
        raise RuntimeError(f"{name} not ready in {timeout_s}s")

    def start_beat(self) -> None:
        self.spawn("beat", ["beat", "--schedule-file", str(self.logs / "beat-schedule")])

    def start_api(self, workers: int = 2) -> str:
        self.api_port = free_port()
        self.spawn(
            "api", ["serve", "--bind", f"127.0.0.1:{self.api_port}", "--workers", str(workers)]
        )
        base = f"http://127.0.0.1:{self.api_port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    return base
            time.sleep(0.2)
        raise RuntimeError(f"API not up: {(self.logs / 'api.log').read_text()[-3000:]}")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def stack_settings(redis_url: str, prefix: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "classify_lease_s": 4,
        "sweep_interval_s": 2,
        "pending_sweep_after_s": 30,
        # Each kill counts an attempt against the comments its worker held: enough room that
        # repeated kills never dead-letter a healthy comment.
        "classify_max_retries": 20,
    }
    values.update(overrides)
    return make_settings(redis_url, prefix, **values)


@dataclass
class Tally:
    """What the site saw."""

    sent: int = 0
    accepted: set[str] = field(default_factory=set)
    codes: Counter[int] = field(default_factory=Counter)
    dropped: int = 0  # connections reset or refused (then retried)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def server_errors(self) -> int:
        """5xx other than 503: a 503 is the documented "try again", a 500 is a bug."""
        return sum(n for code, n in self.codes.items() if code >= 500 and code != 503)


def post_all(
    base: str, ids: list[str], tally: Tally, *, threads: int = 4, give_up_s: float = 120
) -> None:
    """POST each comment as the site does: retry the same request on 503 or a dropped
    connection until it is accepted (202, or 200 for a repeat)."""
    todo = list(ids)
    lock = threading.Lock()

    def one(client: httpx.Client, cid: str) -> None:
        i = int(cid.rsplit("-", 1)[1])
        body = {
            "id": cid,
            "article_id": "reliability",
            "author_id": f"u-{i % 50}",
            "text": TEXTS[i % len(TEXTS)].format(i=i),
        }
        deadline = time.monotonic() + give_up_s
        with tally.lock:
            tally.sent += 1
        while time.monotonic() < deadline:
            try:
                r = client.post(
                    f"{base}/v1/comments",
                    json=body,
                    headers={"Authorization": f"Bearer {SITE_KEY}"},
                )
            except httpx.TransportError:
                with tally.lock:
                    tally.dropped += 1
                time.sleep(0.2)
                continue
            with tally.lock:
                tally.codes[r.status_code] += 1
            if r.status_code in (200, 202):
                with tally.lock:
                    tally.accepted.add(cid)
                return
            if r.status_code != 503 and r.status_code < 500:
                raise AssertionError(f"{cid}: {r.status_code} {r.text[:300]}")
            time.sleep(0.2)
        raise AssertionError(f"{cid} never accepted")

    def run() -> None:
        with httpx.Client(timeout=10) as client:
            while True:
                with lock:
                    if not todo:
                        return
                    cid = todo.pop(0)
                one(client, cid)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


@dataclass
class Audit:
    stored: int
    final: int
    pending: int
    other: Counter[str]
    lost: int  # accepted but missing
    duplicated: int  # more than one machine verdict event for one revision
    verdict_events: int


def audit(services: Services, ids: list[str]) -> Audit:
    comments = services.comments.get_many(ids)
    statuses = Counter(c.status.value for c in comments if c is not None)
    duplicated = events = 0
    for cid in ids:
        n = sum(1 for e in services.events.for_comment(cid) if e.type in MACHINE_VERDICTS)
        events += n
        duplicated += n > 1
    return Audit(
        stored=sum(c is not None for c in comments),
        final=sum(statuses[s] for s in FINAL),
        pending=statuses["pending"],
        other=Counter({k: v for k, v in statuses.items() if k not in FINAL and k != "pending"}),
        lost=sum(c is None for c in comments),
        duplicated=duplicated,
        verdict_events=events,
    )


def wait_all_final(services: Services, ids: list[str], timeout_s: float) -> float:
    """Seconds until every comment has a final status; fails with the audit otherwise."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        with contextlib.suppress(redis.RedisError):
            comments = services.comments.get_many(ids)
            if all(c is not None and c.status.value in FINAL for c in comments):
                return time.monotonic() - t0
        time.sleep(0.5)
    raise AssertionError(f"not all final in {timeout_s}s: {audit(services, ids)}")


def figures_line(name: str, tally: Tally, result: Audit, extra: str = "") -> str:
    line = (
        f"{name}: sent {tally.sent}, accepted {len(tally.accepted)}, verdicts {result.final}, "
        f"pending {result.pending}, lost {result.lost}, duplicated {result.duplicated}, "
        f"5xx {tally.server_errors}, 503 {tally.codes[503]}, dropped connections {tally.dropped}"
    )
    line += f", {extra}" if extra else ""
    path = os.environ.get("RELIABILITY_FIGURES")
    if path:
        with open(path, "a") as out:
            out.write(line + "\n")
    return line
