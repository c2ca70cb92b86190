"""A tiny BERT (MiniLM's tokenizer, 2 layers of width 32) trained a few steps: fast enough
for CI, and a real checkpoint for the real Detoxify class, ONNX export and the loader."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from moderation.classifier.embedded import minilm_dir
from moderation.classifier.train import TrainConfig, train
from moderation.config import PROJECT_ROOT

TINY_ROWS = [
    {"text": "you are a stupid idiot", "labels": {"toxicity": 1, "insult": 1}},
    {"text": "have a lovely day", "labels": {"toxicity": 0, "identity_attack": 0}},
    {"text": "muslims are vermin", "labels": {"toxicity": 1, "identity_attack": 1}},
    {"text": "the article was informative", "labels": {"toxicity": 0}},
    {"text": "i will hurt you", "labels": {"threat": 1, "toxicity": 1}},
    {"text": "thanks for sharing this", "labels": {"identity_attack": 0}},
]


DEV = PROJECT_ROOT.parent / "shared" / "data" / "toxicity-dev.jsonl"
# Texts the parity tests of both ONNX paths score (short, long, empty).
TEXTS = [
    "you are a stupid idiot",
    "have a lovely day",
    "Muslims and Jews held a joint vigil on Sunday.",
    "I will hurt you",
    "word " * 700 + "idiot",  # windowed: longer than 512 tokens
    "",
]


def max_label_gap(a: list[dict[str, float]], b: list[dict[str, float]]) -> float:
    return max(abs(x[k] - y[k]) for x, y in zip(a, b, strict=True) for k in x)


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    base = tmp_path_factory.mktemp("tiny-base")
    src = minilm_dir()
    vocab = json.loads((src / "config.json").read_text())["vocab_size"]
    config = BertConfig(
        vocab_size=vocab,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    config.num_labels = 7
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(str(base))
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        if (src / name).exists():
            shutil.copyfile(src / name, base / name)
    return base


@pytest.fixture(scope="session")
def tiny_jsonl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "tiny.jsonl"
    with path.open("w") as f:
        for i, row in enumerate(TINY_ROWS * 3):
            f.write(json.dumps({"id": f"t:{i}", "source": "tiny", **row}) + "\n")
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, tiny_base: Path, tiny_jsonl: Path) -> Path:
    """Directory with model.ckpt (fp16) + config + tokenizer, trained 4 steps."""
    out = tmp_path_factory.mktemp("tiny-model")
    cfg = TrainConfig(
        data=[tiny_jsonl],
        out_dir=out,
        epochs=1,
        batch_size=8,
        max_len=32,
        max_steps=4,
        templates=False,
        swap_augment=False,
        fp16=True,
        base_model=tiny_base,
        threads=1,
    )
    train(cfg, log=lambda _m: None)
    return out
