"""The real `detoxify.Detoxify` class, loaded from a local checkpoint (offline) or by name."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from moderation.classifier.base import ModelInfo, ModelLoadError
from moderation.domain.labels import LABELS, LEGACY_LABEL_NAMES
from moderation.domain.verdict import Span

PUBLIC_MODELS = ("original", "unbiased", "multilingual", "original-small", "unbiased-small")
_WORD = re.compile(r"\w+(?:['’]\w+)*", re.UNICODE)


def file_version(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:12]


class DetoxifyClassifier:
    """Wraps `detoxify.Detoxify`: batches sorted by length, scores as plain dicts."""

    def __init__(
        self,
        *,
        name: str,
        checkpoint: Path | None = None,
        huggingface_config_path: Path | None = None,
        torch_threads: int = 1,
    ) -> None:
        import torch
        from detoxify import Detoxify

        torch.set_num_threads(torch_threads)
        try:
            if checkpoint is not None:
                if not checkpoint.is_file():
                    raise ModelLoadError(f"model checkpoint {checkpoint} does not exist")
                self._model = Detoxify(
                    checkpoint=str(checkpoint),
                    huggingface_config_path=(
                        str(huggingface_config_path) if huggingface_config_path else None
                    ),
                )
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
        names = [LEGACY_LABEL_NAMES.get(c, c) for c in self._model.class_names]
        self.labels: tuple[str, ...] = tuple(names)
        # Jigsaw bias models carry identity columns as extra outputs; only LABELS are verdict scores.
        self._keep = [i for i, n in enumerate(names) if n in LABELS]
        self.info = ModelInfo(name=name, version=version)
        self.labels = tuple(names[i] for i in self._keep)

    @property
    def detoxify(self) -> Any:
        return self._model

    def predict(self, texts: Sequence[str]) -> list[dict[str, float]]:
        if not texts:
            return []
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        raw = self._model.predict([texts[i] for i in order])
        out: list[dict[str, float]] = [{} for _ in texts]
        for label_i in self._keep:
            cls = self._model.class_names[label_i]
            label = LEGACY_LABEL_NAMES.get(cls, cls)
            values = raw[cls]
            if not isinstance(values, list):
                values = [values]
            for pos, idx in enumerate(order):
                out[idx][label] = float(values[pos])
        return out

    def explain(self, text: str, labels: Sequence[str]) -> list[Span]:
        """Occlusion: drop each word in turn and keep those whose removal lowers a label most."""
        words = [(m.start(), m.end()) for m in _WORD.finditer(text)][:64]
        wanted = [lb for lb in labels if lb in self.labels]
        if not words or not wanted:
            return []
        variants = [text[:s] + text[e:] for s, e in words]
        base, *occluded = self.predict([text, *variants])
        spans: list[Span] = []
        for label in wanted:
            drops = [(base[label] - o[label], w) for o, w in zip(occluded, words, strict=True)]
            for drop, (s, e) in sorted(drops, reverse=True)[:3]:
                if drop > 0.05:
                    spans.append(Span(start=s, end=e, label=label, weight=round(drop, 4)))
        return spans
