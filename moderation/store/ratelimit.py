"""Fixed-window rate limits kept in Redis, so that every API process counts against the same
budget (a per-process counter would multiply the limit by the number of processes).

A fixed window lets up to twice the limit through across a window boundary; that is fine
for what the limits are for (slowing key guessing, stopping one runaway client) and costs one
round trip (INCR + EXPIRE in a pipeline) per counted request. A request's checks (its
address's failed authentications, its key's requests) are one `Gate`, run in one round trip:
alone (`check`), or inside the script that stores a comment (CommentStore.ingest)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from moderation.store.atomic import GATE_LUA
from moderation.store.keys import Keys


@dataclass(frozen=True)
class Limit:
    count: int  # at most this many events per window; 0: no limit
    window_s: int

    @property
    def enabled(self) -> bool:
        return self.count > 0


@dataclass(frozen=True)
class Gate:
    """What a request must pass before it does anything: its source address has not used up
    its failed authentications (not counted here), and its key has requests left in this
    window (counted). A part is None when it is not checked."""

    failures_key: str | None = None
    failures_limit: int = 0
    failures_retry_s: float = 0.0
    requests_key: str | None = None
    requests_limit: int = 0
    requests_ttl_s: int = 0
    requests_retry_s: float = 0.0

    def args(self) -> list[Any]:
        """The gate's part of GATE_LUA's (and INGEST_LUA's) ARGV."""
        return [
            self.failures_key or "",
            self.failures_limit,
            self.requests_key or "",
            self.requests_limit,
            self.requests_ttl_s,
        ]


class GateClosed(Exception):
    """A gate said no: `which` is "address" (too many failed authentications from it) or
    "key" (the key's requests in this window are used up)."""

    def __init__(self, which: str, retry_after_s: float) -> None:
        super().__init__(which)
        self.which = which
        self.retry_after_s = retry_after_s


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

    def gate(
        self,
        *,
        failures: tuple[str, Limit] | None = None,
        requests: tuple[str, Limit] | None = None,
    ) -> Gate:
        """The checks of (failures bucket, limit) and (requests bucket, limit) as one Gate;
        a disabled limit is left out."""
        parts: dict[str, Any] = {}
        if failures is not None and failures[1].enabled:
            bucket, limit = failures
            window, retry_after = self._window(limit)
            parts.update(
                failures_key=self.keys.rate_limit(bucket, window),
                failures_limit=limit.count,
                failures_retry_s=retry_after,
            )
        if requests is not None and requests[1].enabled:
            bucket, limit = requests
            window, retry_after = self._window(limit)
            parts.update(
                requests_key=self.keys.rate_limit(bucket, window),
                requests_limit=limit.count,
                requests_ttl_s=2 * limit.window_s,
                requests_retry_s=retry_after,
            )
        return Gate(**parts)

    def check(self, gate: Gate) -> None:
        """Run a gate on its own (one round trip); raises GateClosed when it says no."""
        if gate.failures_key is None and gate.requests_key is None:
            return
        raise_if_closed(gate, self._gate_script(args=gate.args()))

    @property
    def _gate_script(self) -> Any:
        script = getattr(self, "_gate", None)
        if script is None:
            script = self._gate = self.r.register_script(GATE_LUA)
        return script

    def exhausted(self, bucket: str, limit: Limit) -> float | None:
        """Whether the bucket has used its budget, without counting: seconds to wait, or None."""
        if not limit.enabled:
            return None
        pipe = self.r.pipeline(transaction=False)
        self.queue_exhausted(pipe, bucket, limit)
        (count,) = pipe.execute()
        return self.exhausted_of(count, limit)

    def queue_exhausted(self, pipe: Any, bucket: str, limit: Limit) -> None:
        """Queue `exhausted`'s read on the caller's pipeline (see `exhausted_of`)."""
        window, _ = self._window(limit)
        pipe.get(self.keys.rate_limit(bucket, window))

    def exhausted_of(self, count: str | None, limit: Limit) -> float | None:
        if not limit.enabled:
            return None
        _, retry_after = self._window(limit)
        return retry_after if count is not None and int(count) >= limit.count else None


def raise_if_closed(gate: Gate, reply: Any) -> None:
    """Turn a gate script's "address" or "key" reply into GateClosed."""
    if reply and reply[0] == "address":
        raise GateClosed("address", gate.failures_retry_s)
    if reply and reply[0] == "key":
        raise GateClosed("key", gate.requests_retry_s)


def retry_after_header(seconds: float) -> str:
    """Whole seconds, at least 1 (RFC 9110: a non-negative integer)."""
    return str(max(1, math.ceil(seconds)))
