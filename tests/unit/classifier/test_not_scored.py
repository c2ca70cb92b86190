"""A head no training row annotated is not a score: no threshold or rule can fire on it, and
the verdict says it was not scored (issue 12)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from moderation.classifier.base import ModelInfo
from moderation.classifier.embedded import EMBEDDED_DIR, not_scored_labels
from moderation.classifier.loader import load_classifier
from moderation.config import Settings
from moderation.domain.labels import LABELS
from moderation.domain.verdict import Status
from moderation.pipeline import build_verdict
from moderation.ruleset import RuleContext, load_ruleset
from tests.unit.classifier.conftest import TINY_ROWS


@pytest.mark.parametrize("runtime", ["torch", "onnx"])
def test_untrained_head_is_left_out_of_the_scores(
    tmp_path: Path, tiny_model: Path, runtime: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moderation.classifier import loader

    monkeypatch.setattr(loader, "ONNX_CACHE_DIR", tmp_path / "cache")
    # Training records the labels its data never annotates as untrained.
    untrained = tuple(lb for lb in LABELS if not any(lb in row["labels"] for row in TINY_ROWS))
    assert "sexual_explicit" in untrained
    assert not_scored_labels(tiny_model) == untrained
    clf = load_classifier(Settings(model=str(tiny_model / "model.ckpt"), model_runtime=runtime))
    assert clf.not_scored == untrained
    assert not set(untrained) & set(clf.labels)
    for scores in clf.predict(["hello there", "you are an idiot"]):
        assert set(scores) == set(clf.labels)


def test_the_shipped_model_declares_what_it_does_not_score() -> None:
    # sexual_explicit: no source annotates it; threat: 10 real positives, none in dev.
    assert not_scored_labels(EMBEDDED_DIR) == ("threat", "sexual_explicit")


def test_a_rule_on_an_unscored_label_never_fires(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(
        textwrap.dedent(
            """
            thresholds:
              sexual_explicit: {flag: 0.0, reject: 0.0}
            rules:
              - id: explicit
                description: any sexual content score at all
                condition: {score: {label: sexual_explicit, gte: 0.0}}
                action: reject
            """
        )
    )
    rules = load_ruleset([tmp_path])
    scores = {"toxicity": 0.1, "insult": 0.05}  # what the model gives: no sexual_explicit
    ctx = RuleContext(comment_id="c", article_id="a", author_id="u", text="hi", scores=scores)
    outcome = rules.evaluate(ctx)
    assert outcome.status is Status.APPROVED
    verdict = build_verdict(
        scores=scores,
        outcome=outcome,
        spans=[],
        model=ModelInfo(name="m", version="1"),
        ruleset_version=rules.version,
        decided_at="2026-12-01T00:00:00Z",
        timings_ms={},
    )
    assert "sexual_explicit" in verdict.not_scored
    assert "toxicity" not in verdict.not_scored
