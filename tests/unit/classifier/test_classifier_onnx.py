"""The ONNX Runtime fast path matches the Detoxify/torch path within 0.02 on every label."""

from __future__ import annotations

from pathlib import Path

import pytest

# Fixtures live in a uniquely named module (a second conftest.py would shadow the
# top-level one that other tests import by name); importing them is what registers them,
# hence F401 here and F811 on the test parameters that name them.
from moderation.classifier.data import read_jsonl
from moderation.classifier.detoxify_backend import DetoxifyClassifier
from moderation.classifier.embedded import CHECKPOINT_NAME, EMBEDDED_DIR
from moderation.classifier.onnx_backend import OnnxClassifier, export_onnx
from tests.unit.classifier.conftest import DEV, TEXTS, max_label_gap


@pytest.fixture(scope="module")
def tiny_onnx(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_onnx(
        tiny_model / "model.ckpt", tiny_model, tmp_path_factory.mktemp("onnx"), quantize=True
    )


def test_int8_parity_on_the_tiny_model(tiny_model: Path, tiny_onnx: Path) -> None:
    torch_clf = DetoxifyClassifier(
        name="tiny", checkpoint=tiny_model / "model.ckpt", huggingface_config_path=tiny_model
    )
    onnx_clf = OnnxClassifier(name="tiny", onnx_path=tiny_onnx, tokenizer_dir=tiny_model)
    assert onnx_clf.labels == torch_clf.labels
    assert max_label_gap(torch_clf.predict(TEXTS), onnx_clf.predict(TEXTS)) <= 0.02
    assert onnx_clf.info.version == torch_clf.info.version + "+onnx-int8"
    fp32 = OnnxClassifier(
        name="tiny", onnx_path=tiny_onnx.with_name("model.onnx"), tokenizer_dir=tiny_model
    )
    assert max_label_gap(torch_clf.predict(TEXTS), fp32.predict(TEXTS)) <= 1e-4


def test_tokenizers_agree(tiny_model: Path, tiny_onnx: Path) -> None:
    torch_clf = DetoxifyClassifier(
        name="tiny", checkpoint=tiny_model / "model.ckpt", huggingface_config_path=tiny_model
    )
    onnx_clf = OnnxClassifier(name="tiny", onnx_path=tiny_onnx, tokenizer_dir=tiny_model)
    texts = ["Ünïcödé &amp; @user http://x.y 😀", "don't STOP", "a" * 300]
    assert torch_clf._encode(texts) == onnx_clf._encode(texts)


@pytest.mark.skipif(
    not (EMBEDDED_DIR / CHECKPOINT_NAME).exists() or not DEV.exists(),
    reason="needs the shipped embedded model and the shared dev set",
)
def test_parity_of_the_embedded_model_on_dev(tmp_path: Path) -> None:
    """The runtime `auto` picks (fp32 ONNX) against Detoxify/torch, on real comments."""
    texts = [e.text for e in read_jsonl(DEV)][::10]  # ~470 real comments
    torch_clf = DetoxifyClassifier(
        name="embedded",
        checkpoint=EMBEDDED_DIR / CHECKPOINT_NAME,
        huggingface_config_path=EMBEDDED_DIR,
        torch_threads=2,
    )
    onnx_path = export_onnx(EMBEDDED_DIR / CHECKPOINT_NAME, EMBEDDED_DIR, tmp_path)
    onnx_clf = OnnxClassifier(
        name="embedded", onnx_path=onnx_path, tokenizer_dir=EMBEDDED_DIR, threads=2
    )
    assert max_label_gap(torch_clf.predict(texts), onnx_clf.predict(texts)) <= 0.02
