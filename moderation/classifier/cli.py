"""`moderation model ...`: train, eval, bench, export-onnx, ship, suite."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from moderation.config import PROJECT_ROOT
from moderation.domain.labels import LABELS

SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


@click.group()
def model() -> None:
    """Train, evaluate, benchmark and ship the toxicity classifier."""


@model.command()
@click.option(
    "--data",
    "data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    multiple=True,
    required=True,
    help="Training JSONL (repeatable).",
)
@click.option(
    "--dev",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Dev JSONL: AUCs are logged after every epoch.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=PROJECT_ROOT / "var" / "train",
    show_default=True,
)
@click.option("--epochs", type=float, default=2.0, show_default=True)
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option("--lr", type=float, default=8e-5, show_default=True)
@click.option("--max-len", type=int, default=128, show_default=True)
@click.option("--seed", type=int, default=13, show_default=True)
@click.option("--threads", type=int, default=2, show_default=True)
@click.option("--limit", type=int, help="Read at most this many rows per file (smoke runs).")
@click.option("--max-steps", type=int, help="Stop after this many optimiser steps.")
@click.option(
    "--templates/--no-templates",
    default=True,
    show_default=True,
    help="Add generated functional cases (identity terms x frames).",
)
@click.option(
    "--swap/--no-swap",
    default=True,
    show_default=True,
    help="Add identity-term-swapped copies of comments that mention a group.",
)
@click.option("--fp16/--fp32", default=True, show_default=True, help="Precision of model.ckpt.")
@click.option(
    "--base-model",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Hugging Face model directory to start from (default: MiniLM-L6).",
)
def train(
    data: tuple[Path, ...],
    dev: Path | None,
    out_dir: Path,
    epochs: float,
    batch_size: int,
    lr: float,
    max_len: int,
    seed: int,
    threads: int,
    limit: int | None,
    max_steps: int | None,
    templates: bool,
    swap: bool,
    fp16: bool,
    base_model: Path | None,
) -> None:
    """Fine-tune MiniLM-L6 on JSONL; writes OUT/model.ckpt that Detoxify loads."""
    from moderation.classifier.train import TrainConfig
    from moderation.classifier.train import train as run_train

    cfg = TrainConfig(
        data=list(data),
        dev=dev,
        out_dir=out_dir,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        max_len=max_len,
        seed=seed,
        threads=threads,
        limit=limit,
        max_steps=max_steps,
        templates=templates,
        swap_augment=swap,
        fp16=fp16,
        base_model=base_model,
    )
    summary = run_train(cfg, log=lambda m: click.echo(m, err=True))
    click.echo(
        json.dumps(
            {"checkpoint": str(out_dir / "model.ckpt"), "history": summary["history"]}, indent=2
        )
    )


def _thresholds(pairs: tuple[str, ...]) -> dict[str, float]:
    from moderation.classifier.evaluate import flag_thresholds

    out = flag_thresholds()
    for pair in pairs:
        label, sep, value = pair.partition("=")
        if not sep:
            # A bare number applies to every label.
            out = {k: float(pair) for k in out}
        else:
            out[label] = float(value)
    return out


def _load(model_name: str, runtime: str, threads: int) -> Any:
    from moderation.classifier.loader import load_classifier
    from moderation.config import Settings

    settings = Settings(model=model_name, model_runtime=runtime, torch_threads=threads)  # type: ignore[arg-type]
    return load_classifier(settings)


@model.command("eval")
@click.option(
    "--data",
    "data",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSONL (or the bias madlibs CSV); repeatable.",
)
@click.option("--functional", is_flag=True, help="Also run the built-in functional suite.")
@click.option("--swap", is_flag=True, help="Measure identity-swap consistency of toxicity.")
@click.option(
    "--model",
    "model_name",
    default="embedded",
    show_default=True,
    help="embedded, a public Detoxify name, a checkpoint or an .onnx file.",
)
@click.option(
    "--runtime", type=click.Choice(["auto", "torch", "onnx"]), default="auto", show_default=True
)
@click.option("--threads", type=int, default=2, show_default=True)
@click.option(
    "--threshold",
    "threshold",
    multiple=True,
    help="LABEL=VALUE or VALUE; default: flag thresholds of rules/thresholds.yaml.",
)
@click.option("--limit", type=int, help="Use at most this many rows per file.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=PROJECT_ROOT / "var" / "eval",
    show_default=True,
)
def eval_cmd(
    data: tuple[Path, ...],
    functional: bool,
    swap: bool,
    model_name: str,
    runtime: str,
    threads: int,
    threshold: tuple[str, ...],
    limit: int | None,
    out_dir: Path,
) -> None:
    """Metrics per label, per source, bias metrics by group, functional accuracy; JSON + PNG."""
    from moderation.classifier.data import read_examples
    from moderation.classifier.evaluate import (
        dev_swap_pairs,
        evaluate,
        summary_lines,
        swap_consistency,
        write_report,
    )
    from moderation.classifier.functional import functional_suite, swap_sets

    if not data and not functional and not swap:
        raise click.UsageError("give --data FILE, --functional or --swap")
    thresholds = _thresholds(threshold)
    try:
        sets: list[tuple[str, list[Any]]] = [(p.stem, read_examples(p, limit=limit)) for p in data]
    except ValueError as exc:  # UnreadableLabels names the file and line
        raise click.ClickException(f"refusing to evaluate: {exc}") from exc
    clf = _load(model_name, runtime, threads)
    click.echo(
        f"model {clf.info.name} {clf.info.version} ({getattr(clf, 'runtime', '?')})", err=True
    )
    if functional:
        sets.append(("functional", functional_suite()))
    report: dict[str, Any] = {
        "model": f"{clf.info.name} {clf.info.version}",
        "thresholds": thresholds,
    }
    for name, examples in sets:
        result = evaluate(clf, examples, thresholds)
        if swap and name != "functional" and all("group" not in e.meta for e in examples):
            result["swap_dev"] = swap_consistency(
                clf, dev_swap_pairs(examples), thresholds=thresholds
            )
        write_report(result, examples, out_dir / name)
        click.echo(f"== {name} (n={len(examples)}) -> {out_dir / name}")
        for line in summary_lines(result):
            click.echo(line)
        report[name] = {k: v for k, v in result.items() if not k.startswith("_")}
    if swap:
        report["swap_functional"] = swap_consistency(clf, swap_sets(), thresholds=thresholds)
        click.echo(f"swap_functional: {json.dumps(report['swap_functional'])}")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    click.echo(f"wrote {out_dir / 'report.json'}")


@model.command()
@click.option("--model", "model_name", default="embedded", show_default=True)
@click.option("--runtimes", default="torch,onnx", show_default=True)
@click.option("--batches", default="1,8,32,64", show_default=True)
@click.option("--threads", type=int, default=2, show_default=True)
@click.option(
    "--n",
    "n_texts",
    type=int,
    default=256,
    show_default=True,
    help="Distinct comments to cycle through.",
)
@click.option("--seconds", type=float, default=6.0, show_default=True, help="Time per batch size.")
@click.option(
    "--data",
    type=click.Path(dir_okay=False, path_type=Path),
    default=SHARED_DATA / "toxicity-dev.jsonl",
    show_default=True,
    help="Where the sample comments come from.",
)
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path))
def bench(
    model_name: str,
    runtimes: str,
    batches: str,
    threads: int,
    n_texts: int,
    seconds: float,
    data: Path,
    out_file: Path | None,
) -> None:
    """Comments/s per runtime and batch size, cold load time and peak RSS of a worker."""
    from tqdm import tqdm

    from moderation.classifier.bench import run_child, sample_texts

    texts = sample_texts(data, n_texts)
    sizes = tuple(int(b) for b in batches.split(","))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        texts_file = Path(tmp) / "texts.json"
        texts_file.write_text(json.dumps(texts))
        for runtime in tqdm(runtimes.split(","), desc="bench", unit="runtime"):
            if runtime != "torch":
                # A first load may export the ONNX cache (torch imported, seconds); workers
                # start from the cache, so that is what load time and RSS must measure.
                run_child(model_name, runtime, threads, (1,), texts_file, 0.0)
            res = run_child(model_name, runtime, threads, sizes, texts_file, seconds)
            results.append(res)
            tqdm.write(json.dumps(res))
    for r in results:
        if "error" in r:
            click.echo(f"{r['runtime']:6s} ERROR {r['error'][-300:]}")
            continue
        tput = "  ".join(f"b{b}={v:.0f}/s" for b, v in r["comments_per_s"].items())
        click.echo(
            f"{r['runtime']:6s} load={r['load_s']:.2f}s rss={r['peak_rss_mb']:.0f}MB "
            f"explain={r['explain_ms']:.0f}ms  {tput}"
        )
    if out_file:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        out_file.write_text(json.dumps(results, indent=2) + "\n")
        png = out_file.with_suffix(".png")
        plot_throughput([r for r in results if "error" not in r], png)
        click.echo(f"wrote {out_file} and {png}")
    if any("error" in r for r in results):
        sys.exit(1)


def plot_throughput(results: list[dict[str, Any]], path: Path) -> None:
    """Comments/s against batch size, one line per runtime."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for r in results:
        sizes = [int(b) for b in r["comments_per_s"]]
        label = f"{r['runtime']} (load {r['load_s']:.1f} s, {r['peak_rss_mb']:.0f} MB)"
        ax.plot(sizes, list(r["comments_per_s"].values()), marker="o", label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size")
    ax.set_ylabel("comments / s")
    ax.set_title("Classifier throughput")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


@model.command("export-onnx")
@click.option(
    "--checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True
)
@click.option(
    "--hf-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Config + tokenizer directory (default: the checkpoint's directory).",
)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option(
    "--quantize/--no-quantize",
    default=False,
    show_default=True,
    help="Also write model.int8.onnx (dynamic int8; see the model card on quality).",
)
def export_onnx_cmd(checkpoint: Path, hf_dir: Path | None, out_dir: Path, quantize: bool) -> None:
    """Export a BERT-family Detoxify checkpoint to ONNX (optionally int8)."""
    from moderation.classifier.onnx_backend import export_onnx

    path = export_onnx(checkpoint, hf_dir or checkpoint.parent, out_dir, quantize=quantize)
    click.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


@model.command("graph")
@click.option(
    "--checkpoint",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Default: the embedded model's checkpoint.",
)
@click.option(
    "--hf-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Config + tokenizer directory (default: the checkpoint's directory).",
)
def graph_cmd(checkpoint: Path | None, hf_dir: Path | None) -> None:
    """Write the weightless ONNX graph of a checkpoint's architecture into the package
    (moderation/classifier/graphs/), so that installs without torch can run every checkpoint
    of that architecture. Needs torch (the [torch] extra); only a new architecture needs it."""
    from moderation.classifier.embedded import CHECKPOINT_NAME, EMBEDDED_DIR
    from moderation.classifier.graph import build_graph

    ckpt = checkpoint or EMBEDDED_DIR / CHECKPOINT_NAME
    path = build_graph(ckpt, hf_dir or ckpt.parent)
    click.echo(f"wrote {path} ({path.stat().st_size / 1e3:.0f} KB)")


@model.command()
@click.option(
    "--checkpoint",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="A trained model.ckpt (e.g. var/train/model.ckpt).",
)
@click.option(
    "--to",
    "target",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Default: the embedded model directory.",
)
@click.option(
    "--calibrate-on",
    "calibrate_on",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Labeled JSONL to fit per-label calibration on (folded into the head).",
)
@click.option(
    "--not-scored",
    "not_scored",
    multiple=True,
    type=click.Choice(LABELS),
    help="A label trained on too little to trust: left out of verdicts (repeatable).",
)
def ship(
    checkpoint: Path, target: Path | None, calibrate_on: Path | None, not_scored: tuple[str, ...]
) -> None:
    """Copy a trained checkpoint as fp16 into the embedded directory (model card: by hand)."""
    from moderation.classifier.data import read_jsonl
    from moderation.classifier.embedded import EMBEDDED_DIR
    from moderation.classifier.evaluate import predict_all
    from moderation.classifier.train import calibrate_checkpoint, ship_checkpoint

    path = ship_checkpoint(checkpoint, target or EMBEDDED_DIR, not_scored)
    if calibrate_on is not None:
        dev = read_jsonl(calibrate_on)
        clf = _load(str(path), "auto", 2)
        scores = predict_all(clf, [e.text for e in dev], desc="calibration scores")
        report = calibrate_checkpoint(path, dev, scores)
        for label, entry in report.items():
            click.echo(f"{label:16s} {json.dumps(entry)}")
    click.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB); update MODEL_CARD.md")


