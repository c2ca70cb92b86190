"""Detoxify's label names; models that lack a label omit it."""

from typing import Final

LABELS: Final[tuple[str, ...]] = (
    "toxicity",
    "severe_toxicity",
    "obscene",
    "threat",
    "insult",
    "identity_attack",
    "sexual_explicit",
)

# Older Detoxify checkpoints use Jigsaw 2018 names.
LEGACY_LABEL_NAMES: Final[dict[str, str]] = {
    "toxic": "toxicity",
    "severe_toxic": "severe_toxicity",
    "identity_hate": "identity_attack",
}
