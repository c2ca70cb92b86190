"""Windowing of long texts and occlusion spans, with a transparent fake model."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from moderation.classifier.runtime import (
    ExplainConfig,
    FloatArray,
    IntArray,
    WindowedScorer,
    explain_by_occlusion,
)

TOXIC_ID = 7


def fake_scorer(window: int = 512) -> tuple[WindowedScorer, list[int]]:
    """Token id = 7 for the word "idiot", 5 otherwise; the logit is high iff id 7 is seen."""
    widths: list[int] = []

    def encode(texts: list[str]) -> list[list[int]]:
        return [[TOXIC_ID if w == "idiot" else 5 for w in t.split()] for t in texts]

    def forward(ids: IntArray, mask: IntArray) -> FloatArray:
        widths.append(ids.shape[1])
        hit = ((ids == TOXIC_ID) & (mask == 1)).any(axis=1)
        return np.where(hit, 6.0, -6.0)[:, None].astype(np.float32)

    return WindowedScorer(encode, forward, cls_id=1, sep_id=2, pad_id=0, window=window), widths


def test_word_after_token_512_of_a_3000_word_comment_is_read() -> None:
    scorer, widths = fake_scorer()
    words = ["calm"] * 3000
    words[2950] = "idiot"
    long_text = " ".join(words)
    scores = scorer.scores([long_text, "calm words only", "idiot"])
    assert scores[0, 0] > 0.99  # found in a late window
    assert scores[1, 0] < 0.01
    assert scores[2, 0] > 0.99
    assert max(widths) <= 512


def test_windows_overlap_and_cover_every_token() -> None:
    scorer, _ = fake_scorer()
    ids = list(range(10, 10 + 3000))
    windows = scorer.windows(ids)
    assert all(len(w) <= 512 and w[0] == 1 and w[-1] == 2 for w in windows)
    covered = {t for w in windows for t in w[1:-1]}
    assert covered == set(ids)
    # Consecutive windows share `overlap` tokens, so a phrase on a boundary is seen whole.
    assert set(windows[0][1:-1]) & set(windows[1][1:-1])


def test_short_texts_are_one_window_and_batches_are_sorted_by_length() -> None:
    scorer, widths = fake_scorer()
    scorer.batch_size = 2
    texts = ["a " * 40, "b", "c " * 3, "d " * 39]
    scorer.scores(texts)
    # Sorted by length, the two short texts share a batch and the two long ones another.
    assert widths == [5, 42]


ScoreFn = Callable[[list[str]], list[dict[str, float]]]


def count_rows(fn: ScoreFn) -> tuple[ScoreFn, list[int]]:
    calls: list[int] = []

    def score(texts: list[str]) -> list[dict[str, float]]:
        calls.append(len(texts))
        return fn(texts)

    return score, calls


def toxic_if_idiot(texts: list[str]) -> list[dict[str, float]]:
    return [{"toxicity": 0.9 if "idiot" in t.split() else 0.1} for t in texts]


def test_explain_returns_character_span_of_the_driving_word() -> None:
    text = "Honestly, you are an idiot and everyone knows it."
    score, _calls = count_rows(toxic_if_idiot)
    spans = explain_by_occlusion(text, ["toxicity"], score)
    assert [text[s.start : s.end] for s in spans] == ["idiot"]
    assert spans[0].label == "toxicity" and spans[0].weight is not None
    assert spans[0].weight >= 0.7


def test_explain_cost_is_bounded_for_long_texts() -> None:
    words = ["calm"] * 3000
    words[2500] = "idiot"
    text = " ".join(words)
    score, calls = count_rows(toxic_if_idiot)
    spans = explain_by_occlusion(text, ["toxicity"], score, ExplainConfig())
    assert [text[s.start : s.end] for s in spans] == ["idiot"]
    assert spans[0].start == 2500 * 5
    # Segments (3000/120 = 25) + coarse pass (1 + 30 groups) + refinement (<= 12 words).
    assert sum(calls) <= 25 + 31 + 12


def test_explain_nothing_for_clean_text() -> None:
    score, _ = count_rows(toxic_if_idiot)
    assert explain_by_occlusion("what a nice day", ["toxicity"], score) == []
    assert explain_by_occlusion("", ["toxicity"], score) == []
