"""The real `detoxify.Detoxify` class, loaded from a local checkpoint (offline) or by name."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from moderation.classifier.base import ModelInfo, ModelLoadError
from moderation.classifier.embedded import not_scored_labels
from moderation.classifier.runtime import (
    ExplainConfig,
    FloatArray,
    IntArray,
    WindowedScorer,
    explain_by_occlusion,
)
from moderation.domain.labels import LABELS, LEGACY_LABEL_NAMES
from moderation.domain.verdict import Span

PUBLIC_MODELS = ("original", "unbiased", "multilingual", "original-small", "unbiased-small")


def file_version(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:12]


def read_checkpoint(checkpoint: Path, huggingface_config_path: Path | None) -> dict[str, Any]:
    """Load and validate a Detoxify checkpoint; every problem is one clear ModelLoadError.

    `torch.load(weights_only=False)` unpickles arbitrary objects, as Detoxify itself does:
    only load checkpoints you trust.
    """
    import torch

    if not checkpoint.is_file():
        raise ModelLoadError(f"model checkpoint {checkpoint} does not exist")
    try:
        loaded = torch.load(checkpoint, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise ModelLoadError(f"{checkpoint} is not a readable torch checkpoint: {exc}") from exc
    if not isinstance(loaded, dict) or "config" not in loaded or "state_dict" not in loaded:
        raise ModelLoadError(
            f"{checkpoint} is not a Detoxify checkpoint: it needs 'config' and 'state_dict'"
        )
    try:
        classes = list(loaded["config"]["dataset"]["args"]["classes"])
        args = dict(loaded["config"]["arch"]["args"])
    except (KeyError, TypeError) as exc:
        raise ModelLoadError(
            f"{checkpoint}: config lacks arch.args or dataset.args.classes ({exc})"
        ) from exc
    n_out = None
    for key, tensor in loaded["state_dict"].items():
        if key.endswith("classifier.weight") or key.endswith("classifier.out_proj.weight"):
            n_out = int(tensor.shape[0])
    if int(args.get("num_classes", len(classes))) != len(classes) or (
        n_out is not None and n_out != len(classes)
    ):
        raise ModelLoadError(
            f"{checkpoint}: wrong number of labels: {len(classes)} class names, "
            f"num_classes={args.get('num_classes')}, classifier outputs={n_out}"
        )
    if huggingface_config_path is not None:
        cfg_file = huggingface_config_path / "config.json"
        if not cfg_file.is_file():
            raise ModelLoadError(f"{huggingface_config_path} has no config.json")
        hf = json.loads(cfg_file.read_text())
        n_cfg = int(hf.get("num_labels", len(hf.get("id2label", {})) or len(classes)))
        if n_cfg != len(classes):
            raise ModelLoadError(
                f"wrong number of labels: {cfg_file} declares {n_cfg}, "
                f"{checkpoint} has {len(classes)} ({', '.join(classes)})"
            )
        # A shipped checkpoint names the directory it was trained in; the config directory
        # given here is where it lives now.
        args["model_type"] = str(huggingface_config_path)
    loaded["config"]["arch"]["args"] = args
    return dict(loaded)


class DetoxifyClassifier:
    """A Detoxify model with windowing of long texts, length-sorted batches and occlusion."""

    runtime = "torch"

    def __init__(
        self,
        *,
        name: str,
        checkpoint: Path | None = None,
        huggingface_config_path: Path | None = None,
        torch_threads: int = 1,
        batch_size: int = 32,
        window: int = 512,
    ) -> None:
        import torch
        from detoxify import Detoxify

        torch.set_num_threads(torch_threads)
        try:
            if checkpoint is not None:
                loaded = read_checkpoint(checkpoint, huggingface_config_path)
                self._model = _detoxify_from_loaded(loaded, huggingface_config_path)
                version = file_version(checkpoint)
            else:
                if name not in PUBLIC_MODELS:
                    raise ModelLoadError(
                        f"unknown model {name!r}: use embedded, a checkpoint path or one of "
                        + ", ".join(PUBLIC_MODELS)
                    )
                self._model = Detoxify(model_type=name)
                version = name
        except ModelLoadError:
            raise
        except Exception as exc:  # any loader failure becomes one clear start-up error
            raise ModelLoadError(f"cannot load model {name!r} ({checkpoint}): {exc}") from exc
        # fp16 checkpoints keep the repository small; CPU kernels are fast in fp32.
        self._model.model.float().eval()
        names = [LEGACY_LABEL_NAMES.get(c, c) for c in self._model.class_names]
        # Jigsaw bias models carry identity columns as extra outputs; only LABELS are scores.
        self.not_scored = not_scored_labels(huggingface_config_path)
        self._keep = [i for i, n in enumerate(names) if n in LABELS and n not in self.not_scored]
        self.info = ModelInfo(name=name, version=version)
        self.labels: tuple[str, ...] = tuple(names[i] for i in self._keep)
        tok = self._model.tokenizer
        positions = int(getattr(self._model.model.config, "max_position_embeddings", 512))
        self.scorer = WindowedScorer(
            encode=self._encode,
            forward=self._forward,
            cls_id=int(tok.cls_token_id),
            sep_id=int(tok.sep_token_id),
            pad_id=int(tok.pad_token_id),
            window=min(window, positions),
            overlap=min(64, min(window, positions) // 4),
            batch_size=batch_size,
        )
        self.explain_config = ExplainConfig()

    @property
    def detoxify(self) -> Any:
        return self._model

    def _encode(self, texts: list[str]) -> list[list[int]]:
        ids: list[list[int]] = self._model.tokenizer(
            texts, add_special_tokens=False, truncation=False, verbose=False
        )["input_ids"]
        return ids

    def _forward(self, input_ids: IntArray, mask: IntArray) -> FloatArray:
        import torch

        with torch.inference_mode():
            logits = self._model.model(
                input_ids=torch.from_numpy(input_ids), attention_mask=torch.from_numpy(mask)
            )[0]
        return np.asarray(logits.float().numpy(), dtype=np.float32)

    def predict(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """One score per label per text, in input order; long texts are windowed."""
        if not texts:
            return []
        return self.to_scores(self.scorer.scores(texts))

    def to_scores(self, probs: FloatArray) -> list[dict[str, float]]:
        """Rows of model outputs -> label scores (the batcher scores windows itself)."""
        return [{self.labels[k]: float(row[i]) for k, i in enumerate(self._keep)} for row in probs]

    def explain(self, text: str, labels: Sequence[str]) -> list[Span]:
        wanted = [lb for lb in labels if lb in self.labels]
        return explain_by_occlusion(text, wanted, self.predict, self.explain_config)


def _detoxify_from_loaded(loaded: dict[str, Any], hf_dir: Path | None) -> Any:
    """A real `Detoxify` instance built by Detoxify's own loader from an already-read file.

    `Detoxify.__init__` takes only a path and reads the model directory named inside the
    file; going through `get_model_and_tokenizer` lets a checkpoint be read once and moved.
    """
    from detoxify import Detoxify
    from detoxify.detoxify import get_model_and_tokenizer

    model, tokenizer = get_model_and_tokenizer(
        **loaded["config"]["arch"]["args"],
        state_dict=loaded["state_dict"],
        huggingface_config_path=str(hf_dir) if hf_dir is not None else None,
    )
    change = {
        "toxic": "toxicity",
        "identity_hate": "identity_attack",
        "severe_toxic": "severe_toxicity",
    }
    det = Detoxify.__new__(Detoxify)
    det.model = model
    det.tokenizer = tokenizer
    det.class_names = [change.get(c, c) for c in loaded["config"]["dataset"]["args"]["classes"]]
    det.device = "cpu"
    return det
