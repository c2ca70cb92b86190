"""Per-label calibration: Platt scaling, the ECE that judges it, and folding it into the head."""

from __future__ import annotations

import numpy as np
import pytest

from moderation.classifier.calibration import (
    Platt,
    calibratable,
    cross_fitted_ece,
    fit_labels,
    fit_platt,
    fold_into_head,
    reliability,
    threshold_for_precision,
)


def _overconfident(n: int, seed: int = 0) -> tuple[list[int], list[float]]:
    """Labels drawn from sigmoid(z), scores from sigmoid(3z + 1): too sure and shifted."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 2.0, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    p = 1 / (1 + np.exp(-(3 * z + 1)))
    return [int(v) for v in y], [float(v) for v in p]


def test_platt_undoes_a_known_distortion() -> None:
    y, p = _overconfident(20_000)
    platt = fit_platt(y, p)
    # z = (logit - 1) / 3, so the fit should find slope 1/3 and offset -1/3.
    assert platt.slope == pytest.approx(1 / 3, abs=0.03)
    assert platt.offset == pytest.approx(-1 / 3, abs=0.05)
    before = reliability(y, p).ece
    after = reliability(y, platt.apply(p)).ece
    assert before > 0.08
    assert after < 0.02


def test_ece_of_scores_that_are_the_truth_is_near_zero() -> None:
    rng = np.random.default_rng(1)
    p = rng.random(50_000)
    y = (rng.random(50_000) < p).astype(int)
    assert reliability(list(y), list(p)).ece < 0.01
    # and a constant 0.5 on a 10 % positive set is off by 0.4
    assert reliability([1] * 10 + [0] * 90, [0.5] * 100).ece == pytest.approx(0.4)


def test_folding_into_the_head_gives_the_calibrated_score() -> None:
    rng = np.random.default_rng(2)
    weight, bias = rng.normal(size=(7, 16)), rng.normal(size=7)
    hidden = rng.normal(size=(5, 16))
    platt = Platt(slope=0.4, offset=-0.7)
    w2, b2 = fold_into_head(weight, bias, 3, platt)
    raw = 1 / (1 + np.exp(-(hidden @ weight.T + bias)))
    folded = 1 / (1 + np.exp(-(hidden @ w2.T + b2)))
    assert np.allclose(folded[:, 3], platt.apply(list(raw[:, 3])), atol=1e-9)
    others = [i for i in range(7) if i != 3]
    assert np.allclose(folded[:, others], raw[:, others])


def test_labels_without_enough_positives_keep_raw_scores() -> None:
    y, p = _overconfident(2_000)
    ids = [f"row:{i}" for i in range(len(y))]
    few = ([1] * 5 + [0] * 500, [0.9] * 5 + [0.1] * 500, [f"r:{i}" for i in range(505)])
    assert not calibratable(few[0])
    report = fit_labels({"toxicity": (y, p, ids), "threat": few})
    assert report["toxicity"]["calibrated"] is True
    assert report["threat"]["calibrated"] is False
    cross = report["toxicity"]["ece_cross_fitted"]
    assert isinstance(cross, float) and cross < 0.05
    assert cross == pytest.approx(cross_fitted_ece(y, p, ids))


def test_a_head_that_ranks_backwards_is_refused() -> None:
    y, p = _overconfident(2_000)
    with pytest.raises(ValueError, match="ranks against its label"):
        fit_platt(y, [1 - v for v in p])


def test_threshold_for_precision_takes_the_most_recall_the_precision_allows() -> None:
    # scores 0.1..0.9; positives are the top 5 and one stray at 0.3
    p = [round(0.1 * i, 2) for i in range(1, 10)]
    y = [0, 0, 1, 0, 1, 1, 1, 1, 1]
    chosen = threshold_for_precision(y, p, target=1.0)
    assert chosen is not None
    assert (chosen.threshold, chosen.precision) == (0.41, 1.0)  # just above the stray 0 at 0.4
    assert chosen.recall == pytest.approx(5 / 6)
    lower = threshold_for_precision(y, p, target=0.8)
    assert lower is not None and lower.threshold < chosen.threshold
    assert lower.precision >= 0.8 and lower.recall == 1.0
    floored = threshold_for_precision(y, p, target=0.8, floor=0.6)
    assert floored is not None and floored.threshold == 0.6
    assert threshold_for_precision([0, 0, 1], [0.9, 0.8, 0.1], target=0.9) is None
