"""Per-label calibration: a score should mean what it says.

Training weights the rare Jigsaw-only labels up and mixes sources with very different base
rates, so raw head outputs are not probabilities. Platt scaling (one slope and one offset
per label on the logit) fixes that, and because it is affine in the logit it folds into the
classifier head's weights: the shipped model outputs calibrated scores, with no extra
runtime step and no change in ROC AUC (the map is monotone). Windowed long texts take the
maximum over windows, which commutes with a monotone map.

Calibration is fitted on the dev set. To keep the reported calibration error honest, it is
also measured cross-fitted: fit on one half of dev, measure on the other, and the reverse.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

# Below this many positives (or negatives) a label's fit is noise: it keeps its raw scores.
MIN_CLASS_ROWS = 20
ECE_BINS = 10
_EPS = 1e-6


@dataclass(frozen=True)
class Platt:
    """sigmoid(slope * logit + offset)."""

    slope: float = 1.0
    offset: float = 0.0

    def apply(self, p: Sequence[float]) -> list[float]:
        z = _logit(np.asarray(p, dtype=np.float64))
        return [float(v) for v in 1.0 / (1.0 + np.exp(-(self.slope * z + self.offset)))]


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, _EPS, 1.0 - _EPS)
    out: np.ndarray = np.log(q / (1.0 - q))
    return out


def fit_platt(y: Sequence[int], p: Sequence[float]) -> Platt:
    """Maximum-likelihood slope and offset on the logit (a one-feature logistic regression)."""
    from sklearn.linear_model import LogisticRegression

    z = _logit(np.asarray(p, dtype=np.float64)).reshape(-1, 1)
    lr = LogisticRegression(C=1e6, max_iter=1000)
    lr.fit(z, np.asarray(y, dtype=np.int64))
    slope = float(lr.coef_[0][0])
    if slope <= 0:  # a head that ranks backwards: refuse to flip it silently
        raise ValueError("calibration slope is not positive: the head ranks against its label")
    return Platt(slope=slope, offset=float(lr.intercept_[0]))


@dataclass(frozen=True)
class Reliability:
    """Equal-width bins: mean score, observed positive rate and row count per bin."""

    ece: float
    mean_score: list[float]
    positive_rate: list[float]
    counts: list[int]


def reliability(y: Sequence[int], p: Sequence[float], bins: int = ECE_BINS) -> Reliability:
    """Expected calibration error: the row-weighted mean |score - observed rate| over bins."""
    ya = np.asarray(y, dtype=np.float64)
    pa = np.asarray(p, dtype=np.float64)
    which = np.minimum((pa * bins).astype(np.int64), bins - 1)
    mean_score: list[float] = []
    rate: list[float] = []
    counts: list[int] = []
    ece = 0.0
    for b in range(bins):
        sel = which == b
        n = int(sel.sum())
        counts.append(n)
        if n == 0:
            mean_score.append(math.nan)
            rate.append(math.nan)
            continue
        m, r = float(pa[sel].mean()), float(ya[sel].mean())
        mean_score.append(m)
        rate.append(r)
        ece += n / max(1, len(pa)) * abs(m - r)
    return Reliability(ece=ece, mean_score=mean_score, positive_rate=rate, counts=counts)


def calibratable(y: Sequence[int]) -> bool:
    positives = sum(1 for v in y if v)
    return positives >= MIN_CLASS_ROWS and len(y) - positives >= MIN_CLASS_ROWS


def cross_fitted_ece(y: Sequence[int], p: Sequence[float], ids: Sequence[str]) -> float:
    """ECE of Platt scaling fitted on one half of the rows and measured on the other.

    Halves are split by a hash of the row id, so the figure does not depend on row order.
    """
    import hashlib

    half = [hashlib.sha256(i.encode()).digest()[0] & 1 for i in ids]
    ya, pa = np.asarray(y), np.asarray(p, dtype=np.float64)
    out_p = np.zeros_like(pa)
    for fold in (0, 1):
        fit_rows = np.asarray([h != fold for h in half])
        platt = fit_platt(list(ya[fit_rows]), list(pa[fit_rows]))
        out_p[~fit_rows] = platt.apply(list(pa[~fit_rows]))
    return reliability(list(ya), list(out_p)).ece


def fold_into_head(
    weight: np.ndarray, bias: np.ndarray, index: int, platt: Platt
) -> tuple[np.ndarray, np.ndarray]:
    """The classifier head with row `index` scaled so its output is the calibrated logit."""
    w, b = weight.copy(), bias.copy()
    w[index] = w[index] * platt.slope
    b[index] = b[index] * platt.slope + platt.offset
    return w, b


def fit_labels(
    rows: Mapping[str, tuple[Sequence[int], Sequence[float], Sequence[str]]],
) -> dict[str, dict[str, object]]:
    """Fit each label that has enough rows of both classes; report before/after ECE.

    `rows[label]` is (labels, raw scores, row ids) over the rows that annotate the label.
    """
    report: dict[str, dict[str, object]] = {}
    for label, (y, p, ids) in rows.items():
        entry: dict[str, object] = {
            "n": len(y),
            "positives": int(sum(y)),
            "ece_raw": reliability(y, p).ece if y else None,
        }
        if calibratable(y):
            platt = fit_platt(y, p)
            entry.update(
                calibrated=True,
                slope=platt.slope,
                offset=platt.offset,
                ece_in_sample=reliability(y, platt.apply(p)).ece,
                ece_cross_fitted=cross_fitted_ece(y, p, ids),
            )
        else:
            entry.update(calibrated=False, why=f"fewer than {MIN_CLASS_ROWS} rows of a class")
        report[label] = entry
    return report


@dataclass(frozen=True)
class ChosenThreshold:
    threshold: float
    precision: float
    recall: float
    n: int
    positives: int


def threshold_for_precision(
    y: Sequence[int], p: Sequence[float], target: float, floor: float = 0.0
) -> ChosenThreshold | None:
    """The lowest threshold (at or above `floor`, on a 0.01 grid) whose precision on these
    rows reaches `target`: the most recall that precision allows. None if none does."""
    ya = np.asarray(y, dtype=np.int64)
    pa = np.asarray(p, dtype=np.float64)
    for t in np.arange(max(floor, 0.01), 1.0, 0.01):
        pred = pa >= t
        if not pred.any():
            break
        tp = int((pred & (ya == 1)).sum())
        precision = tp / int(pred.sum())
        if precision >= target:
            return ChosenThreshold(
                threshold=round(float(t), 2),
                precision=precision,
                recall=tp / max(1, int(ya.sum())),
                n=len(ya),
                positives=int(ya.sum()),
            )
    return None
