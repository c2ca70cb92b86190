"""Micro-batching inside one worker process, by token budget and length, not arrival order.

Each Celery task (one comment, acknowledged on its own once its verdict is stored) runs in a
thread of the `threads` pool and calls `predict`. The calling thread tokenizes its text and
cuts it into model windows (at most 512 tokens each); one model thread scores the windows
of all callers together. Why windows and not texts: one long comment in a batch of short
ones pads every row to its length (measured: batches in arrival order were slower than no
batching at all), and a 20,000-character comment is 10+ windows that must not hold up the
short comments that arrive behind it.

Three lanes, each batched under a token budget (rows x padded width):

- short: windows of at most `short_tokens` tokens (a tweet-length comment is one). Batched
  together, sorted by length, up to `token_budget` padded tokens (and `max_batch` rows).
- long: the windows of long comments, oldest first, at most `long_budget` tokens per pass.
  After every short batch at most one long batch runs, so a short comment waits at most
  one long pass (a few hundred ms at the default 2,048 tokens on one core) plus its own
  batch, however many long comments arrived before it.
- background: explanation rows (occlusion), only when the other two lanes are empty, in
  passes of at most 1,024 tokens: an explanation delays a verdict by at most one such pass
  (tens of ms).

If a batch fails, each of its windows is scored alone, so one poison comment fails only its
own task. A classifier without windows (a test double) is batched by text, with its length
in characters / 4 standing in for tokens.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np
import structlog

from moderation.classifier.base import Classifier
from moderation.classifier.runtime import ExplainConfig, FloatArray, explain_by_occlusion
from moderation.domain.verdict import Span

log = structlog.get_logger(__name__)


class Lane(IntEnum):
    SHORT = 0
    LONG = 1
    BACKGROUND = 2


@dataclass
class _Request:
    """One text: its windows are scored (maybe in different batches), then combined."""

    n_windows: int
    future: Future[dict[str, float]]
    rows: list[FloatArray | dict[str, float] | None] = field(default_factory=list)
    done: int = 0
    failed: bool = False


@dataclass
class _Unit:
    """One row of a forward pass: a model window (token ids) or, without windows, a text."""

    payload: Any
    tokens: int
    request: _Request
    index: int
    enqueued: float


class BatchingClassifier:
    """A Classifier whose `predict` calls, from many threads, share forward passes."""

    def __init__(
        self,
        inner: Classifier,
        max_batch: int = 64,
        max_wait_ms: int = 5,
        *,
        token_budget: int = 4096,
        long_budget: int = 2048,
        short_tokens: int = 128,
    ) -> None:
        self.inner = inner
        self.info = inner.info
        self.labels = inner.labels
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000
        self.token_budget = token_budget
        self.long_budget = long_budget
        self.short_tokens = short_tokens
        # Small background passes: a verdict that arrives meanwhile waits for one of them.
        self.background_budget = min(token_budget, 1024)
        self._scorer = getattr(inner, "scorer", None)
        self._to_scores: Callable[[FloatArray], list[dict[str, float]]] | None = getattr(
            inner, "to_scores", None
        )
        self._windows = self._scorer is not None and self._to_scores is not None
        self._lanes: dict[Lane, deque[_Unit]] = {lane: deque() for lane in Lane}
        self._cond = threading.Condition()
        self._stopping = False
        self._last_long = False
        self.batches = 0
        self.items = 0
        self.rows_by_lane = {lane: 0 for lane in Lane}
        self._thread = threading.Thread(target=self._run, name="model-batcher", daemon=True)
        self._thread.start()

    # -- the Classifier interface --------------------------------------------------------

    def predict(self, texts: Sequence[str]) -> list[dict[str, float]]:
        return self._submit(texts, background=False)

    def explain(self, text: str, labels: Sequence[str]) -> list[Span]:
        """Occlusion spans scored in the background lane: never ahead of a verdict."""
        if not self._windows:
            return self.inner.explain(text, labels)
        cfg: ExplainConfig = getattr(self.inner, "explain_config", ExplainConfig())
        wanted = [lb for lb in labels if lb in self.labels]
        return explain_by_occlusion(text, wanted, lambda t: self._submit(t, background=True), cfg)

    def close(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def busy(self) -> bool:
        """Verdict work is queued for the model."""
        with self._cond:
            return bool(self._lanes[Lane.SHORT] or self._lanes[Lane.LONG])

    def verdict_rows(self) -> int:
        """Rows scored for verdicts so far (not explanations): a measure of traffic."""
        return self.rows_by_lane[Lane.SHORT] + self.rows_by_lane[Lane.LONG]

    def backlog(self) -> dict[str, int]:
        with self._cond:
            return {lane.name.lower(): len(q) for lane, q in self._lanes.items()}

    # -- submitting ----------------------------------------------------------------------

    def _submit(self, texts: Sequence[str], *, background: bool) -> list[dict[str, float]]:
        if not texts:
            return []
        now = time.monotonic()
        requests: list[_Request] = []
        units: list[tuple[Lane, _Unit]] = []
        if self._windows:
            assert self._scorer is not None
            # Tokenizing here, in the caller's thread, keeps it off the model thread.
            for ids in self._scorer.encode(list(texts)):
                windows = self._scorer.windows(ids)
                req = _Request(len(windows), Future(), [None] * len(windows))
                requests.append(req)
                for k, w in enumerate(windows):
                    lane = self._lane_for(len(w), len(windows), background)
                    units.append((lane, _Unit(w, len(w), req, k, now)))
        else:
            for text in texts:
                req = _Request(1, Future(), [None])
                requests.append(req)
                tokens = len(text) // 4 + 2
                units.append(
                    (self._lane_for(tokens, 1, background), _Unit(text, tokens, req, 0, now))
                )
        with self._cond:
            if self._stopping:
                raise RuntimeError("the model batcher is closed")
            for lane, unit in units:
                self._lanes[lane].append(unit)
            self._cond.notify()
        return [req.future.result() for req in requests]

    def _lane_for(self, tokens: int, n_windows: int, background: bool) -> Lane:
        if background:
            return Lane.BACKGROUND
        return Lane.SHORT if n_windows == 1 and tokens <= self.short_tokens else Lane.LONG

    # -- the model thread ----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and not any(self._lanes.values()):
                    self._cond.wait()
                if self._stopping:
                    self._fail_all(RuntimeError("the model batcher is closed"))
                    return
            if self.max_wait_s and not self._lanes[Lane.LONG]:
                # A moment for the comments whose tasks started together to join this batch.
                time.sleep(self.max_wait_s)
            with self._cond:
                lane, batch = self._take()
            if batch:
                self._score(lane, batch)

    def _take(self) -> tuple[Lane, list[_Unit]]:
        """The next batch (caller holds the lock): short windows first, one long batch
        after each short one while both wait, background only when nothing else does."""
        short, long_, background = (self._lanes[lane] for lane in Lane)
        if long_ and (not short or not self._last_long):
            self._last_long = True
            return Lane.LONG, self._fifo(long_, self.long_budget)
        self._last_long = False
        if short:
            return Lane.SHORT, self._by_length(short, self.token_budget)
        return Lane.BACKGROUND, self._by_length(background, self.background_budget)

    def _fifo(self, lane: deque[_Unit], budget: int) -> list[_Unit]:
        batch: list[_Unit] = []
        width = 0
        while lane and len(batch) < self.max_batch:
            w = max(width, lane[0].tokens)
            if batch and w * (len(batch) + 1) > budget:
                break
            width = w
            batch.append(lane.popleft())
        return batch

    def _by_length(self, lane: deque[_Unit], budget: int) -> list[_Unit]:
        """The oldest unit and the ones closest to it in length, within the budget; the
        rest stay queued in arrival order."""
        oldest = lane[0]
        ranked = sorted(lane, key=lambda u: (abs(u.tokens - oldest.tokens), u.enqueued))
        batch: list[_Unit] = []
        width = 0
        for unit in ranked:
            w = max(width, unit.tokens)
            if len(batch) >= self.max_batch or (batch and w * (len(batch) + 1) > budget):
                break
            width = w
            batch.append(unit)
        taken = {id(u) for u in batch}
        kept = [u for u in lane if id(u) not in taken]
        lane.clear()
        lane.extend(kept)
        return batch

    def _forward(self, units: Sequence[_Unit]) -> list[FloatArray | dict[str, float]]:
        if self._windows:
            assert self._scorer is not None
            probs = self._scorer.forward_windows([u.payload for u in units])
            return list(probs)
        return list(self.inner.predict([u.payload for u in units]))

    def _score(self, lane: Lane, batch: list[_Unit]) -> None:
        self.batches += 1
        self.items += len(batch)
        self.rows_by_lane[lane] += len(batch)
        results: list[FloatArray | dict[str, float] | Exception]
        try:
            results = list(self._forward(batch))
        except Exception as exc:
            if len(batch) == 1:
                results = [exc]
            else:
                log.warning("batch.failed_retrying_items", size=len(batch), error=str(exc))
                results = []
                for unit in batch:
                    try:
                        results.append(self._forward([unit])[0])
                    except Exception as one:
                        results.append(one)
        for unit, result in zip(batch, results, strict=True):
            self._deliver(unit, result)

    def _deliver(self, unit: _Unit, result: FloatArray | dict[str, float] | Exception) -> None:
        req = unit.request
        if req.failed:
            return
        if isinstance(result, Exception):
            req.failed = True
            req.future.set_exception(result)
            return
        req.rows[unit.index] = result
        req.done += 1
        if req.done < req.n_windows:
            return
        if isinstance(result, dict):
            req.future.set_result(result)
            return
        assert self._to_scores is not None
        # As WindowedScorer.scores: each output is its maximum over the text's windows.
        rows = np.stack([r for r in req.rows if isinstance(r, np.ndarray)])
        req.future.set_result(self._to_scores(rows.max(axis=0, keepdims=True))[0])

    def _fail_all(self, exc: Exception) -> None:
        for q in self._lanes.values():
            while q:
                unit = q.popleft()
                if not unit.request.failed and not unit.request.future.done():
                    unit.request.failed = True
                    unit.request.future.set_exception(exc)


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
