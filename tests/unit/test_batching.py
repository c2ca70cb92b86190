"""The in-process micro-batcher: concurrent predictions share forward passes, and a failing
item fails alone."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np
import pytest

from moderation.classifier.base import ModelInfo
from moderation.classifier.batching import BatchingClassifier
from moderation.classifier.runtime import FloatArray, IntArray, WindowedScorer
from moderation.domain.verdict import Span


class RecordingClassifier:
    """A deterministic classifier: score = text length / 100; 'poison' raises."""

    info = ModelInfo("recording", "1")
    labels: tuple[str, ...] = ("toxicity",)

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def predict(self, texts: Sequence[str]) -> list[dict[str, float]]:
        self.calls.append(list(texts))
        if any("poison" in t for t in texts):
            raise ValueError("cannot score poison")
        return [{"toxicity": len(t) / 100} for t in texts]

    def explain(self, text: str, labels: Sequence[str]) -> list[Span]:
        return []


def run_concurrently(batcher: BatchingClassifier, texts: list[str]) -> dict[str, object]:
    results: dict[str, object] = {}
    barrier = threading.Barrier(len(texts))

    def one(text: str) -> None:
        barrier.wait()
        try:
            results[text] = batcher.predict([text])[0]["toxicity"]
        except Exception as exc:
            results[text] = exc

    threads = [threading.Thread(target=one, args=(t,)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return results


def test_concurrent_calls_share_a_forward_pass() -> None:
    inner = RecordingClassifier()
    batcher = BatchingClassifier(inner, max_batch=8, max_wait_ms=200)
    texts = [f"comment number {i}" + "x" * i for i in range(8)]
    results = run_concurrently(batcher, texts)
    batcher.close()
    assert results == {t: len(t) / 100 for t in texts}
    assert len(inner.calls) < len(texts)  # at least some texts were scored together
    assert max(len(c) for c in inner.calls) > 1


def test_batch_size_is_capped() -> None:
    inner = RecordingClassifier()
    batcher = BatchingClassifier(inner, max_batch=3, max_wait_ms=200)
    run_concurrently(batcher, [f"t{i}" for i in range(7)])
    batcher.close()
    assert all(len(c) <= 3 for c in inner.calls)
    assert sum(len(c) for c in inner.calls) == 7


def test_a_failing_item_fails_alone() -> None:
    inner = RecordingClassifier()
    batcher = BatchingClassifier(inner, max_batch=8, max_wait_ms=300)
    texts = ["fine one", "poison pill", "fine two", "fine three"]
    results = run_concurrently(batcher, texts)
    batcher.close()
    assert isinstance(results["poison pill"], ValueError)
    assert results["fine one"] == pytest.approx(0.08)
    assert results["fine two"] == pytest.approx(0.08)
    assert results["fine three"] == pytest.approx(0.10)


class WindowedClassifier:
    """A classifier with model windows, as the real backends have: one token per character,
    and each output is the mean token id of the row, so scores depend on every window."""

    info = ModelInfo("windowed", "1")
    labels: tuple[str, ...] = ("toxicity",)

    def __init__(self, window: int, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.passes: list[list[int]] = []  # the window lengths of each forward pass
        self.scorer = WindowedScorer(
            encode=lambda texts: [[ord(ch) % 50 + 3 for ch in t] for t in texts],
            forward=self._forward,
            cls_id=1,
            sep_id=2,
            pad_id=0,
            window=window,
            overlap=2,
            batch_size=64,
        )

    def _forward(self, ids: IntArray, mask: IntArray) -> FloatArray:
        self.passes.append([int(m.sum()) for m in mask])
        time.sleep(self.delay_s)
        mean = (ids * mask).sum(axis=1) / mask.sum(axis=1)
        return np.asarray((mean - 25) / 10, dtype=np.float32)[:, None]

    def to_scores(self, probs: FloatArray) -> list[dict[str, float]]:
        return [{"toxicity": float(row[0])} for row in probs]

    def predict(self, texts: Sequence[str]) -> list[dict[str, float]]:
        return self.to_scores(self.scorer.scores(texts))

    def explain(self, text: str, labels: Sequence[str]) -> list[Span]:
        return []


def test_windows_of_many_texts_score_as_the_model_alone() -> None:
    inner = WindowedClassifier(window=16)
    batcher = BatchingClassifier(inner, max_batch=8, max_wait_ms=50, short_tokens=10)
    texts = ["short", "a bit longer text", "x" * 50, "tiny", "another long one " * 4]
    results = run_concurrently(batcher, texts)
    batcher.close()
    expected = inner.predict(texts)
    for text, exp in zip(texts, expected, strict=True):
        assert results[text] == pytest.approx(exp["toxicity"], abs=1e-6)
    # Padded tokens per pass stay within the budgets.
    assert all(max(p) * len(p) <= 4096 for p in inner.passes)


def test_a_short_comment_waits_at_most_one_long_pass() -> None:
    inner = WindowedClassifier(window=32, delay_s=0.05)
    batcher = BatchingClassifier(inner, max_batch=8, max_wait_ms=0, short_tokens=12, long_budget=32)
    long_text = "a long comment that goes on " * 12  # about 12 windows of 32 tokens
    done: dict[str, float] = {}

    def post(text: str) -> None:
        batcher.predict([text])
        done[text] = time.monotonic()

    first = threading.Thread(target=post, args=(long_text,))
    first.start()
    time.sleep(0.02)  # the first long pass is running
    post("you idiot")
    first.join(10)
    batcher.close()
    widths = [max(p) for p in inner.passes]
    short_pass = widths.index(next(w for w in widths if w <= 12))
    assert short_pass <= 2, widths  # the pass under way and at most one more long pass
    assert done["you idiot"] < done[long_text]


def test_background_rows_wait_for_verdicts() -> None:
    inner = WindowedClassifier(window=32, delay_s=0.03)
    batcher = BatchingClassifier(inner, max_batch=4, max_wait_ms=0, short_tokens=12)
    order: list[str] = []

    def background() -> None:
        batcher._submit([f"explain row {i}" for i in range(12)], background=True)
        order.append("background")

    def verdict() -> None:
        batcher.predict(["ok"])
        order.append("verdict")

    bg = threading.Thread(target=background)
    bg.start()
    time.sleep(0.01)  # one background pass (4 rows) under way, 8 rows queued
    verdict()
    bg.join(10)
    batcher.close()
    assert order == ["verdict", "background"]
