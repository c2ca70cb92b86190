"""Runtime-independent inference: token windows, length-sorted batches, occlusion spans.

Both backends (torch via Detoxify, ONNX Runtime) supply an `encode` (texts -> token ids
without special tokens) and a `forward` (ids, mask -> logits); everything else is here, so
the two paths score identically up to numerics.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from moderation.domain.verdict import Span

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]
Encode = Callable[[list[str]], list[list[int]]]
Forward = Callable[[IntArray, IntArray], FloatArray]

_WORD = re.compile(r"\w+(?:['’*$@]\w+)*", re.UNICODE)


def sigmoid(x: FloatArray) -> FloatArray:
    return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)


@dataclass
class WindowedScorer:
    """Scores texts of any length.

    A text longer than one window is cut into overlapping token windows and each label
    takes its maximum over the windows, so words after token 512 are read. Windows from all
    texts are sorted by length and batched, so padding is small.
    """

    encode: Encode
    forward: Forward
    cls_id: int
    sep_id: int
    pad_id: int
    window: int = 512  # tokens per window, special tokens included
    overlap: int = 64
    batch_size: int = 32
    max_windows: int = 64  # bounds the cost of a pathological comment (~30k words)
    # Padded tokens per forward pass: 64 rows of 512 tokens would hold ~800 MB of attention
    # scores and run no faster per token than 8 rows.
    token_budget: int = 4096

    def windows(self, ids: Sequence[int]) -> list[list[int]]:
        body = self.window - 2
        if len(ids) <= body:
            return [[self.cls_id, *ids, self.sep_id]]
        step = body - self.overlap
        out: list[list[int]] = []
        for start in range(0, len(ids) - self.overlap, step):
            out.append([self.cls_id, *ids[start : start + body], self.sep_id])
            if start + body >= len(ids) or len(out) >= self.max_windows:
                break
        return out

    def forward_windows(self, windows: Sequence[Sequence[int]]) -> FloatArray:
        """Probabilities for windows (special tokens included), padded to the longest."""
        width = max(len(w) for w in windows)
        input_ids = np.full((len(windows), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(windows), width), dtype=np.int64)
        for r, w in enumerate(windows):
            input_ids[r, : len(w)] = w
            mask[r, : len(w)] = 1
        return sigmoid(np.asarray(self.forward(input_ids, mask), dtype=np.float32))

    def score_windows(self, texts: Sequence[str]) -> tuple[FloatArray, list[int]]:
        """Scores of every window (rows) and, for each text, the index of its first window."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32), []
        all_windows: list[list[int]] = []
        first: list[int] = []
        for ids in self.encode(list(texts)):
            first.append(len(all_windows))
            all_windows += self.windows(ids)
        order = sorted(range(len(all_windows)), key=lambda i: len(all_windows[i]))
        result: FloatArray | None = None
        parts: list[list[int]] = [[]]
        for i in order:  # ascending length: the newest window is the widest
            part = parts[-1]
            if part and (
                len(part) >= self.batch_size
                or (len(part) + 1) * len(all_windows[i]) > self.token_budget
            ):
                parts.append(part := [])
            part.append(i)
        for part in parts:
            probs = self.forward_windows([all_windows[i] for i in part])
            if result is None:
                result = np.zeros((len(all_windows), probs.shape[1]), dtype=np.float32)
            result[part] = probs
        assert result is not None
        return result, first

    def scores(self, texts: Sequence[str]) -> FloatArray:
        """(n_texts, n_outputs) probabilities; each output is its max over a text's windows."""
        per_window, first = self.score_windows(texts)
        if not first:
            return per_window
        bounds = [*first, per_window.shape[0]]
        return np.stack(
            [per_window[bounds[i] : bounds[i + 1]].max(axis=0) for i in range(len(first))]
        )


def word_spans(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in _WORD.finditer(text)]


