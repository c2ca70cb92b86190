"""The fast path: the same model exported to ONNX, int8 dynamic quantisation, ONNX Runtime.

Importing this module does not import torch: a worker on this path needs only onnxruntime
and tokenizers, which keeps start-up time and resident memory small.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
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
from moderation.domain.labels import LABELS
from moderation.domain.verdict import Span

ONNX_INT8_NAME = "model.int8.onnx"
ONNX_FP32_NAME = "model.onnx"
# Written next to the .onnx file: the labels and where the model came from.
ONNX_META_NAME = "onnx-meta.json"


class OnnxClassifier:
    """ONNX Runtime session + the tokenizer.json of the Hugging Face model directory."""

    runtime = "onnx"

    def __init__(
        self,
        *,
        name: str,
        onnx_path: Path,
        tokenizer_dir: Path,
        threads: int = 1,
        batch_size: int = 32,
        window: int = 512,
        version: str | None = None,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        if not onnx_path.is_file():
            raise ModelLoadError(f"ONNX model {onnx_path} does not exist")
        tok_file = tokenizer_dir / "tokenizer.json"
        if not tok_file.is_file():
            raise ModelLoadError(f"{tokenizer_dir} has no tokenizer.json")
        meta_file = onnx_path.parent / ONNX_META_NAME
        meta: dict[str, Any] = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
        labels = tuple(meta.get("labels", LABELS))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._session = ort.InferenceSession(
                str(onnx_path), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise ModelLoadError(f"cannot load ONNX model {onnx_path}: {exc}") from exc
        n_out = self._session.get_outputs()[0].shape[-1]
        if isinstance(n_out, int) and n_out != len(labels):
            raise ModelLoadError(
                f"wrong number of labels: {onnx_path} has {n_out} outputs, expected {len(labels)}"
            )
        self._tok = Tokenizer.from_file(str(tok_file))
        self._tok.no_truncation()
        self._tok.no_padding()
        special = _special_ids(self._tok, tokenizer_dir)
        self.not_scored = tuple(meta.get("not_scored", ())) or not_scored_labels(tokenizer_dir)
        # Outputs of untrained heads are dropped here, so nothing downstream can use them.
        self._columns = [i for i, label in enumerate(labels) if label not in self.not_scored]
        self.labels: tuple[str, ...] = tuple(labels[i] for i in self._columns)
        # The runtime is part of the version: int8 scores differ from torch's.
        suffix = "+onnx-int8" if "int8" in onnx_path.name else "+onnx"
        self.info = ModelInfo(name=name, version=(version or str(meta.get("version", ""))) + suffix)
        self.scorer = WindowedScorer(
            encode=self._encode,
            forward=self._forward,
            cls_id=special["cls"],
            sep_id=special["sep"],
            pad_id=special["pad"],
            window=window,
            overlap=min(64, window // 4),
            batch_size=batch_size,
        )
        self.explain_config = ExplainConfig()

    def _encode(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self._tok.encode_batch(texts, add_special_tokens=False)]

    def _forward(self, input_ids: IntArray, mask: IntArray) -> FloatArray:
        out = self._session.run(["logits"], {"input_ids": input_ids, "attention_mask": mask})
        return np.asarray(out[0], dtype=np.float32)

    def predict(self, texts: Sequence[str]) -> list[dict[str, float]]:
        if not texts:
            return []
        return self.to_scores(self.scorer.scores(texts))

    def to_scores(self, probs: FloatArray) -> list[dict[str, float]]:
        """Rows of model outputs -> label scores (the batcher scores windows itself)."""
        return [
            {label: float(row[i]) for label, i in zip(self.labels, self._columns, strict=True)}
            for row in probs
        ]

    def explain(self, text: str, labels: Sequence[str]) -> list[Span]:
        wanted = [lb for lb in labels if lb in self.labels]
        return explain_by_occlusion(text, wanted, self.predict, self.explain_config)


def _special_ids(tok: Any, tokenizer_dir: Path) -> dict[str, int]:
    names = {"cls": "[CLS]", "sep": "[SEP]", "pad": "[PAD]"}
    smap = tokenizer_dir / "special_tokens_map.json"
    if smap.is_file():
        data = json.loads(smap.read_text())
        for key in names:
            value = data.get(f"{key}_token")
            if isinstance(value, dict):
                value = value.get("content")
            if isinstance(value, str):
                names[key] = value
    out: dict[str, int] = {}
    for key, token in names.items():
        idx = tok.token_to_id(token)
        if idx is None:
            raise ModelLoadError(f"tokenizer in {tokenizer_dir} lacks special token {token}")
        out[key] = int(idx)
    return out


def export_onnx(
    checkpoint: Path,
    hf_dir: Path,
    out_dir: Path,
    *,
    quantize: bool = False,
    opset: int = 17,
) -> Path:
    """Export a Detoxify checkpoint to `out_dir` (fp32, and int8 if asked); returns the file.
    Needs torch (the `[torch]` extra); `moderation.classifier.graph.assemble_onnx` builds the
    same fp32 model without it where a graph for the architecture ships.

    int8 dynamic quantisation is opt-in: measured on the embedded MiniLM it moves label
    scores by up to 0.16-0.8 (per-channel / per-tensor; 36-65 % of dev comments move by more
    than 0.02), so it does not keep quality; fp32 ONNX Runtime matches torch exactly and is
    still faster (see MODEL_CARD.md).

    Files are written under temporary names and renamed, so concurrent workers that build
    the same cache never read a half-written model.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from moderation.classifier.detoxify_backend import read_checkpoint

    loaded = read_checkpoint(checkpoint, hf_dir)
    classes = list(loaded["config"]["dataset"]["args"]["classes"])
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=out_dir, suffix=".onnx.tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    torch_export(loaded["state_dict"], hf_dir, tmp, opset=opset, fold=True)
    fp32 = out_dir / ONNX_FP32_NAME
    tmp.replace(fp32)
    result = fp32
    if quantize:
        fd, tmp_name = tempfile.mkstemp(dir=out_dir, suffix=".int8.tmp")
        os.close(fd)
        quantize_dynamic(str(fp32), tmp_name, weight_type=QuantType.QInt8, per_channel=True)
        result = out_dir / ONNX_INT8_NAME
        Path(tmp_name).replace(result)
    write_model_dir_files(checkpoint, hf_dir, out_dir, classes, quantized=quantize)
    return result


