"""When to try a delivery again: a fixed schedule of delays, each spread by jitter so that
the retries of many deliveries that failed together (a receiver's outage) do not return
together."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence


def retry_delay(
    delays: Sequence[float],
    attempts_made: int,
    jitter: float,
    rand: Callable[[], float] = random.random,
) -> float | None:
    """Seconds to wait before the next attempt after `attempts_made` attempts (the first
    one is immediate, so after attempt n comes delays[n-1]); None when none is left."""
    if attempts_made < 1 or attempts_made > len(delays):
        return None
    base = delays[attempts_made - 1]
    return max(0.0, base * (1 + jitter * (2 * rand() - 1)))


def max_attempts(delays: Sequence[float]) -> int:
    return len(delays) + 1
