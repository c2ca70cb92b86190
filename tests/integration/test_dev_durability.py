"""`make run`'s embedded Redis keeps its data across a restart (AOF in var/redis), and even
across a crash of the server: what was acknowledged before a SIGKILL is there after."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import redis
from support import free_port, wait_for

from moderation.devstack import start_embedded_redis


def start(data_dir: Path) -> tuple[Any, redis.Redis]:
    server, url = start_embedded_redis(free_port(), data_dir)
    return server, redis.Redis.from_url(url, socket_connect_timeout=2, decode_responses=True)


def test_embedded_redis_keeps_acknowledged_writes_across_a_kill(tmp_path: Path) -> None:
    server, client = start(tmp_path)
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    client.set("mod:comment:c-1", "stored")
    # appendfsync everysec: a write is on disk within about a second. Wait for it, then
    # crash the server (no shutdown, no snapshot): only the AOF can bring it back.
    aof = tmp_path / "appendonly.aof"
    wait_for(lambda: aof.exists() and b"c-1" in aof.read_bytes(), timeout_s=5)
    os.kill(int(server.pid), signal.SIGKILL)
    client.close()
    again, client = start(tmp_path)
    try:
        assert client.get("mod:comment:c-1") == "stored"
    finally:
        client.close()
        again.shutdown()