def torch_export(state_dict: Any, hf_dir: Path, path: Path, *, opset: int, fold: bool) -> None:
    """The torch.onnx export of BertForSequenceClassification with `state_dict`, logits out.
    `fold=False` keeps every weight an initializer named after its parameter (ONNX Runtime
    folds the transposes when it loads the model), which is what a weightless graph needs."""
    import torch
    from transformers import AutoConfig, BertForSequenceClassification

    config = AutoConfig.from_pretrained(str(hf_dir), attn_implementation="eager")
    model: Any = BertForSequenceClassification(config)
    model.load_state_dict({k: v.float() for k, v in state_dict.items()}, strict=False)
    model.eval()

    class Logits(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = self.inner(
                input_ids=input_ids, attention_mask=attention_mask
            ).logits
            return out

    ids = torch.ones((2, 12), dtype=torch.long)
    mask = torch.ones((2, 12), dtype=torch.long)
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of the dynamo one, which needs
        # onnxscript (not a dependency); its tracer warnings are about branches on shapes
        # that are constant for (ids, mask) of equal width, which is all we feed it.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Logits(model),
            (ids, mask),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"},
                "logits": {0: "batch"},
            },
            opset_version=opset,
            dynamo=False,
            do_constant_folding=fold,
        )


def write_model_dir_files(
    checkpoint: Path, hf_dir: Path, out_dir: Path, classes: list[str], *, quantized: bool
) -> None:
    """A self-contained directory: an .onnx path alone is enough to load it later."""
    from moderation.classifier.detoxify_backend import file_version

    for name in ("tokenizer.json", "special_tokens_map.json", "tokenizer_config.json", "vocab.txt"):
        src = hf_dir / name
        if src.is_file() and src.resolve() != (out_dir / name).resolve():
            shutil.copyfile(src, out_dir / name)
    meta = {
        "labels": classes,
        "version": file_version(checkpoint),
        "source": str(checkpoint),
        "quantized": quantized,
        "not_scored": list(not_scored_labels(hf_dir)),
    }
    (out_dir / ONNX_META_NAME).write_text(json.dumps(meta, indent=2) + "\n")
