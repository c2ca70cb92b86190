"""The stress sets know their answers: the buried sentence and the offending words are where
the generator says, so hit rates and recalls computed from them mean something."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from moderation.classifier.cli import model
from moderation.classifier.data import Example
from moderation.classifier.stress import BURIED_INSULTS, long_cases, span_cases

PROSE = [
    Example(
        f"Comment {i}: the sources for the 19th century section need a second look, "
        "and the infobox dates disagree with the body of the article.",
        {"toxicity": 0},
        f"j:{i}",
        "jigsaw2018-train-sample",
    )
    for i in range(40)
]


def test_span_cases_point_at_the_offending_words() -> None:
    cases = span_cases()
    assert len(cases) >= 100
    for case in cases:
        lo, hi = case.offending
        words = case.text[lo:hi]
        assert words and words == words.strip()
        assert len(words.split()) == 2  # adjective + noun, never the group or "is a"


def test_long_cases_bury_one_insult_at_the_depth_they_say() -> None:
    cases = long_cases(PROSE, lengths=(300,), per_length=10, seed=1)
    toxic = [c for c in cases if c.toxic]
    neutral = [c for c in cases if not c.toxic]
    assert len(toxic) == len(neutral) == 5
    for c in toxic:
        assert sum(insult in c.text for insult in BURIED_INSULTS) == 1
        assert c.depth is not None and len(c.text.split()) >= 300
    for c in neutral:
        assert not any(insult in c.text for insult in BURIED_INSULTS)


def test_stress_command_writes_json_and_png(tmp_path: Path, tiny_model: Path) -> None:
    dev = tmp_path / "dev.jsonl"
    dev.write_text(
        "".join(
            json.dumps({"id": e.id, "text": e.text, "source": e.source, "labels": e.labels}) + "\n"
            for e in PROSE
        )
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(
        model,
        [
            "stress",
            "--dev",
            str(dev),
            "--model",
            str(tiny_model / "model.ckpt"),
            "--windows",
            "128:32,64:16",
            "--per-length",
            "2",
            "--threads",
            "1",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "stress.json").read_text())
    assert [r["window"] for r in report["long_comments"]] == [128, 64]
    # Smaller windows cut the same comments into more model rows.
    rows = [r["model_rows_per_comment"] for r in report["long_comments"]]
    assert rows[1] > rows[0] >= 1
    assert report["spans"]["cases"] == len(span_cases())
    assert (out / "long_comments.png").stat().st_size > 0


def test_stress_command_rejects_a_bad_window_option(tmp_path: Path) -> None:
    result = CliRunner().invoke(model, ["stress", "--windows", "512-64", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "TOKENS:OVERLAP" in result.output
