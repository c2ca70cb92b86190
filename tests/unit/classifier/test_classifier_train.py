"""Training: masked loss, a few real steps, a checkpoint the real Detoxify class loads."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

# Fixtures live in a uniquely named module (a second conftest.py would shadow the
# top-level one that other tests import by name); importing them is what registers them,
# hence F401 here and F811 on the test parameters that name them.
from moderation.classifier.train import masked_bce
from moderation.domain.labels import LABELS


def test_absent_labels_are_masked_out_of_the_loss() -> None:
    logits = torch.tensor([[2.0, -1.0, 0.5]], requires_grad=True)
    mask = torch.tensor([[1.0, 0.0, 1.0]])
    a = masked_bce(logits, torch.tensor([[1.0, 0.0, 0.0]]), mask)
    b = masked_bce(logits, torch.tensor([[1.0, 1.0, 0.0]]), mask)
    # The masked cell's target does not matter...
    assert a.item() == pytest.approx(b.item())
    # ...the loss is the mean over annotated cells only...
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    expected = (
        bce(torch.tensor(2.0), torch.tensor(1.0)) + bce(torch.tensor(0.5), torch.tensor(0.0))
    ) / 2
    assert a.item() == pytest.approx(expected.item())
    # ...and no gradient reaches the masked logit.
    a.backward()
    assert logits.grad is not None
    assert logits.grad[0, 1] == 0.0
    assert logits.grad[0, 0] != 0.0


def test_all_masked_row_gives_zero_loss() -> None:
    logits = torch.zeros((2, 7))
    assert float(masked_bce(logits, torch.ones((2, 7)), torch.zeros((2, 7)))) == 0.0


def test_checkpoint_loads_with_the_real_detoxify_class(tiny_model: Path) -> None:
    from detoxify import Detoxify

    model = Detoxify(
        checkpoint=str(tiny_model / "model.ckpt"), huggingface_config_path=str(tiny_model)
    )
    assert model.class_names == list(LABELS)
    out = model.predict(["you are an idiot", "have a nice day"])
    assert set(out) == set(LABELS)
    assert all(0.0 <= v <= 1.0 for vs in out.values() for v in vs)
    # fp16 on disk keeps the shipped file small.
    saved = torch.load(tiny_model / "model.ckpt", map_location="cpu", weights_only=False)
    assert saved["state_dict"]["classifier.weight"].dtype == torch.float16
    assert saved["training"]["untrained_labels"] == [
        "severe_toxicity",
        "obscene",
        "sexual_explicit",
    ]


def test_untrained_heads_score_near_zero_and_are_left_out(tiny_model: Path) -> None:
    import numpy as np

    from moderation.classifier.detoxify_backend import DetoxifyClassifier
    from moderation.domain.labels import LABELS

    clf = DetoxifyClassifier(
        name="tiny", checkpoint=tiny_model / "model.ckpt", huggingface_config_path=tiny_model
    )
    (scores,) = clf.predict(["anything at all"])
    assert "sexual_explicit" not in scores and "sexual_explicit" in clf.not_scored
    # The head itself is neutralised too, for anything that reads the raw outputs.
    raw = clf.scorer.scores(["anything at all"])[0]
    assert float(np.asarray(raw)[LABELS.index("sexual_explicit")]) < 0.001


def test_training_is_seeded_and_reproducible(
    tmp_path: Path, tiny_base: Path, tiny_jsonl: Path
) -> None:
    from moderation.classifier.train import TrainConfig, train

    states = []
    for run in ("a", "b"):
        cfg = TrainConfig(
            data=[tiny_jsonl],
            out_dir=tmp_path / run,
            epochs=1,
            batch_size=4,
            max_len=16,
            max_steps=2,
            templates=True,
            template_repeat=1,
            swap_augment=True,
            base_model=tiny_base,
            threads=1,
            fp16=False,
        )
        train(cfg, log=lambda _m: None)
        states.append(torch.load(tmp_path / run / "model.ckpt", weights_only=False)["state_dict"])
    for key in ("classifier.weight", "bert.embeddings.word_embeddings.weight"):
        assert torch.equal(states[0][key], states[1][key])
