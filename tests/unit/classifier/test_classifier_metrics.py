"""Bias and label metrics against values computed by hand."""

from __future__ import annotations

import pytest

from moderation.classifier.metrics import (
    auc,
    bias_metrics,
    label_metrics,
    mean_pairwise_abs_diff,
    power_mean,
)


def test_auc_counts_correctly_ordered_pairs() -> None:
    # Pairs (pos, neg): (0.8,0.1) (0.8,0.6) (0.4,0.1) ok, (0.4,0.6) wrong -> 3/4.
    assert auc([1, 1, 0, 0], [0.8, 0.4, 0.1, 0.6]) == pytest.approx(0.75)
    assert auc([1, 1], [0.2, 0.3]) is None


def test_power_mean_by_hand() -> None:
    values = [0.9, 0.6]
    expected = ((0.9**-5 + 0.6**-5) / 2) ** (-1 / 5)
    assert power_mean(values) == pytest.approx(expected)
    # 0.9^-5 = 1.6935, 0.6^-5 = 12.8601, mean 7.2768, ^(-1/5) = 0.6724.
    assert expected == pytest.approx(0.6724, abs=1e-4)
    # p = -5 is pulled towards the worst group, well below the arithmetic mean 0.75.
    assert (power_mean(values) or 1.0) < 0.75
    assert power_mean([0.8, 0.8, 0.8]) == pytest.approx(0.8)
    assert power_mean([]) is None


def test_bias_metrics_by_hand() -> None:
    # Group "a": rows 0-3; background: rows 4-7.
    y = [1, 1, 0, 0, 1, 1, 0, 0]
    s = [0.9, 0.5, 0.7, 0.2, 0.8, 0.6, 0.3, 0.1]
    g = ["a", "a", "a", "a", None, None, None, None]
    per_group, summary = bias_metrics(y, s, g)
    (a,) = per_group
    # Subgroup: pos {0.9, 0.5} vs neg {0.7, 0.2}: 0.9>0.7, 0.9>0.2, 0.5<0.7, 0.5>0.2 -> 3/4.
    assert a.subgroup_auc == pytest.approx(0.75)
    # BPSN: background pos {0.8, 0.6} vs subgroup neg {0.7, 0.2}: 0.8>0.7 0.8>0.2 0.6<0.7
    # 0.6>0.2 -> 3/4.
    assert a.bpsn_auc == pytest.approx(0.75)
    # BNSP: subgroup pos {0.9, 0.5} vs background neg {0.3, 0.1}: all 4 ordered -> 1.
    assert a.bnsp_auc == pytest.approx(1.0)
    # One group: every power mean is that group's value.
    assert summary["subgroup_auc_power_mean"] == pytest.approx(0.75)
    assert summary["bias_power_mean"] == pytest.approx((0.75 + 0.75 + 1.0) / 3)
    # Overall: 4 pos {0.9,0.5,0.8,0.6} x 4 neg {0.7,0.2,0.3,0.1}: only 0.5<0.7 and
    # 0.6<0.7 are wrong -> 14/16.
    assert summary["overall_auc"] == pytest.approx(14 / 16)
    assert summary["jigsaw_final"] == pytest.approx(0.25 * 14 / 16 + 0.25 * 2.5)


def test_bias_power_mean_over_two_groups() -> None:
    y = [1, 0, 1, 0, 1, 0]
    s = [0.9, 0.1, 0.4, 0.6, 0.8, 0.2]
    g = ["a", "a", "b", "b", None, None]
    per_group, summary = bias_metrics(y, s, g)
    by = {b.group: b for b in per_group}
    assert by["a"].subgroup_auc == 1.0
    assert by["b"].subgroup_auc == 0.0
    # A group whose AUC is 0 drags the p=-5 power mean to 0: the worst group decides.
    assert summary["subgroup_auc_power_mean"] == 0.0


def test_label_metrics_precision_recall_f1() -> None:
    m = label_metrics([1, 1, 0, 0, 1], [0.9, 0.3, 0.8, 0.1, 0.7], threshold=0.5)
    # Predicted positive: 0.9 (tp), 0.8 (fp), 0.7 (tp); missed 0.3 (fn).
    assert (m.precision, m.recall) == pytest.approx((2 / 3, 2 / 3))
    assert m.f1 == pytest.approx(2 / 3)
    assert m.positives == 3 and m.n == 5


def test_mean_pairwise_abs_diff() -> None:
    # Pairs: |0.1-0.3| = 0.2, |0.1-0.6| = 0.5, |0.3-0.6| = 0.3 -> mean 1/3.
    assert mean_pairwise_abs_diff([0.1, 0.3, 0.6]) == pytest.approx(1 / 3)
    assert mean_pairwise_abs_diff([0.5]) == 0.0
