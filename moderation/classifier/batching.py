"""Micro-batching inside one worker process.

Each Celery task (one comment, acknowledged on its own once its verdict is stored) runs in a
thread of the `threads` pool and calls `predict`. A single model thread gathers what the task
threads submit — up to `max_batch` texts, or whatever arrived within `max_wait_ms` of the
first — and runs one forward pass (the wrapped classifier sorts by length). If the batch
fails, each text is retried alone, so one poison comment fails only its own task. Unlike a
batch task that acknowledges all its messages together, no message is acked before its own
verdict is written, so nothing is lost when a batch goes wrong."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass

import structlog

from moderation.classifier.base import Classifier
from moderation.domain.verdict import Span

log = structlog.get_logger(__name__)


@dataclass
class _Item:
    text: str
    future: Future[dict[str, float]]


class BatchingClassifier:
    """A Classifier whose `predict` calls, from many threads, share forward passes."""

    def __init__(self, inner: Classifier, max_batch: int, max_wait_ms: int) -> None:
        self.inner = inner
        self.info = inner.info
        self.labels = inner.labels
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000
        self._queue: queue.Queue[_Item | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="model-batcher", daemon=True)
        self._thread.start()
        self.batches = 0
        self.items = 0

    def predict(self, texts: Sequence[str]) -> list[dict[str, float]]:
        items = [_Item(t, Future()) for t in texts]
        for item in items:
            self._queue.put(item)
        return [item.future.result() for item in items]

    def explain(self, text: str, labels: Sequence[str]) -> list[Span]:
        return self.inner.explain(text, labels)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _collect(self, first: _Item) -> tuple[list[_Item], bool]:
        batch = [first]
        deadline = time.monotonic() + self.max_wait_s
        while len(batch) < self.max_batch:
            remaining = deadline - time.monotonic()
            try:
                item = (
                    self._queue.get(timeout=remaining)
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, stop = self._collect(first)
            self._score(batch)
            if stop:
                return

    def _score(self, batch: list[_Item]) -> None:
        self.batches += 1
        self.items += len(batch)
        results = predict_isolated(self.inner, [item.text for item in batch])
        for item, result in zip(batch, results, strict=True):
            if isinstance(result, Exception):
                item.future.set_exception(result)
            else:
                item.future.set_result(result)


def predict_isolated(
    classifier: Classifier, texts: Sequence[str]
) -> list[dict[str, float] | Exception]:
    """One forward pass for all texts; if it fails, each text alone, so that one poison
    comment fails only itself."""
    try:
        return list(classifier.predict(texts))
    except Exception as exc:
        if len(texts) == 1:
            return [exc]
        log.warning("batch.failed_retrying_items", size=len(texts), error=str(exc))
    out: list[dict[str, float] | Exception] = []
    for text in texts:
        try:
            out.append(classifier.predict([text])[0])
        except Exception as exc:
            out.append(exc)
    return out
