"""Fine-tune MiniLM-L6 as a 7-label multi-label classifier; writes a Detoxify checkpoint.

A label a row does not annotate is masked out of the loss. Batches are length-bucketed with
dynamic padding, which is what makes an epoch affordable on two CPU cores (tweets are short).
"""

from __future__ import annotations

import html
import json
import math
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from moderation.classifier.data import Example, annotated, read_jsonl
from moderation.classifier.embedded import (
    CHECKPOINT_NAME,
    detoxify_config,
    minilm_dir,
    save_atomically,
    write_hf_dir,
)
from moderation.classifier.templates import swap_identity, training_cases
from moderation.domain.labels import LABELS

_HANDLE = re.compile(r"@\w+")


@dataclass
class TrainConfig:
    data: list[Path]
    out_dir: Path
    dev: Path | None = None
    epochs: float = 2.0
    batch_size: int = 32
    lr: float = 8e-5
    warmup: float = 0.06
    weight_decay: float = 0.01
    max_len: int = 128
    seed: int = 13
    threads: int = 2
    limit: int | None = None
    max_steps: int | None = None
    templates: bool = True
    template_repeat: int = 2
    swap_augment: bool = True
    # Counterfactual copies per real comment that names an identity: the more copies, the
    # less an identity word alone can move the score (issue 12 measured 0.061 with one).
    swap_copies: int = 2
    label_weights: dict[str, float] = field(
        default_factory=lambda: {"identity_attack": 1.5, "threat": 1.0}
    )
    # Positives of the Jigsaw-only labels are ~5 % of the ~5,000 rows that annotate them;
    # weighting them up lets the heads learn at all. The scores this inflates are calibrated
    # afterwards (`moderation model ship --calibrate-on`), so the weight does not reach the
    # verdict.
    pos_weights: dict[str, float] = field(
        default_factory=lambda: {"insult": 3.0, "obscene": 3.0, "severe_toxicity": 3.0}
    )
    fp16: bool = False
    base_model: Path | None = None


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_training_set(cfg: TrainConfig, rng: random.Random) -> list[Example]:
    rows: list[Example] = []
    for path in cfg.data:
        rows += read_jsonl(path, limit=cfg.limit)
    extra: list[Example] = []
    for ex in rows:
        # Davidson keeps raw @handles and HTML entities, TweetEval has "@user": without this
        # the model can learn the source (and its toxicity rate) from the style.
        if ex.source == "davidson" and rng.random() < 0.5:
            ex.text = html.unescape(_HANDLE.sub("@user", ex.text))
        if cfg.swap_augment:
            for copy in range(cfg.swap_copies):
                swapped = swap_identity(ex.text, rng)
                if swapped is None:
                    break
                extra.append(Example(swapped, dict(ex.labels), f"{ex.id}:swap{copy}", ex.source))
    if cfg.templates:
        for r in range(cfg.template_repeat):
            for case in training_cases(seed=cfg.seed + r, per_frame=40):
                extra.append(Example(case.text, case.labels, f"tpl:{case.functionality}", "tpl"))
    return rows + extra


