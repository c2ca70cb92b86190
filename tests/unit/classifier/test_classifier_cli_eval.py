"""`moderation model eval/train/suite` end to end on a tiny model and tiny files."""

from __future__ import annotations

import json
from pathlib import Path

# Fixtures live in a uniquely named module (a second conftest.py would shadow the
# top-level one that other tests import by name); importing them is what registers them,
# hence F401 here and F811 on the test parameters that name them.
import pytest
from click.testing import CliRunner

from moderation.classifier.cli import model
from moderation.classifier.data import read_jsonl, read_madlibs
from moderation.classifier.detoxify_backend import DetoxifyClassifier
from moderation.classifier.functional import TEST_IDENTITIES, functional_suite
from moderation.classifier.templates import TRAIN_IDENTITIES, training_cases


def test_eval_writes_json_and_pngs_with_bias_and_functional(
    tmp_path: Path, tiny_model: Path, tiny_jsonl: Path
) -> None:
    grouped = tmp_path / "grouped.jsonl"
    rows = [
        ("Sikhs are vermin", 1, "sikh"),
        ("Sikhs are lovely", 0, "sikh"),
        ("Hindus are vermin", 1, "hindu"),
        ("Hindus are lovely", 0, "hindu"),
        ("you idiot", 1, None),
        ("nice day", 0, None),
    ]
    with grouped.open("w") as f:
        for i, (text, y, group) in enumerate(rows):
            meta = {"group": group} if group else {}
            f.write(
                json.dumps({"id": str(i), "text": text, "labels": {"toxicity": y}, "meta": meta})
                + "\n"
            )
    out = tmp_path / "eval"
    result = CliRunner().invoke(
        model,
        [
            "eval",
            "--data",
            str(tiny_jsonl),
            "--data",
            str(grouped),
            "--functional",
            "--swap",
            "--model",
            str(tiny_model / "model.ckpt"),
            "--runtime",
            "torch",
            "--threads",
            "1",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert set(report["tiny"]["labels"]) >= {"toxicity", "identity_attack"}
    assert report["tiny"]["labels"]["toxicity"]["threshold"] == 0.5  # rules/thresholds.yaml
    bias = report["grouped"]["bias"]["toxicity"]
    assert {g["group"] for g in bias["groups"]} == {"sikh", "hindu"}
    assert "bias_power_mean" in bias["summary"]
    func = report["functional"]["functional"]
    assert {"negation", "counter_speech", "slur", "spelling"} <= set(func["per_functionality"])
    assert "mean_abs_delta_toxicity" in report["swap_functional"]
    for name in ("roc.png", "metrics.json"):
        assert (out / "tiny" / name).stat().st_size > 0
    assert (out / "grouped" / "bias_groups.png").stat().st_size > 0
    assert (out / "functional" / "functional.png").stat().st_size > 0


def test_train_command_few_steps(tmp_path: Path, tiny_base: Path, tiny_jsonl: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(
        model,
        [
            "train",
            "--data",
            str(tiny_jsonl),
            "--dev",
            str(tiny_jsonl),
            "--out",
            str(out),
            "--max-steps",
            "2",
            "--batch-size",
            "4",
            "--max-len",
            "16",
            "--threads",
            "1",
            "--no-templates",
            "--base-model",
            str(tiny_base),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (out / "model.ckpt").is_file() and (out / "config.json").is_file()
    assert "toxicity_auc" in (out / "training.json").read_text()


def test_suite_command_writes_grouped_jsonl(tmp_path: Path) -> None:
    out = tmp_path / "suite.jsonl"
    result = CliRunner().invoke(model, ["suite", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = read_jsonl(out)
    assert len(rows) == len(functional_suite())
    assert any("group" in r.meta for r in rows)


def test_functional_suite_is_held_out_from_training_templates() -> None:
    train_texts = {c.text.lower() for c in training_cases(seed=0, per_frame=40)}
    suite = functional_suite()
    assert not train_texts & {e.text.lower() for e in suite}
    train_terms = {i.adj.lower() for i in TRAIN_IDENTITIES}
    assert not train_terms & {i.adj.lower() for i in TEST_IDENTITIES}
    hateful = [e for e in suite if e.meta["hateful"] == "1"]
    assert 0.3 < len(hateful) / len(suite) < 0.7


def test_madlibs_rows_carry_their_identity_group(tmp_path: Path) -> None:
    csv = tmp_path / "madlibs.csv"
    csv.write_text(
        "Text,Label,Template\n"
        '"murder middle aged",BAD,verb_adj\n"hug gay",NOT_BAD,verb_adj\n'
        '"Joe is a nasty middle aged",BAD,name_adj\n"Being gay is fantastic.",NOT_BAD,being_adj\n'
        '"You are a kind janitor",NOT_BAD,you_occupation\n'
    )
    rows = read_madlibs(csv)
    assert [r.meta.get("group") for r in rows] == [
        "middle aged",
        "gay",
        "middle aged",
        "gay",
        None,
    ]
    assert [r.labels["toxicity"] for r in rows] == [1, 0, 1, 0, 0]


def test_explain_spans_of_a_real_model_are_valid_offsets(tiny_model: Path) -> None:
    clf = DetoxifyClassifier(
        name="tiny", checkpoint=tiny_model / "model.ckpt", huggingface_config_path=tiny_model
    )
    clf.explain_config = type(clf.explain_config)(min_drop=0.0)
    text = "Well, you are a stupid idiot, honestly."
    spans = clf.explain(text, ["toxicity"])
    assert spans, "with min_drop 0 the top words are always returned"
    for s in spans:
        assert 0 <= s.start < s.end <= len(text)
        assert text[s.start : s.end].isalnum()


@pytest.mark.parametrize(
    ("name", "body", "says"),
    [
        (
            "kaggle.jsonl",
            '{"text": "you idiot", "label": 1}\n',
            "kaggle.jsonl:1: no 'labels' field",
        ),
        (
            "names.jsonl",
            '{"text": "x", "labels": {"toxic_score": 1}}\n',
            "unknown label 'toxic_score'",
        ),
        ("values.jsonl", '{"text": "x", "labels": {"toxicity": "yes"}}\n', "must be 0 or 1"),
        (
            "empty.jsonl",
            '{"text": "x", "labels": {}}\n{"text": "y", "labels": {}}\n',
            "no row annotates",
        ),
        ("other.csv", "comment_text,toxic\nyou idiot,1\n", "other.csv:1: not the bias madlibs CSV"),
        ("madlibs.csv", "Text,Label,Template\nx,1,verb_adj\n", "madlibs.csv:2: Label must be BAD"),
    ],
)
def test_eval_refuses_data_whose_labels_it_cannot_read(
    tmp_path: Path, name: str, body: str, says: str
) -> None:
    """Read as if every row were negative, such a file would print a figure that means nothing."""
    path = tmp_path / name
    path.write_text(body)
    result = CliRunner().invoke(model, ["eval", "--data", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "refusing to evaluate" in result.output
    assert says in result.output
    assert not (tmp_path / "o").exists()
