"""Choose and load the configured classifier, once per worker process."""

from __future__ import annotations

from pathlib import Path

from moderation.classifier.base import Classifier, ModelLoadError
from moderation.classifier.detoxify_backend import PUBLIC_MODELS, DetoxifyClassifier
from moderation.classifier.embedded import CHECKPOINT_NAME, EMBEDDED_DIR, ensure_plumbing_model
from moderation.config import PROJECT_ROOT, Settings

PLUMBING_DIR = PROJECT_ROOT / "var" / "plumbing-model"


def load_classifier(settings: Settings) -> Classifier:
    name = settings.model
    if name == "embedded":
        shipped = EMBEDDED_DIR / CHECKPOINT_NAME
        if shipped.exists():
            return DetoxifyClassifier(
                name="embedded-minilm",
                checkpoint=shipped,
                huggingface_config_path=EMBEDDED_DIR,
                torch_threads=settings.torch_threads,
            )
        # No trained model shipped yet: an untrained MiniLM keeps the pipeline running.
        ckpt = ensure_plumbing_model(PLUMBING_DIR)
        return DetoxifyClassifier(
            name="plumbing-minilm-untrained",
            checkpoint=ckpt,
            huggingface_config_path=PLUMBING_DIR,
            torch_threads=settings.torch_threads,
        )
    if name in PUBLIC_MODELS:
        return DetoxifyClassifier(name=name, torch_threads=settings.torch_threads)
    path = Path(name)
    if path.suffix in {".ckpt", ".pt", ".pth"} or path.exists():
        hf_dir = path.parent if (path.parent / "config.json").exists() else None
        return DetoxifyClassifier(
            name=path.stem,
            checkpoint=path,
            huggingface_config_path=hf_dir,
            torch_threads=settings.torch_threads,
        )
    raise ModelLoadError(
        f"MODERATION_MODEL={name!r} is neither 'embedded', a public Detoxify model "
        f"({', '.join(PUBLIC_MODELS)}) nor an existing checkpoint file"
    )