@model.command()
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), required=True)
def suite(out_file: Path) -> None:
    """Write the functional test suite as JSONL (functionality and group in `meta`)."""
    from moderation.classifier.data import write_jsonl
    from moderation.classifier.functional import functional_suite

    cases = functional_suite()
    write_jsonl(out_file, cases)
    click.echo(f"wrote {len(cases)} cases to {out_file}")


@model.command()
@click.option(
    "--dev",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=SHARED_DATA / "toxicity-dev.jsonl",
    show_default=True,
    help="Dev JSONL: its non-toxic Wikipedia comments are the long neutral prose.",
)
@click.option("--model", "model_name", default="embedded", show_default=True)
@click.option("--threads", type=int, default=2, show_default=True)
@click.option(
    "--windows",
    default="512:64,256:32,128:32,128:64",
    show_default=True,
    help="Window options to compare, TOKENS:OVERLAP, comma-separated.",
)
@click.option("--per-length", type=int, default=40, show_default=True)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=PROJECT_ROOT / "var" / "stress",
    show_default=True,
)
def stress(
    dev: Path, model_name: str, threads: int, windows: str, per_length: int, out_dir: Path
) -> None:
    """Long comments with a buried insult vs long neutral ones, per window option; and
    whether explanation spans land on the offending words. JSON + PNG."""
    from moderation.classifier.data import read_jsonl
    from moderation.classifier.evaluate import flag_thresholds
    from moderation.classifier.stress import (
        WindowOption,
        long_cases,
        long_comment_study,
        span_cases,
        span_hit_rate,
    )

    try:
        options = [
            WindowOption(int(w.split(":")[0]), int(w.split(":")[1])) for w in windows.split(",")
        ]
    except (ValueError, IndexError) as exc:
        raise click.BadParameter(f"{windows!r}: expected TOKENS:OVERLAP,...") from exc
    clf = _load(model_name, "auto", threads)
    threshold = flag_thresholds()["toxicity"]
    cases = long_cases(read_jsonl(dev), per_length=per_length)
    click.echo(f"{len(cases)} long comments, flag threshold {threshold}", err=True)
    study = long_comment_study(
        clf, cases, options, threshold, progress=lambda m: click.echo(m, err=True)
    )
    spans = span_hit_rate(clf, span_cases())
    click.echo(f"span hit rate {spans['hit_rate']:.3f} over {spans['cases']} cases", err=True)
    report = {
        "model": f"{clf.info.name} {clf.info.version}",
        "long_comments": study,
        "spans": spans,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "stress.json").write_text(json.dumps(report, indent=2) + "\n")
    _plot_long_comments(study, out_dir / "long_comments.png")
    for row in study:
        click.echo(
            f"{row['option']:36s} buried recall {row['recall_buried']:.3f}  "
            f"neutral flagged {row['neutral_flagged']:.3f}  AUC {row['auc']:.3f}  "
            f"rows/comment {row['model_rows_per_comment']:.2f}"
        )
    click.echo(f"wrote {out_dir / 'stress.json'} and long_comments.png")


