"""The ONNX model built without torch: a shipped weightless graph filled with a checkpoint's
weights read by a restricted unpickler. Its scores match torch's within 1e-4; the runtime
path imports no torch at all."""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from moderation.classifier.base import ModelLoadError
from moderation.classifier.checkpoint import read_checkpoint_arrays
from moderation.classifier.data import read_jsonl
from moderation.classifier.detoxify_backend import DetoxifyClassifier
from moderation.classifier.embedded import CHECKPOINT_NAME, EMBEDDED_DIR
from moderation.classifier.graph import assemble_onnx, build_graph, graph_path
from moderation.classifier.onnx_backend import OnnxClassifier
from moderation.config import PROJECT_ROOT
from tests.unit.classifier.conftest import DEV, TEXTS, max_label_gap


def test_the_reader_gives_what_torch_load_gives(tiny_model: Path) -> None:
    import torch

    ours = read_checkpoint_arrays(tiny_model / "model.ckpt")
    theirs = torch.load(tiny_model / "model.ckpt", map_location="cpu", weights_only=False)
    assert ours["config"] == theirs["config"]
    assert list(ours["state_dict"]) == list(theirs["state_dict"])
    for key, tensor in theirs["state_dict"].items():
        assert np.array_equal(ours["state_dict"][key], tensor.numpy()), key


class _Boom:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo pwned > /dev/null",))


def test_the_reader_runs_no_code_from_a_checkpoint(tmp_path: Path) -> None:
    evil = tmp_path / "evil.ckpt"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("evil/data.pkl", pickle.dumps({"config": {}, "state_dict": _Boom()}))
    with pytest.raises(ModelLoadError, match=r"holds a posix\.system"):
        read_checkpoint_arrays(evil)


def test_the_reader_names_a_file_that_is_no_checkpoint(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ModelLoadError, match="not a zip-format torch checkpoint"):
        read_checkpoint_arrays(bad)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("m/data.pkl", pickle.dumps([1, 2]))
    bad.write_bytes(buf.getvalue())
    with pytest.raises(ModelLoadError, match="not a Detoxify checkpoint"):
        read_checkpoint_arrays(bad)


def test_the_assembled_model_matches_torch_on_the_tiny_model(
    tiny_model: Path, tmp_path: Path
) -> None:
    graphs = tmp_path / "graphs"
    graph = build_graph(tiny_model / "model.ckpt", tiny_model, graphs)
    assert graph == graph_path(tiny_model, graphs)
    assert graph.stat().st_size < 200_000  # no weights in it
    onnx_path = assemble_onnx(tiny_model / "model.ckpt", tiny_model, tmp_path / "out", graphs)
    assert onnx_path is not None
    torch_clf = DetoxifyClassifier(
        name="tiny", checkpoint=tiny_model / "model.ckpt", huggingface_config_path=tiny_model
    )
    onnx_clf = OnnxClassifier(name="tiny", onnx_path=onnx_path, tokenizer_dir=tiny_model)
    assert onnx_clf.labels == torch_clf.labels
    assert onnx_clf.info.version == torch_clf.info.version + "+onnx"
    assert max_label_gap(torch_clf.predict(TEXTS), onnx_clf.predict(TEXTS)) <= 1e-4
    # No graph ships for the tiny architecture: the caller falls back to torch's exporter.
    assert assemble_onnx(tiny_model / "model.ckpt", tiny_model, tmp_path / "none") is None


@pytest.mark.skipif(
    not (EMBEDDED_DIR / CHECKPOINT_NAME).exists() or not DEV.exists(),
    reason="needs the shipped embedded model and the shared dev set",
)
def test_the_shipped_graph_runs_the_embedded_model_as_torch_does(tmp_path: Path) -> None:
    """The parity the runtime path rests on, on ~470 real comments: within 1e-4."""
    assert graph_path(EMBEDDED_DIR).is_file(), "no graph ships for the embedded model"
    onnx_path = assemble_onnx(EMBEDDED_DIR / CHECKPOINT_NAME, EMBEDDED_DIR, tmp_path)
    assert onnx_path is not None
    texts = [e.text for e in read_jsonl(DEV)][::10] + TEXTS
    torch_clf = DetoxifyClassifier(
        name="embedded",
        checkpoint=EMBEDDED_DIR / CHECKPOINT_NAME,
        huggingface_config_path=EMBEDDED_DIR,
        torch_threads=2,
    )
    onnx_clf = OnnxClassifier(
        name="embedded", onnx_path=onnx_path, tokenizer_dir=EMBEDDED_DIR, threads=2
    )
    assert max_label_gap(torch_clf.predict(texts), onnx_clf.predict(texts)) <= 1e-4


# Run in a fresh interpreter where importing torch, transformers or detoxify fails, as in an
# install without the [torch] extra.
_NO_TORCH = """
import json, sys
from pathlib import Path
for name in ("torch", "transformers", "detoxify", "sentence_transformers"):
    sys.modules[name] = None
from moderation.classifier import loader
from moderation.classifier.base import ModelLoadError
from moderation.config import Settings
loader.ONNX_CACHE_DIR = Path(sys.argv[1])
try:
    clf = loader.load_classifier(Settings(model=sys.argv[2]))
except ModelLoadError as exc:
    print(json.dumps({"error": str(exc)}))
else:
    print(json.dumps({"type": type(clf).__name__, "scores": clf.predict(["you stupid idiot"])}))
"""


def _without_torch(cache: Path, model: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", _NO_TORCH, str(cache), model],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    assert out.returncode == 0, out.stderr
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.skipif(
    not (EMBEDDED_DIR / CHECKPOINT_NAME).exists(), reason="needs the shipped embedded model"
)
def test_the_embedded_model_runs_without_torch(tmp_path: Path) -> None:
    result = _without_torch(tmp_path / "cache", "embedded")
    assert result["type"] == "OnnxClassifier"
    scores = result["scores"]
    assert isinstance(scores, list) and scores[0]["toxicity"] > 0.5


def test_without_torch_an_architecture_with_no_graph_is_a_clear_error(
    tiny_model: Path, tmp_path: Path
) -> None:
    result = _without_torch(tmp_path / "cache", str(tiny_model / "model.ckpt"))
    assert "no ONNX graph ships" in str(result["error"])
    assert "moderation[torch]" in str(result["error"])