def _batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffle, sort by length inside chunks of 50 batches, then shuffle the batches."""
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    chunk = batch_size * 50
    batches: list[list[int]] = []
    for c in range(0, len(idx), chunk):
        part = sorted(idx[c : c + chunk], key=lambda i: lengths[i])
        batches += [part[b : b + batch_size] for b in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def masked_bce(
    logits: Any,
    targets: Any,
    mask: Any,
    weights: Any | None = None,
    pos_weight: Any | None = None,
) -> Any:
    """Mean binary cross-entropy over the (row, label) cells that are annotated."""
    import torch

    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, targets, reduction="none", pos_weight=pos_weight
    )
    if weights is not None:
        loss = loss * weights
    denom = mask.sum().clamp(min=1.0)
    return (loss * mask).sum() / denom


def encode_examples(
    examples: Sequence[Example], tokenizer: Any, max_len: int
) -> tuple[list[list[int]], Any, Any]:
    import torch

    enc = tokenizer([e.text for e in examples], truncation=True, max_length=max_len, padding=False)
    ids: list[list[int]] = enc["input_ids"]
    targets = torch.zeros(len(examples), len(LABELS))
    mask = torch.zeros(len(examples), len(LABELS))
    for r, ex in enumerate(examples):
        for label, value in ex.labels.items():
            j = LABELS.index(label)
            targets[r, j] = float(value)
            mask[r, j] = 1.0
    return ids, targets, mask


def pad(ids: Sequence[Sequence[int]], pad_id: int) -> tuple[Any, Any]:
    import torch

    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(ids), width), dtype=torch.long)
    for r, x in enumerate(ids):
        input_ids[r, : len(x)] = torch.tensor(x, dtype=torch.long)
        attention[r, : len(x)] = 1
    return input_ids, attention


def score(model: Any, tokenizer: Any, texts: Sequence[str], max_len: int, bs: int = 64) -> Any:
    """Sigmoid scores (n x labels), batches sorted by length; truncates at `max_len`."""
    import torch

    model.eval()
    enc = tokenizer(list(texts), truncation=True, max_length=max_len, padding=False)
    order = sorted(range(len(texts)), key=lambda i: len(enc["input_ids"][i]))
    out = torch.zeros(len(texts), model.config.num_labels)
    with torch.inference_mode():
        for b in range(0, len(order), bs):
            part = order[b : b + bs]
            input_ids, attention = pad([enc["input_ids"][i] for i in part], tokenizer.pad_token_id)
            logits = model(input_ids=input_ids, attention_mask=attention).logits
            out[part] = torch.sigmoid(logits.float())
    return out


def dev_metrics(
    model: Any, tokenizer: Any, examples: Sequence[Example], max_len: int
) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score

    probs = score(model, tokenizer, [e.text for e in examples], max_len)
    result: dict[str, float] = {}
    for j, label in enumerate(LABELS):
        rows = [
            (e.labels[label], float(probs[i, j]))
            for i, e in enumerate(examples)
            if label in e.labels
        ]
        ys = {y for y, _ in rows}
        if len(ys) == 2:
            result[f"{label}_auc"] = float(
                roc_auc_score([y for y, _ in rows], [p for _, p in rows])
            )
    return result


def save_checkpoint(
    model: Any,
    out_dir: Path,
    *,
    fp16: bool,
    extra: dict[str, Any] | None = None,
    base: Path | None = None,
    not_scored: Sequence[str] = (),
) -> Path:
    """`out_dir/model.ckpt` + HF config/tokenizer: what `Detoxify(checkpoint=...)` loads."""

    write_hf_dir(out_dir, base, not_scored=tuple(not_scored))
    state = {
        k: (v.half() if fp16 and v.is_floating_point() else v)
        for k, v in model.state_dict().items()
    }
    ckpt = out_dir / CHECKPOINT_NAME
    save_atomically(
        {"config": detoxify_config(out_dir), "state_dict": state, **(extra or {})}, ckpt
    )
    return ckpt


def train(cfg: TrainConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    import torch
    from tqdm import tqdm
    from transformers import AutoTokenizer, BertForSequenceClassification

    torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    rng = random.Random(cfg.seed)
    base = cfg.base_model or minilm_dir()
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    examples = build_training_set(cfg, rng)
    log(f"training rows: {len(examples)} (max_len {cfg.max_len}, batch {cfg.batch_size})")
    ids, targets, mask = encode_examples(examples, tokenizer, cfg.max_len)
    lengths = [len(x) for x in ids]
    dev = read_jsonl(cfg.dev) if cfg.dev else []

    model = BertForSequenceClassification.from_pretrained(
        str(base), num_labels=len(LABELS), problem_type="multi_label_classification"
    )
    weights = torch.tensor([cfg.label_weights.get(label, 1.0) for label in LABELS])
    pos_weight = torch.tensor([cfg.pos_weights.get(label, 1.0) for label in LABELS])
    no_decay = ("bias", "LayerNorm.weight")
    params = [
        {
            "params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)],
            "weight_decay": cfg.weight_decay,
        },
        {
            "params": [p for n, p in model.named_parameters() if n.endswith(no_decay)],
            "weight_decay": 0.0,
        },
    ]
    optim = torch.optim.AdamW(params, lr=cfg.lr)
    steps_per_epoch = math.ceil(len(examples) / cfg.batch_size)
    total = max(1, math.ceil(steps_per_epoch * cfg.epochs))
    if cfg.max_steps is not None:
        total = min(total, cfg.max_steps)
    warm = max(1, int(total * cfg.warmup))

    def lr_at(step: int) -> float:
        return step / warm if step < warm else max(0.0, (total - step) / max(1, total - warm))

    sched = torch.optim.lr_scheduler.LambdaLR(optim, lr_at)
    history: list[dict[str, Any]] = []
    step = 0
    started = time.monotonic()
    bar = tqdm(total=total, desc="train", unit="step", mininterval=5.0)
    epoch = 0
    while step < total:
        model.train()
        running = 0.0
        for n, batch in enumerate(_batches(lengths, cfg.batch_size, rng), 1):
            input_ids, attention = pad([ids[i] for i in batch], tokenizer.pad_token_id)
            logits = model(input_ids=input_ids, attention_mask=attention).logits
            loss = masked_bce(logits, targets[batch], mask[batch], weights, pos_weight)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step()
            sched.step()
            optim.zero_grad(set_to_none=True)
            step += 1
            running += loss.detach().item()
            bar.update(1)
            if n % 20 == 0:
                bar.set_postfix(epoch=epoch, loss=f"{running / n:.4f}")
            if step >= total:
                break
        epoch += 1
        record: dict[str, Any] = {"epoch": epoch, "step": step, "loss": running / max(1, n)}
        if dev:
            record.update(dev_metrics(model, tokenizer, dev, cfg.max_len))
        record["elapsed_s"] = round(time.monotonic() - started, 1)
        history.append(record)
        log(json.dumps(record))
        save_checkpoint(model, cfg.out_dir / f"epoch{epoch}", fp16=False, base=base)
    bar.close()
    summary: dict[str, Any] = {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
        "rows": len(examples),
        "steps": step,
        "history": history,
    }
    summary["config"]["data"] = [str(p) for p in cfg.data]
    counts = {label: int(mask[:, j].sum()) for j, label in enumerate(LABELS)}
    summary["label_counts"] = counts
    summary["untrained_labels"] = [label for label, n in counts.items() if n == 0]
    neutralise_heads(model.state_dict(), summary["untrained_labels"])
    save_checkpoint(
        model,
        cfg.out_dir,
        fp16=cfg.fp16,
        extra={"training": summary},
        base=base,
        not_scored=summary["untrained_labels"],
    )
    (cfg.out_dir / "training.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


UNTRAINED_LOGIT = -8.0


def neutralise_heads(state_dict: dict[str, Any], labels: Sequence[str]) -> None:
    """Make labels no training row annotates score ~0 instead of a meaningless ~0.5.

    A freshly initialised head outputs about 0.5 for everything, which at a 0.6 flag
    threshold would flag at random; a constant near 0 says "this model does not know".
    """
    import torch

    with torch.no_grad():
        for label in labels:
            j = LABELS.index(label)
            state_dict["classifier.weight"][j].zero_()
            state_dict["classifier.bias"][j] = UNTRAINED_LOGIT


def ship_checkpoint(checkpoint: Path, target: Path, not_scored: Sequence[str] = ()) -> Path:
    """Rewrite a trained checkpoint as fp16 into `target` (config + tokenizer alongside).

    `not_scored` adds labels that were trained on too little to be trusted: like untrained
    ones, the classifiers leave them out of the verdict.
    """
    import torch

    loaded = torch.load(checkpoint, map_location="cpu", weights_only=False)
    state = {k: v.float() if v.is_floating_point() else v for k, v in loaded["state_dict"].items()}
    training = dict(loaded.get("training") or {})
    untrained = training.get("untrained_labels")
    if untrained is None:
        # Checkpoints from before untrained_labels was recorded: recount from their data.
        seen: set[str] = set()
        for path in training.get("config", {}).get("data", []):
            seen |= {label for ex in read_jsonl(Path(path)) for label in ex.labels}
        seen |= {label for c in training_cases() for label in c.labels}
        untrained = [label for label in LABELS if label not in seen]
        training["untrained_labels"] = untrained
    neutralise_heads(state, untrained)
    training["not_scored"] = [lb for lb in LABELS if lb in set(untrained) | set(not_scored)]
    write_hf_dir(target, checkpoint.parent, not_scored=tuple(training["not_scored"]))
    ckpt = target / CHECKPOINT_NAME
    half = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    save_atomically(
        {"config": detoxify_config(target), "state_dict": half, "training": training}, ckpt
    )
    return ckpt


def calibrate_checkpoint(
    ckpt: Path, dev: Sequence[Example], scores: Sequence[dict[str, float]]
) -> dict[str, dict[str, object]]:
    """Fit per-label Platt scaling on `scores` (the checkpoint's own, on `dev`) and fold it
    into the checkpoint's classifier head in place; the report goes into its training record.
    """
    import numpy as np
    import torch

    from moderation.classifier.calibration import Platt, fit_labels, fold_into_head

    rows = {label: annotated(dev, scores, label) for label in LABELS}
    report = fit_labels({label: cols for label, cols in rows.items() if cols[0]})
    loaded = torch.load(ckpt, map_location="cpu", weights_only=False)
    state = loaded["state_dict"]
    weight = state["classifier.weight"].float().numpy()
    bias = state["classifier.bias"].float().numpy()
    for label, entry in report.items():
        if entry.get("calibrated"):
            platt = Platt(slope=float(entry["slope"]), offset=float(entry["offset"]))  # type: ignore[arg-type]
            weight, bias = fold_into_head(weight, bias, LABELS.index(label), platt)
    dtype = state["classifier.weight"].dtype
    state["classifier.weight"] = torch.from_numpy(np.ascontiguousarray(weight)).to(dtype)
    state["classifier.bias"] = torch.from_numpy(np.ascontiguousarray(bias)).to(dtype)
    training = dict(loaded.get("training") or {})
    training["calibration"] = {"data": sorted({e.source for e in dev}), "labels": report}
    loaded["training"] = training
    save_atomically(loaded, ckpt)
    return report
