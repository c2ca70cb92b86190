"""Evaluation maths: per-label metrics and the Jigsaw Unintended Bias metrics.

Bias metrics follow Borkan et al. 2019 (the Jigsaw Unintended Bias challenge):
subgroup AUC (only comments mentioning the group), BPSN AUC (background positives vs
subgroup negatives: high when the group's innocent mentions do not outscore toxic text
elsewhere), BNSP AUC (background negatives vs subgroup positives), each summarised over
groups with the generalised power mean M_p = (mean(m_s^p))^(1/p), p = -5, which weights the
worst groups most.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

POWER = -5.0


def auc(y: Sequence[int], s: Sequence[float]) -> float | None:
    """ROC AUC, or None when only one class is present."""
    if len(set(y)) < 2:
        return None
    return float(roc_auc_score(list(y), list(s)))


def power_mean(values: Sequence[float], p: float = POWER) -> float | None:
    vals = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if vals.size == 0:
        return None
    if p < 0 and np.any(vals <= 0.0):
        return 0.0  # the limit: one group at 0 sends a negative-power mean to 0
    if p == 0:
        return float(np.exp(np.mean(np.log(vals))))
    return float(np.mean(vals**p) ** (1.0 / p))


@dataclass(frozen=True)
class LabelMetrics:
    n: int
    positives: int
    roc_auc: float | None
    average_precision: float | None
    threshold: float
    precision: float
    recall: float
    f1: float

    def as_dict(self) -> dict[str, float | int | None]:
        return dict(self.__dict__)


def label_metrics(y: Sequence[int], s: Sequence[float], threshold: float) -> LabelMetrics:
    ya = np.asarray(y, dtype=np.int64)
    sa = np.asarray(s, dtype=np.float64)
    pred = sa >= threshold
    tp = int(np.sum(pred & (ya == 1)))
    fp = int(np.sum(pred & (ya == 0)))
    fn = int(np.sum(~pred & (ya == 1)))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    ap = float(average_precision_score(ya, sa)) if 0 < ya.sum() < len(ya) else None
    return LabelMetrics(
        n=len(ya),
        positives=int(ya.sum()),
        roc_auc=auc(list(ya), list(sa)),
        average_precision=ap,
        threshold=threshold,
        precision=precision,
        recall=recall,
        f1=f1,
    )


@dataclass(frozen=True)
class GroupBias:
    group: str
    n: int
    subgroup_auc: float | None
    bpsn_auc: float | None
    bnsp_auc: float | None


def bias_metrics(
    y: Sequence[int],
    s: Sequence[float],
    groups: Sequence[str | Collection[str] | None],
    min_rows: int = 1,
) -> tuple[list[GroupBias], dict[str, float | None]]:
    """Per-group subgroup/BPSN/BNSP AUC and their power means (plus the Jigsaw final score).

    `groups[i]` is the identity group row i mentions, None for background rows, or the set
    of groups a real comment mentions (it belongs to each; the background of a group is
    every row that does not mention it). Groups with fewer than `min_rows` rows are left out.
    """
    ya = np.asarray(y, dtype=np.int64)
    sa = np.asarray(s, dtype=np.float64)
    members = [
        frozenset() if g is None else frozenset((g,)) if isinstance(g, str) else frozenset(g)
        for g in groups
    ]
    per_group: list[GroupBias] = []
    for g in sorted({g for m in members for g in m}):
        ing = np.asarray([g in m for m in members], dtype=bool)
        if int(ing.sum()) < min_rows:
            continue
        sub = auc(list(ya[ing]), list(sa[ing]))
        bpsn_mask = (ing & (ya == 0)) | (~ing & (ya == 1))
        bnsp_mask = (ing & (ya == 1)) | (~ing & (ya == 0))
        bpsn = auc(list(ya[bpsn_mask]), list(sa[bpsn_mask]))
        bnsp = auc(list(ya[bnsp_mask]), list(sa[bnsp_mask]))
        per_group.append(GroupBias(g, int(ing.sum()), sub, bpsn, bnsp))
    summary: dict[str, float | None] = {
        "overall_auc": auc(list(ya), list(sa)),
        "subgroup_auc_power_mean": power_mean(
            [b.subgroup_auc for b in per_group if b.subgroup_auc is not None]
        ),
        "bpsn_auc_power_mean": power_mean(
            [b.bpsn_auc for b in per_group if b.bpsn_auc is not None]
        ),
        "bnsp_auc_power_mean": power_mean(
            [b.bnsp_auc for b in per_group if b.bnsp_auc is not None]
        ),
    }
    means = [
        summary[k]
        for k in ("subgroup_auc_power_mean", "bpsn_auc_power_mean", "bnsp_auc_power_mean")
    ]
    known = [m for m in means if m is not None]
    summary["bias_power_mean"] = float(np.mean(known)) if known else None
    overall = summary["overall_auc"]
    # The challenge's final metric: a quarter overall AUC, three quarters the bias means.
    summary["jigsaw_final"] = (
        0.25 * overall + 0.25 * sum(known) if overall is not None and len(known) == 3 else None
    )
    return per_group, summary


def mean_pairwise_abs_diff(values: Sequence[float]) -> float:
    """Mean |a - b| over all unordered pairs: the average change when one term is swapped."""
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2:
        return 0.0
    diffs = np.abs(v[:, None] - v[None, :])
    return float(diffs.sum() / (v.size * (v.size - 1)))
