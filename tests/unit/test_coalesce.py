"""GroupCommit: concurrent calls made as one, results and errors back to their callers."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from moderation.coalesce import GroupCommit


def test_alone_a_call_runs_at_once_with_its_own_items() -> None:
    calls: list[list[int]] = []

    def run(items: Sequence[int]) -> list[int]:
        calls.append(list(items))
        return [i * 10 for i in items]

    grouped = GroupCommit(run)
    assert grouped([1, 2]) == [10, 20]
    assert grouped([3]) == [30]
    assert calls == [[1, 2], [3]]


def test_callers_arriving_during_a_call_share_the_next_one() -> None:
    calls: list[list[int]] = []
    first_running = threading.Event()
    release = threading.Event()

    def run(items: Sequence[int]) -> list[int]:
        calls.append(list(items))
        if len(calls) == 1:
            first_running.set()
            release.wait(5)
        return [-i for i in items]

    grouped = GroupCommit(run)
    with ThreadPoolExecutor(9) as pool:
        first = pool.submit(grouped, [0])
        first_running.wait(5)
        rest = [pool.submit(grouped, [i, i + 100]) for i in range(1, 9)]
        time.sleep(0.2)  # all eight are queued behind the running call
        release.set()
        assert first.result() == [0]
        assert [f.result() for f in rest] == [[-i, -i - 100] for i in range(1, 9)]
    assert len(calls) == 2 and sorted(calls[1]) == sorted(
        [i for i in range(1, 9)] + [i + 100 for i in range(1, 9)]
    )


def test_an_error_reaches_every_caller_it_carried_and_the_next_call_runs() -> None:
    def run(items: Sequence[int]) -> list[int]:
        if 13 in items:
            raise ValueError("unlucky")
        return list(items)

    grouped = GroupCommit(run)
    with pytest.raises(ValueError, match="unlucky"):
        grouped([13])
    assert grouped([1]) == [1]


def test_many_threads_never_deadlock_and_each_gets_its_own_results() -> None:
    grouped = GroupCommit(lambda items: [i + 1 for i in items])
    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(lambda i: grouped([i]), range(2_000)))
    assert results == [[i + 1] for i in range(2_000)]
