"""Leases on the comments classify workers hold: how a dead worker's comments are found
within a bound, whether or not the queue is idle.

A worker leases a comment when it takes the task from the queue (before it runs: a
prefetched task is held too), renews the lease while it holds it, and releases it when the
task ends. A lease that ends without release means the worker died (or lost Redis for
longer than the lease): the sweeper takes it, exactly once, and re-queues the comment."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import redis

from moderation.domain.comment import epoch_ms, utcnow
from moderation.store.keys import Keys


def _now_ms() -> int:
    return epoch_ms(utcnow())


# KEYS[1] the lease set; ARGV now ms, limit. Ended leases are removed as they are read, so
# two sweepers running at once never both re-queue the same comment.
_TAKE_ENDED_LUA = """
local ended = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #ended > 0 then redis.call('ZREM', KEYS[1], unpack(ended)) end
return ended
"""


class ClassifyLeases:
    def __init__(
        self, client: redis.Redis, keys: Keys, clock_ms: Callable[[], int] = _now_ms
    ) -> None:
        self.r: Any = client
        self.keys = keys
        # Milliseconds since the epoch; a test moves it instead of sleeping.
        self.clock_ms = clock_ms
        self._take: Any = None

    @staticmethod
    def member(owner: str, comment_id: str) -> str:
        return f"{owner}|{comment_id}"

    def hold(self, owner: str, comment_ids: Iterable[str], lease_s: float) -> None:
        """Lease (or lease again) these comments to `owner` until now + lease_s."""
        until = self.clock_ms() + int(lease_s * 1000)
        mapping = {self.member(owner, cid): until for cid in comment_ids}
        if mapping:
            self.r.zadd(self.keys.classify_leases(), mapping)

    def renew(self, owner: str, comment_ids: list[str], lease_s: float) -> list[str]:
        """Extend the leases `owner` still has; returns the ids whose lease is gone (released
        by another process of the same worker, or taken by the sweeper after it ended)."""
        if not comment_ids:
            return []
        until = self.clock_ms() + int(lease_s * 1000)
        pipe = self.r.pipeline(transaction=False)
        for cid in comment_ids:
            # XX: never re-create a lease that was released or taken; CH: 1 when it existed.
            pipe.zadd(
                self.keys.classify_leases(), {self.member(owner, cid): until}, xx=True, ch=True
            )
        return [
            cid for cid, changed in zip(comment_ids, pipe.execute(), strict=True) if not changed
        ]

    def release(self, owner: str, comment_id: str) -> None:
        self.r.zrem(self.keys.classify_leases(), self.member(owner, comment_id))

    def take_ended(self, limit: int = 500) -> list[tuple[str, str]]:
        """Remove and return (owner, comment id) of every lease that has ended."""
        if self._take is None:
            self._take = self.r.register_script(_TAKE_ENDED_LUA)
        ended: list[str] = self._take(
            keys=[self.keys.classify_leases()], args=[self.clock_ms(), limit]
        )
        out = []
        for member in ended:
            owner, _, comment_id = member.partition("|")
            out.append((owner, comment_id))
        return out

    def held(self) -> dict[str, float]:
        """Every lease: member -> end (ms). For tests and operators."""
        return {
            m: float(s)
            for m, s in self.r.zrange(self.keys.classify_leases(), 0, -1, withscores=True)
        }
