"""The ONNX model of a BERT-family checkpoint, built without torch.

The runtime path needs only ONNX Runtime, but a checkpoint (model.ckpt) is torch's format,
and exporting it to ONNX needs torch. So the project ships the exported *graph* without its
weights (`graphs/bert-<architecture>.onnx`, a few hundred KB): every weight in it is an
initializer named after the checkpoint's parameter (exported unfolded), with its shape but
no values. `assemble_onnx` reads the checkpoint's tensors with a reader that needs no torch
(`checkpoint.read_checkpoint_arrays`), widens them to float32 exactly as torch's `.float()`
does, and fills them in. The result computes what torch's own export computes (the parity
test compares both with the torch model); ONNX Runtime folds the weights' transposes when it
loads it.

A graph fits every checkpoint of the same architecture (config.json's sizes, activation,
labels), whatever its weights: retraining needs no new graph; a new architecture needs one,
written with torch by `moderation model graph`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from moderation.classifier.base import ModelLoadError
from moderation.classifier.checkpoint import read_checkpoint_arrays

GRAPHS_DIR = Path(__file__).resolve().parent / "graphs"
OPSET = 17
# What the graph's operations depend on, from config.json; the weights' values are not in it.
ARCH_FIELDS = (
    "model_type",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "vocab_size",
    "max_position_embeddings",
    "type_vocab_size",
    "hidden_act",
    "layer_norm_eps",
    "position_embedding_type",
)
# The exporter names the parameters of BertForSequenceClassification under its wrapper.
PARAM_PREFIX = "inner."


def architecture(hf_dir: Path) -> dict[str, Any]:
    config = json.loads((hf_dir / "config.json").read_text())
    arch = {name: config.get(name) for name in ARCH_FIELDS}
    arch["position_embedding_type"] = arch["position_embedding_type"] or "absolute"
    arch["num_labels"] = len(config["id2label"]) if "id2label" in config else config["num_labels"]
    arch["opset"] = OPSET
    return arch


def graph_path(hf_dir: Path, graphs_dir: Path = GRAPHS_DIR) -> Path:
    arch = json.dumps(architecture(hf_dir), sort_keys=True)
    return graphs_dir / f"bert-{hashlib.sha256(arch.encode()).hexdigest()[:12]}.onnx"


def build_graph(checkpoint: Path, hf_dir: Path, graphs_dir: Path = GRAPHS_DIR) -> Path:
    """Export the checkpoint's architecture once with torch (the `[torch]` extra) and keep
    the graph without its weights. Returns the graph's path."""
    import onnx

    from moderation.classifier.detoxify_backend import read_checkpoint
    from moderation.classifier.onnx_backend import torch_export

    loaded = read_checkpoint(checkpoint, hf_dir)
    graphs_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / "model.onnx"
        torch_export(loaded["state_dict"], hf_dir, full, opset=OPSET, fold=False)
        model = onnx.load(str(full))
    names = set(loaded["state_dict"])
    for init in model.graph.initializer:
        if not init.name.startswith(PARAM_PREFIX) or init.name[len(PARAM_PREFIX) :] not in names:
            raise ModelLoadError(
                f"the exported graph has a weight {init.name!r} not in the checkpoint"
            )
        if init.data_type != onnx.TensorProto.FLOAT:
            raise ModelLoadError(f"the exported weight {init.name!r} is not float32")
        init.ClearField("raw_data")
        init.ClearField("float_data")
    entry = model.metadata_props.add()
    entry.key, entry.value = "moderation.architecture", json.dumps(architecture(hf_dir))
    out = graph_path(hf_dir, graphs_dir)
    onnx.save(model, str(out))
    return out


def assemble_onnx(
    checkpoint: Path, hf_dir: Path, out_dir: Path, graphs_dir: Path = GRAPHS_DIR
) -> Path | None:
    """Write `out_dir/model.onnx` (and the files next to it, as `export_onnx` does) from the
    shipped graph of this architecture and the checkpoint's weights, without torch. None
    when no graph ships for the architecture."""
    import onnx

    from moderation.classifier.onnx_backend import ONNX_FP32_NAME, write_model_dir_files

    graph = graph_path(hf_dir, graphs_dir)
    if not graph.is_file():
        return None
    loaded = read_checkpoint_arrays(checkpoint)
    try:
        classes = [str(c) for c in loaded["config"]["dataset"]["args"]["classes"]]
    except (KeyError, TypeError) as exc:
        raise ModelLoadError(f"{checkpoint}: config lacks dataset.args.classes ({exc})") from exc
    state: dict[str, Any] = loaded["state_dict"]
    model = onnx.load(str(graph))
    for init in model.graph.initializer:
        key = init.name[len(PARAM_PREFIX) :]
        value = state.get(key)
        if not isinstance(value, np.ndarray):
            raise ModelLoadError(f"{checkpoint} has no weight {key!r} for the graph {graph.name}")
        if tuple(value.shape) != tuple(init.dims):
            raise ModelLoadError(
                f"{checkpoint}: {key} has shape {tuple(value.shape)}, the graph "
                f"{graph.name} expects {tuple(init.dims)}"
            )
        init.raw_data = np.ascontiguousarray(value, dtype=np.float32).tobytes()
    outputs = model.graph.output[0].type.tensor_type.shape.dim[-1].dim_value
    if outputs and outputs != len(classes):
        raise ModelLoadError(f"{checkpoint}: {len(classes)} classes, the graph has other outputs")
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=out_dir, suffix=".onnx.tmp")
    os.close(fd)
    onnx.save(model, tmp_name)
    result = out_dir / ONNX_FP32_NAME
    Path(tmp_name).replace(result)
    write_model_dir_files(checkpoint, hf_dir, out_dir, classes, quantized=False)
    return result
