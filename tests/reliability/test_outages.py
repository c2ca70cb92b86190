"""Outages under load with real processes: Redis SIGKILLed and restarted (AOF), a gunicorn
worker SIGKILLed, the RabbitMQ broker cut off, and a soak. The site's view: 503 (never 500)
while something is down, and every comment it got a 202 for ends with one verdict."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable

import psutil
import pytest
from harness import AofRedis, Stack, Tally, audit, figures_line, post_all, wait_all_final

from moderation.services import Services

pytestmark = pytest.mark.reliability


def test_redis_restarts_under_load_lose_nothing_and_the_worker_reconnects(
    aof_redis: AofRedis, make_stack: Callable[..., Stack]
) -> None:
    stack = make_stack(aof_redis.url)
    services = Services.from_settings(stack.settings)
    base = stack.start_api()
    stack.start_beat()
    worker = stack.start_worker()
    ids = [f"r-{i}" for i in range(800)]
    tally = Tally()
    poster = threading.Thread(target=post_all, args=(base, ids, tally), kwargs={"give_up_s": 300})
    poster.start()
    for _ in range(5):
        time.sleep(3)
        aof_redis.kill()
        time.sleep(2)
        aof_redis.start()
    poster.join()
    wait_all_final(services, ids, timeout_s=300)
    result = audit(services, ids)
    line = figures_line("Redis SIGKILL+restart x5 (AOF)", tally, result)
    print(line)
    assert worker.poll() is None, "the worker exited instead of reconnecting"
    assert (result.lost, result.pending, result.duplicated) == (0, 0, 0), line
    assert len(tally.accepted) == len(ids)
    assert tally.server_errors == 0, tally.codes
    assert tally.codes[503] > 0  # it was down while comments were posted


def test_gunicorn_worker_kill_loses_nothing(
    aof_redis: AofRedis, make_stack: Callable[..., Stack]
) -> None:
    stack = make_stack(aof_redis.url)
    services = Services.from_settings(stack.settings)
    base = stack.start_api(workers=2)
    stack.start_beat()
    stack.start_worker()
    ids = [f"g-{i}" for i in range(600)]
    tally = Tally()
    poster = threading.Thread(target=post_all, args=(base, ids, tally))
    poster.start()
    master = psutil.Process(stack.procs["api"].pid)
    for _ in range(3):
        time.sleep(2)
        master.children()[0].kill()  # gunicorn's arbiter starts a new one
    poster.join()
    wait_all_final(services, ids, timeout_s=300)
    result = audit(services, ids)
    line = figures_line("gunicorn worker SIGKILL x3", tally, result)
    print(line)
    assert (result.lost, result.pending, result.duplicated) == (0, 0, 0), line
    assert tally.server_errors == 0, tally.codes


class Cuttable:
    """A TCP proxy to RabbitMQ that the test can cut (every connection dropped, new ones
    refused) and restore: a broker outage without touching the machine's RabbitMQ."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port: int = s.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.listener: socket.socket | None = None
        self.lock = threading.Lock()

    def restore(self) -> None:
        lst = socket.socket()
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lst.bind(("127.0.0.1", self.port))
        lst.listen(64)
        self.listener = lst
        threading.Thread(target=self._accept, args=(lst,), daemon=True).start()

    def _accept(self, lst: socket.socket) -> None:
        while True:
            try:
                client, _ = lst.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self.lock:
                if self.listener is not lst:  # cut meanwhile: this one is cut too
                    client.close()
                    server.close()
                    return
                self.conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        with self.lock:
            for s in self.conns:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self.conns = []


def rabbitmq() -> tuple[str, int] | None:
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=1).close()
    except OSError:
        return None
    return ("127.0.0.1", 5672)


def test_rabbitmq_outage_is_503_and_nothing_is_lost(
    aof_redis: AofRedis, make_stack: Callable[..., Stack]
) -> None:
    upstream = rabbitmq()
    if upstream is None:
        pytest.skip("no RabbitMQ at 127.0.0.1:5672 (guest/guest): the separate-broker case")
    proxy = Cuttable(upstream)
    proxy.restore()
    stack = make_stack(
        aof_redis.url,
        broker_url=f"amqp://guest:guest@127.0.0.1:{proxy.port}//",
        pending_sweep_after_s=5,
    )
    services = Services.from_settings(stack.settings)
    base = stack.start_api()
    stack.start_beat()
    worker = stack.start_worker()
    ids = [f"q-{i}" for i in range(400)]
    tally = Tally()
    poster = threading.Thread(target=post_all, args=(base, ids, tally), kwargs={"give_up_s": 300})
    poster.start()
    for _ in range(2):
        time.sleep(3)
        proxy.cut()
        time.sleep(5)
        proxy.restore()
    poster.join()
    wait_all_final(services, ids, timeout_s=300)
    result = audit(services, ids)
    line = figures_line("RabbitMQ cut x2", tally, result)
    print(line)
    proxy.cut()
    assert worker.poll() is None
    assert (result.lost, result.pending, result.duplicated) == (0, 0, 0), line
    assert tally.server_errors == 0, tally.codes


def test_soak(aof_redis: AofRedis, make_stack: Callable[..., Stack]) -> None:
    """Steady load for RELIABILITY_SOAK_S (60 s; 3600 for the long run): nothing lost,
    nothing stuck, no 5xx, and the backlog drains."""
    duration = float(os.environ.get("RELIABILITY_SOAK_S", "60"))
    stack = make_stack(aof_redis.url)
    services = Services.from_settings(stack.settings)
    base = stack.start_api()
    stack.start_beat()
    stack.start_worker()
    tally = Tally()
    ids: list[str] = []
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < duration:
        batch = [f"s-{n + i}" for i in range(40)]
        n += len(batch)
        post_all(base, batch, tally, threads=2)
        ids += batch
        time.sleep(max(0.0, 1.0 - (time.monotonic() - t0) % 1.0))
    wait_all_final(services, ids, timeout_s=300)
    result = audit(services, ids)
    line = figures_line(f"soak {duration:.0f}s", tally, result)
    print(line)
    assert (result.lost, result.pending, result.duplicated, tally.server_errors) == (0, 0, 0, 0)