@dataclass(frozen=True)
class ExplainConfig:
    """Bounds on occlusion cost: at most ~`max_rows` extra model rows per explained text."""

    group: int = 4  # words occluded together in the coarse pass
    top_groups: int = 3  # groups refined word by word
    segment_words: int = 120  # long texts: explain only the highest-scoring segment
    # A word must lower the label's log-odds by this much to be a span. Log-odds, not the
    # score: at 0.99 an insult of two words ("worthless idiot") loses almost nothing in score
    # when one word goes, and the span would be missed (measured by `moderation model stress`).
    min_drop: float = 0.4
    top_words: int = 3


def _log_odds(p: float) -> float:
    q = min(max(p, 1e-6), 1.0 - 1e-6)
    return math.log(q / (1.0 - q))


def explain_by_occlusion(
    text: str,
    labels: Sequence[str],
    score: Callable[[list[str]], list[dict[str, float]]],
    cfg: ExplainConfig = ExplainConfig(),
) -> list[Span]:
    """Character spans of the words whose removal lowers each label's score most.

    Two passes keep the cost bounded: occlude groups of words, then single words inside the
    groups that mattered. Long texts are first cut into segments of `segment_words` words
    and only the segment scoring highest is explained, so cost does not grow with length.
    """
    words = word_spans(text)
    if not words or not labels:
        return []
    offset = 0
    if len(words) > cfg.segment_words:
        segments = [
            words[i : i + cfg.segment_words] for i in range(0, len(words), cfg.segment_words)
        ]
        seg_texts = [text[s[0][0] : s[-1][1]] for s in segments]
        seg_scores = score(seg_texts)
        best = max(
            range(len(segments)), key=lambda i: max(seg_scores[i].get(lb, 0.0) for lb in labels)
        )
        offset = segments[best][0][0]
        text = seg_texts[best]
        words = [(s - offset, e - offset) for s, e in segments[best]]

    def without(spans: Sequence[tuple[int, int]]) -> str:
        out, last = [], 0
        for s, e in spans:
            out.append(text[last:s])
            last = e
        out.append(text[last:])
        return " ".join(p.strip() for p in out if p.strip())

    groups = [words[i : i + cfg.group] for i in range(0, len(words), cfg.group)]
    coarse = score([text, *[without(g) for g in groups]])
    base, group_scores = coarse[0], coarse[1:]
    spans: list[Span] = []
    for label in labels:
        if label not in base:
            continue
        base_odds = _log_odds(base[label])

        def odds_drop(
            occluded: dict[str, float], label: str = label, base_odds: float = base_odds
        ) -> float:
            return base_odds - _log_odds(occluded[label])

        drops = sorted(range(len(groups)), key=lambda i: odds_drop(group_scores[i]), reverse=True)
        chosen = [i for i in drops[: cfg.top_groups] if odds_drop(group_scores[i]) > 0.0]
        candidates = [w for i in chosen for w in groups[i]]
        if not candidates:
            continue
        fine = score([without([w]) for w in candidates]) if len(candidates) > 1 else []
        if len(candidates) == 1:
            fine = [group_scores[chosen[0]]]
        ranked = sorted(
            zip(candidates, fine, strict=True), key=lambda cw: odds_drop(cw[1]), reverse=True
        )
        found = 0
        for (s, e), occluded in ranked[: cfg.top_words]:
            drop = odds_drop(occluded)
            if drop >= cfg.min_drop:
                found += 1
                spans.append(
                    Span(start=s + offset, end=e + offset, label=label, weight=round(drop, 4))
                )
        # A phrase can matter when no single word does ("go back where you came from").
        group_drop = odds_drop(group_scores[chosen[0]])
        if not found and group_drop >= cfg.min_drop:
            g = groups[chosen[0]]
            spans.append(
                Span(
                    start=g[0][0] + offset,
                    end=g[-1][1] + offset,
                    label=label,
                    weight=round(group_drop, 4),
                )
            )
    return spans
