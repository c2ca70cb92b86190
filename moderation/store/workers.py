"""Heartbeats of classify workers that have their model loaded (what /readyz asks about)."""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from moderation.store.keys import Keys


class WorkerRegistry:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        # redis-py's return types are unions over its decode modes; this client always
        # decodes to str, so the repositories convert values explicitly instead.
        self.r: Any = client
        self.keys = keys

    def beat(self, worker_id: str, info: dict[str, Any], ttl_s: int) -> None:
        pipe = self.r.pipeline()
        pipe.zadd(self.keys.workers(), {worker_id: time.time()})
        pipe.set(self.keys.worker_info(worker_id), json.dumps(info), ex=ttl_s)
        pipe.execute()

    def leave(self, worker_id: str) -> None:
        pipe = self.r.pipeline()
        pipe.zrem(self.keys.workers(), worker_id)
        pipe.delete(self.keys.worker_info(worker_id))
        pipe.execute()

    def alive(self, within_s: float) -> list[dict[str, Any]]:
        cutoff = time.time() - within_s
        self.r.zremrangebyscore(self.keys.workers(), "-inf", cutoff)
        ids = self.r.zrangebyscore(self.keys.workers(), cutoff, "+inf")
        out = []
        for wid in ids:
            raw = self.r.get(self.keys.worker_info(wid))
            if raw:
                out.append({"id": wid, **json.loads(raw)})
        return out
