"""The classifier interface the workers depend on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from moderation.domain.verdict import Span


class ModelLoadError(RuntimeError):
    """The configured model cannot be loaded; raised once at worker start, with a clear message."""


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str


class Classifier(Protocol):
    info: ModelInfo
    labels: tuple[str, ...]

    def predict(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """One score per label per text, in input order."""
        ...

    def explain(self, text: str, labels: Sequence[str]) -> list[Span]:
        """Character spans of the words that drove the given labels up."""
        ...