def _plot_long_comments(study: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    names = [r["option"].replace(", max", "") for r in study]
    xs = range(len(study))
    ax.bar(
        [x - 0.2 for x in xs], [r["recall_buried"] for r in study], 0.4, label="buried insult found"
    )
    ax.bar(
        [x + 0.2 for x in xs], [r["neutral_flagged"] for r in study], 0.4, label="neutral flagged"
    )
    ax.set_xticks(list(xs))
    ax.set_xticklabels(names, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_title("long comments: window size (max over windows)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


@model.command()
@click.option(
    "--data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=SHARED_DATA / "toxicity-dev.jsonl",
    show_default=True,
)
@click.option("--model", "model_name", default="embedded", show_default=True)
@click.option("--threads", type=int, default=2, show_default=True)
@click.option("--flag-precision", type=float, default=0.8, show_default=True)
@click.option("--reject-precision", type=float, default=0.97, show_default=True)
@click.option(
    "--floor",
    type=float,
    default=0.5,
    show_default=True,
    help="Never below this score: calibrated, 0.5 is 'more likely than not'.",
)
def thresholds(
    data: Path,
    model_name: str,
    threads: int,
    flag_precision: float,
    reject_precision: float,
    floor: float,
) -> None:
    """Derive flag/reject thresholds per label from (calibrated) scores on labeled data;
    prints the `thresholds:` block of rules/thresholds.yaml with the precision and recall
    each was chosen for. Labels with too few positives keep what the file says."""
    from moderation.classifier.calibration import MIN_CLASS_ROWS, threshold_for_precision
    from moderation.classifier.data import annotated, read_jsonl
    from moderation.classifier.evaluate import predict_all

    try:
        examples = read_jsonl(data)
    except ValueError as exc:
        raise click.ClickException(f"refusing to derive thresholds: {exc}") from exc
    clf = _load(model_name, "auto", threads)
    scores = predict_all(clf, [e.text for e in examples], desc="thresholds")
    click.echo(
        f"# derived by: moderation model thresholds --data {data.name} "
        f"--flag-precision {flag_precision} --reject-precision {reject_precision} "
        f"--floor {floor}; model {clf.info.version}"
    )
    click.echo("thresholds:")
    for label in clf.labels:
        y, p, _ = annotated(examples, scores, label)
        if sum(y) < MIN_CLASS_ROWS:
            click.echo(f"  # {label}: {sum(y)} positives in {len(y)} rows, too few to derive")
            continue
        parts, notes = [], []
        for action, target in (("flag", flag_precision), ("reject", reject_precision)):
            chosen = threshold_for_precision(y, p, target, floor=floor)
            if chosen is None:
                notes.append(f"no {action} threshold reaches precision {target}")
                continue
            parts.append(f"{action}: {chosen.threshold:.2f}")
            notes.append(f"{action} P {chosen.precision:.2f} / R {chosen.recall:.2f}")
        click.echo(
            f"  {label + ':':16s} {{{', '.join(parts)}}}  "
            f"# n={len(y)}, {sum(y)} positive; " + "; ".join(notes)
        )


@model.command("quantize-study")
@click.option(
    "--data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=SHARED_DATA / "toxicity-dev.jsonl",
    show_default=True,
)
@click.option("--every", type=int, default=5, show_default=True, help="Use every Nth row.")
@click.option("--threads", type=int, default=1, show_default=True)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=PROJECT_ROOT / "var" / "quantize",
    show_default=True,
)
def quantize_study(data: Path, every: int, threads: int, out_dir: Path) -> None:
    """int8 variants of the embedded model against fp32 on dev comments: score change, AUC
    change, comments/s. A variant may be used only if scores move <= 0.02 and AUC <= 0.002."""
    from moderation.classifier.data import read_jsonl
    from moderation.classifier.detoxify_backend import file_version
    from moderation.classifier.embedded import CHECKPOINT_NAME, EMBEDDED_DIR
    from moderation.classifier.onnx_backend import export_onnx
    from moderation.classifier.quantize import study

    ckpt = EMBEDDED_DIR / CHECKPOINT_NAME
    fp32 = export_onnx(ckpt, EMBEDDED_DIR, out_dir / "fp32")
    examples = read_jsonl(data)[::every]
    report = study(
        fp32,
        EMBEDDED_DIR,
        examples,
        out_dir,
        threads=threads,
        progress=lambda m: click.echo(m, err=True),
    )
    report["model"] = f"embedded-minilm {file_version(ckpt)}"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "quantize.json").write_text(json.dumps(report, indent=2) + "\n")
    for row in report["variants"][1:]:
        click.echo(
            f"{row['variant']:36s} x{row['speedup']:.2f}  max change {row['max_score_change']:.3f}  "
            f"AUC change {row['max_auc_change']:.4f}  {'keeps' if row['keeps_quality'] else 'fails'}"
        )
