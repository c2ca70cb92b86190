"""Group commit: calls that many threads make at about the same time, made as one.

The classify tasks of a worker process run in threads, and the micro-batcher hands a whole
batch of them their scores at once; each then reads its rule context and writes its verdict.
Made one by one, that is a round trip to Redis per comment and step. Here the first caller
runs at once (no added wait when alone) with whatever is queued, and the callers that
arrive while it runs are queued for the next call, made by one of them: under load each
call carries the whole batch, idle it costs nothing."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Call(Generic[T, R]):
    items: Sequence[T]
    done: threading.Event = field(default_factory=threading.Event)
    results: list[R] | None = None
    error: BaseException | None = None
    lead: bool = False  # woken to make the next call, not with its results

    def outcome(self) -> list[R]:
        if self.error is not None:
            raise self.error
        assert self.results is not None
        return self.results


class GroupCommit(Generic[T, R]):
    """`run(items) -> one result per item`, shared by the threads that call at once. An
    exception from `run` is raised in every caller whose items it carried."""

    def __init__(self, run: Callable[[Sequence[T]], list[R]]) -> None:
        self._run = run
        self._lock = threading.Lock()
        self._queue: list[_Call[T, R]] = []
        self._running = False

    def __call__(self, items: Sequence[T]) -> list[R]:
        call: _Call[T, R] = _Call(items)
        with self._lock:
            self._queue.append(call)
            lead = not self._running
            self._running = True
        if not lead:
            call.done.wait()
            lead = call.lead
        if lead:
            self._lead()
        return call.outcome()

    def _lead(self) -> None:
        with self._lock:
            batch, self._queue = self._queue, []
        try:
            results = self._run([item for call in batch for item in call.items])
            if len(results) != sum(len(call.items) for call in batch):
                raise RuntimeError("a grouped call returned the wrong number of results")
            start = 0
            for call in batch:
                call.results = results[start : start + len(call.items)]
                start += len(call.items)
        except BaseException as exc:
            for call in batch:
                call.error = exc
        with self._lock:
            # Hand over to the oldest waiter, if any, so that nobody waits for a leader.
            if self._queue:
                self._queue[0].lead = True
                self._queue[0].done.set()
            else:
                self._running = False
        for call in batch:
            call.done.set()
