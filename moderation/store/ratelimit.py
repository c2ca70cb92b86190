"""Fixed-window rate limits kept in Redis, so that every API process counts against the same
budget (a per-process counter would multiply the limit by the number of processes).

A fixed window lets up to twice the limit through across a window boundary; that is fine
for what the limits are for (slowing key guessing, stopping one runaway client) and costs one
round trip (INCR + EXPIRE in a pipeline) per counted request."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from moderation.store.keys import Keys


@dataclass(frozen=True)
class Limit:
    count: int  # at most this many events per window; 0: no limit
    window_s: int

    @property
    def enabled(self) -> bool:
        return self.count > 0


class RateLimiter:
    def __init__(
        self, client: redis.Redis, keys: Keys, clock: Callable[[], float] = time.time
    ) -> None:
        self.r: Any = client
        self.keys = keys
        self.clock = clock  # injected by tests: no sleeping to cross a window

    def _window(self, limit: Limit) -> tuple[int, float]:
        now = self.clock()
        window = int(now // limit.window_s)
        retry_after = (window + 1) * limit.window_s - now
        return window, retry_after

    def hit(self, bucket: str, limit: Limit) -> float | None:
        """Count one event. Over the limit: the seconds until the window ends (Retry-After);
        else None."""
        if not limit.enabled:
            return None
        window, retry_after = self._window(limit)
        key = self.keys.rate_limit(bucket, window)
        pipe = self.r.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, 2 * limit.window_s)
        count, _ = pipe.execute()
        return retry_after if int(count) > limit.count else None

    def exhausted(self, bucket: str, limit: Limit) -> float | None:
        """Whether the bucket has used its budget, without counting: seconds to wait, or None."""
        if not limit.enabled:
            return None
        window, retry_after = self._window(limit)
        count = self.r.get(self.keys.rate_limit(bucket, window))
        return retry_after if count is not None and int(count) >= limit.count else None


def retry_after_header(seconds: float) -> str:
    """Whole seconds, at least 1 (RFC 9110: a non-negative integer)."""
    return str(max(1, math.ceil(seconds)))
