"""`moderation model eval`: score labeled examples, compute metrics, write JSON and PNGs."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from moderation.classifier.base import Classifier
from moderation.classifier.data import Example, annotated
from moderation.classifier.metrics import (
    bias_metrics,
    label_metrics,
    mean_pairwise_abs_diff,
)
from moderation.config import PROJECT_ROOT
from moderation.domain.labels import LABELS

DEFAULT_THRESHOLDS: dict[str, float] = {
    "toxicity": 0.80,
    "severe_toxicity": 0.30,
    "obscene": 0.80,
    "threat": 0.60,
    "insult": 0.60,
    "identity_attack": 0.60,
    "sexual_explicit": 0.60,
}


def flag_thresholds(path: Path | None = None) -> dict[str, float]:
    """The `flag` threshold of each label from rules/thresholds.yaml (Discourse's if absent)."""
    import yaml

    path = path or PROJECT_ROOT / "rules" / "thresholds.yaml"
    out = dict(DEFAULT_THRESHOLDS)
    if path.is_file():
        data = yaml.safe_load(path.read_text()) or {}
        for label, value in (data.get("thresholds") or {}).items():
            if isinstance(value, dict) and "flag" in value:
                out[str(label)] = float(value["flag"])
            elif isinstance(value, int | float):
                out[str(label)] = float(value)
    return out


def predict_all(
    classifier: Classifier,
    texts: Sequence[str],
    batch_size: int = 64,
    desc: str = "score",
    progress: bool = True,
) -> list[dict[str, float]]:
    from tqdm import tqdm

    out: list[dict[str, float]] = []
    with tqdm(total=len(texts), desc=desc, unit="text", disable=not progress) as bar:
        for b in range(0, len(texts), batch_size):
            part = texts[b : b + batch_size]
            out += classifier.predict(part)
            bar.update(len(part))
    return out


def evaluate(
    classifier: Classifier,
    examples: Sequence[Example],
    thresholds: dict[str, float],
    *,
    progress: bool = True,
) -> dict[str, Any]:
    """Per-label metrics, per-source AUCs, bias metrics and functional accuracy."""
    scores = predict_all(classifier, [e.text for e in examples], progress=progress)
    result: dict[str, Any] = {"n": len(examples), "labels": {}, "by_source": {}}
    for label in classifier.labels:
        ys, ps, _ = annotated(examples, scores, label)
        if ys:
            result["labels"][label] = label_metrics(ys, ps, thresholds.get(label, 0.5)).as_dict()
    sources = sorted({e.source for e in examples})
    if len(sources) > 1:
        for source in sources:
            per: dict[str, Any] = {}
            for label in ("toxicity", "identity_attack"):
                rows = [
                    (e.labels[label], s.get(label, 0.0))
                    for e, s in zip(examples, scores, strict=True)
                    if e.source == source and label in e.labels
                ]
                if rows:
                    lm = label_metrics(
                        [y for y, _ in rows], [p for _, p in rows], thresholds.get(label, 0.5)
                    )
                    per[label] = {"n": lm.n, "roc_auc": lm.roc_auc, "f1": lm.f1}
            result["by_source"][source] = per
    if any("group" in e.meta for e in examples):
        result["bias"] = {}
        for label in ("toxicity", "identity_attack"):
            grouped = [
                (e.labels[label], s.get(label, 0.0), e.meta.get("group"))
                for e, s in zip(examples, scores, strict=True)
                if label in e.labels
            ]
            if len({y for y, _, _ in grouped}) < 2:
                continue
            per_group, summary = bias_metrics(
                [y for y, _, _ in grouped], [p for _, p, _ in grouped], [g for _, _, g in grouped]
            )
            result["bias"][label] = {
                "summary": summary,
                "groups": [g.__dict__ for g in per_group],
            }
    elif any(identity_terms(e.text) for e in examples):
        result["identity_terms"] = identity_term_bias(examples, scores)
    if any("functionality" in e.meta for e in examples):
        result["functional"] = functional_accuracy(examples, scores, thresholds)
    result["calibration"] = calibration_report(classifier.labels, examples, scores)
    result["_scores"] = scores
    return result


def calibration_report(
    labels: Sequence[str], examples: Sequence[Example], scores: Sequence[dict[str, float]]
) -> dict[str, Any]:
    """Expected calibration error and the reliability curve of every scored label."""
    from moderation.classifier.calibration import reliability

    out: dict[str, Any] = {}
    for label in labels:
        ys, ps, _ = annotated(examples, scores, label)
        if not ys:
            continue
        rel = reliability(ys, ps)
        out[label] = {
            "n": len(ys),
            "positives": sum(ys),
            "ece": rel.ece,
            "bins": {
                "mean_score": rel.mean_score,
                "positive_rate": rel.positive_rate,
                "counts": rel.counts,
            },
        }
    return out


# Identity words looked for in real comments (dev): the training and the held-out test
# vocabularies together, as whole words, each reported under its adjective form.
def _identity_pattern() -> tuple[Any, dict[str, str]]:
    import re

    from moderation.classifier.functional import TEST_IDENTITIES
    from moderation.classifier.templates import TRAIN_IDENTITIES

    canonical: dict[str, str] = {}
    for ident in TRAIN_IDENTITIES + TEST_IDENTITIES:
        for form in (ident.adj, ident.plural):
            if " " not in form:
                canonical[form.lower()] = ident.adj.lower()
    words = sorted(canonical, key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(re.escape(w) for w in words) + r")\b", re.I), canonical


_IDENTITY_RE, _IDENTITY_CANON = _identity_pattern()
MIN_TERM_ROWS = 20


def identity_terms(text: str) -> frozenset[str]:
    return frozenset(_IDENTITY_CANON[m.group(0).lower()] for m in _IDENTITY_RE.finditer(text))


def identity_term_bias(
    examples: Sequence[Example], scores: Sequence[dict[str, float]]
) -> dict[str, Any]:
    """Subgroup AUC, BPSN and BNSP per identity term on real comments (terms with at least
    MIN_TERM_ROWS rows), for toxicity and identity_attack."""
    out: dict[str, Any] = {}
    for label in ("toxicity", "identity_attack"):
        rows = [
            (e.labels[label], s.get(label, 0.0), identity_terms(e.text))
            for e, s in zip(examples, scores, strict=True)
            if label in e.labels
        ]
        if len({y for y, _, _ in rows}) < 2:
            continue
        per_term, summary = bias_metrics(
            [y for y, _, _ in rows],
            [p for _, p, _ in rows],
            [g for _, _, g in rows],
            min_rows=MIN_TERM_ROWS,
        )
        out[label] = {"summary": summary, "terms": [g.__dict__ for g in per_term]}
    return out


def is_flagged(score: dict[str, float], thresholds: dict[str, float]) -> bool:
    """What the product does with a score: any label at or above its flag threshold."""
    return any(v >= thresholds.get(k, 0.5) for k, v in score.items())


def functional_accuracy(
    examples: Sequence[Example], scores: Sequence[dict[str, float]], thresholds: dict[str, float]
) -> dict[str, Any]:
    per: dict[str, list[bool]] = defaultdict(list)
    failures: dict[str, list[str]] = defaultdict(list)
    for e, s in zip(examples, scores, strict=True):
        func = e.meta.get("functionality")
        if func is None:
            continue
        ok = is_flagged(s, thresholds) == (e.meta.get("hateful") == "1")
        per[func].append(ok)
        if not ok and len(failures[func]) < 5:
            failures[func].append(e.text)
    total = [ok for oks in per.values() for ok in oks]
    return {
        "accuracy": sum(total) / len(total) if total else None,
        "per_functionality": {
            f: {"n": len(v), "accuracy": sum(v) / len(v)} for f, v in sorted(per.items())
        },
        "examples_of_failures": dict(failures),
    }


def swap_consistency(
    classifier: Classifier,
    sets: Sequence[Sequence[str]],
    label: str = "toxicity",
    thresholds: dict[str, float] | None = None,
) -> dict[str, float]:
    """Mean |Δ score| when only the identity term differs, over all pairs in each set, and
    (with `thresholds`) how many of those pairs the product treats differently: one flagged,
    the other not."""
    diffs: list[float] = []
    pairs = crossing = 0
    for texts in sets:
        scored = classifier.predict(list(texts))
        diffs.append(mean_pairwise_abs_diff([s.get(label, 0.0) for s in scored]))
        if thresholds is not None:
            flagged = [is_flagged(s, thresholds) for s in scored]
            n_flagged = sum(flagged)
            pairs += len(flagged) * (len(flagged) - 1) // 2
            crossing += n_flagged * (len(flagged) - n_flagged)
    out: dict[str, float] = {
        "sets": len(diffs),
        f"mean_abs_delta_{label}": sum(diffs) / len(diffs) if diffs else 0.0,
        f"max_set_delta_{label}": max(diffs) if diffs else 0.0,
    }
    if thresholds is not None:
        out.update(pairs=pairs, pairs_crossing_flag=crossing)
    return out


def dev_swap_pairs(examples: Sequence[Example], seed: int = 0, limit: int = 400) -> list[list[str]]:
    """Real comments that mention an identity, each with two identity-swapped copies."""
    from moderation.classifier.templates import swap_identity

    rng = random.Random(seed)
    out: list[list[str]] = []
    for e in examples:
        first = swap_identity(e.text, rng)
        second = swap_identity(e.text, rng)
        if first is not None and second is not None:
            out.append([e.text, first, second])
        if len(out) >= limit:
            break
    return out


def write_report(result: dict[str, Any], examples: Sequence[Example], out_dir: Path) -> list[Path]:
    """`metrics.json`, `roc.png` and (when present) `bias_groups.png`, `functional.png`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    out_dir.mkdir(parents=True, exist_ok=True)
    scores: list[dict[str, float]] = result.get("_scores", [])
    public = {k: v for k, v in result.items() if not k.startswith("_")}
    paths = [out_dir / "metrics.json"]
    paths[0].write_text(json.dumps(public, indent=2) + "\n")

    fig, ax = plt.subplots(figsize=(6, 6))
    for label in LABELS:
        ys, ps, _ = annotated(examples, scores, label)
        if len(set(ys)) < 2:
            continue
        fpr, tpr, _ = roc_curve(ys, ps)
        auc_v = result["labels"][label]["roc_auc"]
        ax.plot(fpr, tpr, label=f"{label} (AUC {auc_v:.3f}, n={len(ys)})")
    ax.plot([0, 1], [0, 1], "k:", linewidth=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC per label")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "roc.png", dpi=110)
    plt.close(fig)
    paths.append(out_dir / "roc.png")

    bias = result.get("bias", {}).get("toxicity")
    if bias:
        groups = bias["groups"]
        fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(groups)), 4))
        xs = range(len(groups))
        for k, (key, color) in enumerate(
            (("subgroup_auc", "C0"), ("bpsn_auc", "C1"), ("bnsp_auc", "C2"))
        ):
            ax.bar(
                [x + (k - 1) * 0.27 for x in xs],
                [g[key] or 0 for g in groups],
                width=0.27,
                label=key,
                color=color,
            )
        ax.set_xticks(list(xs))
        ax.set_xticklabels([g["group"] for g in groups], rotation=75, fontsize=7)
        ax.set_ylim(0.5, 1.0)
        ax.set_title("toxicity: per-group bias AUCs")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out_dir / "bias_groups.png", dpi=110)
        plt.close(fig)
        paths.append(out_dir / "bias_groups.png")

    calibration = result.get("calibration") or {}
    if calibration:
        cols = min(3, len(calibration))
        rows_n = -(-len(calibration) // cols)
        fig, axes = plt.subplots(rows_n, cols, figsize=(3.6 * cols, 3.4 * rows_n), squeeze=False)
        for ax, (label, cal) in zip(axes.flat, calibration.items(), strict=False):
            bins = cal["bins"]
            pts = [
                (m, r)
                for m, r in zip(bins["mean_score"], bins["positive_rate"], strict=True)
                if m == m  # NaN marks an empty bin
            ]
            ax.plot([0, 1], [0, 1], "k:", linewidth=0.8)
            ax.plot([m for m, _ in pts], [r for _, r in pts], "o-", color="C0")
            ax.set_title(f"{label}: ECE {cal['ece']:.3f} (n={cal['n']})", fontsize=9)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            ax.set_xlabel("mean score in bin", fontsize=8)
            ax.set_ylabel("share positive", fontsize=8)
        for ax in list(axes.flat)[len(calibration) :]:
            ax.axis("off")
        fig.suptitle("reliability per label")
        fig.tight_layout()
        fig.savefig(out_dir / "reliability.png", dpi=110)
        plt.close(fig)
        paths.append(out_dir / "reliability.png")

    func = result.get("functional")
    if func:
        items = list(func["per_functionality"].items())
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.barh([k for k, _ in items], [v["accuracy"] for _, v in items], color="C0")
        ax.axvline(0.8, color="k", linestyle=":", linewidth=0.8)
        ax.set_xlim(0, 1)
        ax.set_title(f"functional suite accuracy (overall {func['accuracy']:.3f})")
        fig.tight_layout()
        fig.savefig(out_dir / "functional.png", dpi=110)
        plt.close(fig)
        paths.append(out_dir / "functional.png")
    return paths


def summary_lines(result: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for label, m in result.get("labels", {}).items():
        auc_s = "  n/a" if m["roc_auc"] is None else f"{m['roc_auc']:.4f}"
        ap_s = "  n/a" if m["average_precision"] is None else f"{m['average_precision']:.4f}"
        lines.append(
            f"{label:16s} n={m['n']:6d} pos={m['positives']:6d} auc={auc_s} ap={ap_s} "
            f"P={m['precision']:.3f} R={m['recall']:.3f} F1={m['f1']:.3f} @ {m['threshold']:.2f}"
        )
    for source, per in result.get("by_source", {}).items():
        parts = [
            f"{lb} auc={v['roc_auc']:.4f}" for lb, v in per.items() if v["roc_auc"] is not None
        ]
        lines.append(f"  source {source:20s} " + "  ".join(parts))
    for label, b in result.get("bias", {}).items():
        s = b["summary"]
        lines.append(
            f"bias[{label}] power means: subgroup={_f(s['subgroup_auc_power_mean'])} "
            f"bpsn={_f(s['bpsn_auc_power_mean'])} bnsp={_f(s['bnsp_auc_power_mean'])} "
            f"mean={_f(s['bias_power_mean'])} final={_f(s['jigsaw_final'])}"
        )
    for label, terms in result.get("identity_terms", {}).items():
        s = terms["summary"]
        worst = sorted(
            (t for t in terms["terms"] if t["bpsn_auc"] is not None), key=lambda t: t["bpsn_auc"]
        )[:3]
        lines.append(
            f"identity terms[{label}] power means: subgroup={_f(s['subgroup_auc_power_mean'])} "
            f"bpsn={_f(s['bpsn_auc_power_mean'])} bnsp={_f(s['bnsp_auc_power_mean'])}; "
            "lowest bpsn: " + ", ".join(f"{t['group']} {t['bpsn_auc']:.3f}" for t in worst)
        )
    for label, cal in result.get("calibration", {}).items():
        lines.append(f"calibration {label:16s} ECE={cal['ece']:.4f} (n={cal['n']})")
    func = result.get("functional")
    if func:
        lines.append(f"functional accuracy {func['accuracy']:.3f}")
        for f, v in func["per_functionality"].items():
            lines.append(f"  {f:16s} {v['accuracy']:.3f} (n={v['n']})")
    for key in ("swap_functional", "swap_dev"):
        if key in result:
            lines.append(f"{key}: {json.dumps(result[key])}")
    return lines


def _f(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4f}"
