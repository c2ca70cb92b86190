"""Choose and load the configured classifier, once per worker process.

`settings.model` picks the model (embedded, a public Detoxify name, a checkpoint or an
.onnx file); `settings.model_runtime` picks the runtime. The ONNX path needs no torch where a
graph ships for the checkpoint's architecture (the embedded model's does); torch, Detoxify
and the public models come with the `[torch]` extra. "auto" uses ONNX Runtime (fp32: int8 moved
scores too much, see onnx_backend.export_onnx) where the model can be exported
(BERT-family checkpoints such as the embedded MiniLM), because it is measured faster on CPU
(`moderation model bench`), and torch otherwise.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from moderation.classifier.base import Classifier, ModelLoadError
from moderation.classifier.detoxify_backend import PUBLIC_MODELS, DetoxifyClassifier, file_version
from moderation.classifier.embedded import CHECKPOINT_NAME, EMBEDDED_DIR, ensure_plumbing_model
from moderation.classifier.onnx_backend import ONNX_FP32_NAME, OnnxClassifier
from moderation.config import PROJECT_ROOT, Settings

PLUMBING_DIR = PROJECT_ROOT / "var" / "plumbing-model"
ONNX_CACHE_DIR = PROJECT_ROOT / "var" / "onnx-cache"

log = logging.getLogger(__name__)


def load_classifier(settings: Settings) -> Classifier:
    name = settings.model
    runtime = settings.model_runtime
    if name == "embedded":
        shipped = EMBEDDED_DIR / CHECKPOINT_NAME
        shipped_onnx = EMBEDDED_DIR / ONNX_FP32_NAME
        if runtime != "torch" and shipped_onnx.exists():
            return _onnx(settings, "embedded-minilm", shipped_onnx, EMBEDDED_DIR)
        if shipped.exists():
            return _from_checkpoint(settings, "embedded-minilm", shipped, EMBEDDED_DIR)
        # No trained model shipped: an untrained MiniLM keeps the pipeline running.
        ckpt = ensure_plumbing_model(PLUMBING_DIR)
        return _torch(settings, "plumbing-minilm-untrained", ckpt, PLUMBING_DIR)
    if name in PUBLIC_MODELS:
        if runtime == "onnx":
            raise ModelLoadError(
                f"MODERATION_MODEL_RUNTIME=onnx supports the embedded model and BERT-family "
                f"checkpoints, not the public Detoxify model {name!r}; use auto or torch"
            )
        _need_torch(f"the public Detoxify model {name!r}")
        return DetoxifyClassifier(
            name=name,
            torch_threads=settings.torch_threads,
            batch_size=settings.batch_size,
            window=settings.model_window,
        )
    path = Path(name)
    if path.suffix == ".onnx":
        return _onnx(settings, path.stem, path, path.parent)
    if path.suffix in {".ckpt", ".pt", ".pth"} or path.exists():
        hf_dir = path.parent if (path.parent / "config.json").exists() else None
        return _from_checkpoint(settings, path.stem, path, hf_dir)
    raise ModelLoadError(
        f"MODERATION_MODEL={name!r} is neither 'embedded', a public Detoxify model "
        f"({', '.join(PUBLIC_MODELS)}), a checkpoint file nor an .onnx file"
    )


def _need_torch(what: str) -> None:
    try:
        import detoxify  # noqa: F401
        import torch  # noqa: F401
    except ImportError as exc:
        raise ModelLoadError(
            f"{what} runs on torch, which this install lacks ({exc}); install the torch extra: "
            "pip install 'moderation[torch]'"
        ) from exc


def _torch(settings: Settings, name: str, ckpt: Path, hf_dir: Path | None) -> DetoxifyClassifier:
    _need_torch(f"model {name} with the torch runtime")
    return DetoxifyClassifier(
        name=name,
        checkpoint=ckpt,
        huggingface_config_path=hf_dir,
        torch_threads=settings.torch_threads,
        batch_size=settings.batch_size,
        window=settings.model_window,
    )


def _onnx(settings: Settings, name: str, onnx_path: Path, tok_dir: Path) -> OnnxClassifier:
    return OnnxClassifier(
        name=name,
        onnx_path=onnx_path,
        tokenizer_dir=tok_dir,
        threads=settings.torch_threads,
        batch_size=settings.batch_size,
        window=settings.model_window,
    )


def _exportable(hf_dir: Path | None) -> bool:
    if hf_dir is None or not (hf_dir / "config.json").is_file():
        return False
    config = json.loads((hf_dir / "config.json").read_text())
    return config.get("model_type") == "bert" and (hf_dir / "tokenizer.json").is_file()


def onnx_cache_for(ckpt: Path) -> Path:
    return ONNX_CACHE_DIR / file_version(ckpt)


def _from_checkpoint(settings: Settings, name: str, ckpt: Path, hf_dir: Path | None) -> Classifier:
    runtime = settings.model_runtime
    if runtime == "torch" or (runtime == "auto" and not _exportable(hf_dir)):
        return _torch(settings, name, ckpt, hf_dir)
    if not ckpt.is_file():
        raise ModelLoadError(f"model checkpoint {ckpt} does not exist")
    if not _exportable(hf_dir):
        raise ModelLoadError(
            f"MODERATION_MODEL_RUNTIME=onnx needs a BERT-family checkpoint with config.json and "
            f"tokenizer.json next to it; {ckpt} has none"
        )
    assert hf_dir is not None
    cache = onnx_cache_for(ckpt)
    onnx_path = cache / ONNX_FP32_NAME
    if not onnx_path.is_file():
        try:
            _export_once(ckpt, hf_dir, cache)
        except ModelLoadError:
            raise
        except ImportError as exc:
            # No graph ships for this architecture, and the export needs torch.
            raise ModelLoadError(
                f"{ckpt}: no ONNX graph ships for this model's architecture and exporting "
                f"one needs torch ({exc}); install the torch extra (pip install "
                "'moderation[torch]'), or set MODERATION_MODEL to an .onnx file"
            ) from exc
        except Exception as exc:
            if runtime == "onnx":
                raise ModelLoadError(f"cannot export {ckpt} to ONNX: {exc}") from exc
            log.warning("ONNX export of %s failed (%s); using torch", ckpt, exc)
            return _torch(settings, name, ckpt, hf_dir)
    return _onnx(settings, name, onnx_path, hf_dir)


def _export_once(ckpt: Path, hf_dir: Path, cache: Path) -> None:
    """Build the ONNX cache once per checkpoint version (about a second): from the graph that
    ships for the architecture and the checkpoint's weights, without torch
    (moderation/classifier/graph.py); with torch's exporter where no graph ships.

    Worker processes that start together wait on one lock instead of all exporting.
    """
    import fcntl

    from moderation.classifier.graph import assemble_onnx

    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (cache / ONNX_FP32_NAME).is_file():
                log.info("building the ONNX model of %s in %s", ckpt, cache)
                if assemble_onnx(ckpt, hf_dir, cache) is None:
                    from moderation.classifier.onnx_backend import export_onnx

                    export_onnx(ckpt, hf_dir, cache)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
