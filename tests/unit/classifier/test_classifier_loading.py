"""Loading errors are one clear ModelLoadError at start-up; the loader picks the runtime."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

# Fixtures live in a uniquely named module (a second conftest.py would shadow the
# top-level one that other tests import by name); importing them is what registers them,
# hence F401 here and F811 on the test parameters that name them.
from moderation.classifier.base import ModelLoadError
from moderation.classifier.detoxify_backend import DetoxifyClassifier
from moderation.classifier.loader import load_classifier
from moderation.config import Settings


def test_missing_checkpoint_file(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        DetoxifyClassifier(name="x", checkpoint=tmp_path / "nope.ckpt")
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_classifier(Settings(model=str(tmp_path / "nope.ckpt"), model_runtime="torch"))


def test_not_a_checkpoint(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"this is not a torch file")
    with pytest.raises(ModelLoadError, match="not a readable torch checkpoint"):
        DetoxifyClassifier(name="x", checkpoint=bad)
    plain = tmp_path / "plain.ckpt"
    torch.save({"weights": 1}, plain)
    with pytest.raises(ModelLoadError, match="needs 'config' and 'state_dict'"):
        DetoxifyClassifier(name="x", checkpoint=plain)


def test_wrong_number_of_labels_in_checkpoint(tmp_path: Path, tiny_model: Path) -> None:
    loaded = torch.load(tiny_model / "model.ckpt", weights_only=False)
    loaded["config"]["dataset"]["args"]["classes"] = ["toxicity", "insult"]
    bad = tmp_path / "six.ckpt"
    torch.save(loaded, bad)
    with pytest.raises(ModelLoadError, match="wrong number of labels"):
        DetoxifyClassifier(name="x", checkpoint=bad, huggingface_config_path=tiny_model)


def test_wrong_number_of_labels_in_config(tmp_path: Path, tiny_model: Path) -> None:
    hf = tmp_path / "hf"
    shutil.copytree(tiny_model, hf)
    config = json.loads((hf / "config.json").read_text())
    config["num_labels"] = 3
    config["id2label"] = {"0": "a", "1": "b", "2": "c"}
    (hf / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="declares 3"):
        DetoxifyClassifier(name="x", checkpoint=hf / "model.ckpt", huggingface_config_path=hf)


def test_onnx_runtime_for_a_public_model_is_a_clear_error() -> None:
    with pytest.raises(ModelLoadError, match="not the public Detoxify model"):
        load_classifier(Settings(model="original", model_runtime="onnx"))


def test_unknown_model_name() -> None:
    with pytest.raises(ModelLoadError, match="neither 'embedded'"):
        load_classifier(Settings(model="no-such-model"))


def test_moved_checkpoint_still_loads(tmp_path: Path, tiny_model: Path) -> None:
    # The checkpoint names the directory it was trained in; a copy elsewhere must load.
    moved = tmp_path / "moved"
    shutil.copytree(tiny_model, moved)
    clf = load_classifier(Settings(model=str(moved / "model.ckpt"), model_runtime="torch"))
    assert clf.labels[0] == "toxicity"
    assert len(clf.predict(["hello", "you idiot"])) == 2


def test_auto_runtime_exports_once_and_uses_onnx(
    tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moderation.classifier import loader

    monkeypatch.setattr(loader, "ONNX_CACHE_DIR", tmp_path / "cache")
    ckpt = str(tiny_model / "model.ckpt")
    auto = load_classifier(Settings(model=ckpt, model_runtime="auto"))
    assert type(auto).__name__ == "OnnxClassifier"
    built = sorted((tmp_path / "cache").rglob("*.onnx"))
    assert [p.name for p in built] == ["model.onnx"]
    again = load_classifier(Settings(model=ckpt, model_runtime="onnx"))
    assert again.info == auto.info
    torch_clf = load_classifier(Settings(model=ckpt, model_runtime="torch"))
    assert type(torch_clf).__name__ == "DetoxifyClassifier"


@pytest.mark.parametrize("runtime", ["torch", "onnx"])
def test_window_size_is_a_setting(
    tmp_path: Path, tiny_model: Path, runtime: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MODERATION_MODEL_WINDOW: smaller windows cut a long comment into more of them."""
    from moderation.classifier import loader

    monkeypatch.setattr(loader, "ONNX_CACHE_DIR", tmp_path / "cache")
    monkeypatch.setenv("MODERATION_MODEL_WINDOW", "128")
    ckpt = str(tiny_model / "model.ckpt")
    small = load_classifier(Settings(model=ckpt, model_runtime=runtime))
    default = load_classifier(Settings(model=ckpt, model_runtime=runtime, model_window=512))
    assert (small.scorer.window, small.scorer.overlap) == (128, 32)  # type: ignore[attr-defined]
    assert (default.scorer.window, default.scorer.overlap) == (512, 64)  # type: ignore[attr-defined]
    ids = small.scorer.encode(["word " * 600])[0]  # type: ignore[attr-defined]
    assert len(small.scorer.windows(ids)) > len(default.scorer.windows(ids)) >= 2  # type: ignore[attr-defined]
