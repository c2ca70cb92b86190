"""The in-process micro-batcher: concurrent predictions share forward passes, and a failing
item fails alone."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from moderation.classifier.base import ModelInfo
from moderation.classifier.batching import BatchingClassifier
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
