"""Loading errors with file and line, the CLI commands, and backtest output."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from moderation.domain.verdict import Status
from moderation.ruleset import RuleContext, RulesetError, load_ruleset
from moderation.ruleset.backtest import NO_RULE, backtest
from moderation.ruleset.cli import rules
from moderation.ruleset.schema import json_schema_text

ROOT = Path(__file__).resolve().parents[3]
RULE = """\
rules:
  - id: darn
    description: d
    condition: {words: {terms: [darn]}}
    action: flag
"""


def write(tmp_path: Path, text: str, name: str = "r.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (
            "rules:\n  - id: x\n    description: d\n    condition: {length: {gte: 1}}\n"
            "    action: flag\n    priorty: 3\n",
            6,
            "rules.0.priorty: Extra inputs are not permitted",
        ),
        (
            "rules:\n  - id: x\n    description: d\n    condition: {lenght: {gte: 1}}\n"
            "    action: flag\n",
            4,
            "lenght: Extra inputs are not permitted",
        ),
        (
            "rules:\n  - id: x\n    description: d\n    condition: {length: {gte: 1}}\n"
            "    action: ban\n",
            5,
            "rules.0.action: Input should be 'approve', 'flag' or 'reject'",
        ),
        (
            "rules:\n  - id: x\n    description: d\n    condition: {length: {gte: 1}, caps: {ratio_gte: 1}}\n"
            "    action: flag\n",
            4,
            "a condition has exactly one of",
        ),
        ("rules:\n  - id: x\n   bad indent: 1\n", 3, "not valid YAML"),
        ("rules:\n  - id: x\n    id: y\n", 3, "duplicate key 'id'"),
        (RULE + RULE.removeprefix("rules:\n"), 6, "duplicate rule id 'darn' (first in"),
        (
            "rules:\n  - id: x\n    description: d\n    condition:\n      words: {lists: [nope]}\n"
            "    action: flag\n",
            5,
            "unknown word list 'nope'",
        ),
        (
            "rules:\n  - id: x\n    description: d\n    condition:\n      regex: {pattern: '(a'}\n"
            "    action: flag\n",
            5,
            "invalid RE2 pattern",
        ),
        (
            "rules:\n  - id: x\n    description: d\n    condition:\n      regex: {pattern: '(a)\\1'}\n"
            "    action: flag\n",
            5,
            "invalid RE2 pattern",
        ),
        ("thresholds:\n  toxicity: {flag: 1.5}\n", 2, "thresholds.toxicity.flag"),
    ],
)
def test_invalid_files_name_file_line_and_reason(
    tmp_path: Path, text: str, line: int, reason: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(RulesetError) as info:
        load_ruleset([tmp_path])
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert reason in str(info.value)


def test_published_schema_is_current_and_accepts_the_default_files() -> None:
    published = (ROOT / "rules" / "schema.json").read_text()
    assert published == json_schema_text()
    schema = json.loads(published)
    for path in sorted((ROOT / "rules").glob("*.yaml")):
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"rules": [{"id": "x", "typo": 1}]}, schema)


def test_cli_check_reports_errors_and_unreachable_rules(tmp_path: Path) -> None:
    write(
        tmp_path,
        """
        thresholds:
          toxicity: {flag: 0.9, reject: 0.8}
        rules:
          - id: never
            description: empty range
            condition: {length: {gte: 10, lt: 5}}
            action: flag
          - id: twin-a
            description: a
            condition: {words: {terms: [darn]}}
            action: flag
          - id: twin-b
            description: b
            condition: {words: {terms: [darn]}}
            action: reject
          - id: always
            description: overrides all below
            condition: {all: []}
            action: approve
            priority: 5
        """,
    )
    result = CliRunner().invoke(rules, ["check", "--rules", str(tmp_path)])
    assert result.exit_code == 1
    out = result.output
    f = tmp_path / "r.yaml"
    assert f"{f}:3: thresholds.toxicity: flag 0.9 is unreachable" in out
    assert f"{f}:5: rule never: unreachable, its condition can never hold" in out
    assert f"{f}:13: rule twin-b: same condition as rule twin-a" in out
    assert f"{f}:9: rule twin-a: unreachable, rule always" in out


def test_cli_check_and_test_pass_on_the_default_rules() -> None:
    runner = CliRunner()
    checked = runner.invoke(rules, ["check", "--rules", str(ROOT / "rules")])
    assert checked.exit_code == 0, checked.output
    assert checked.output.startswith("ok: ")
    tested = runner.invoke(rules, ["test", "--rules", str(ROOT / "rules")])
    assert tested.exit_code == 0, tested.output
    assert "examples passed" in tested.output


def test_cli_test_fails_on_a_wrong_example(tmp_path: Path) -> None:
    write(tmp_path, RULE + "    examples: {must_match: [nice], must_not_match: [darn]}\n")
    result = CliRunner().invoke(rules, ["test", "--rules", str(tmp_path)])
    assert result.exit_code == 1
    assert f"{tmp_path / 'r.yaml'}:2: rule darn: 'nice' should match" in result.output
    assert "rule darn: 'darn' should not match" in result.output
    assert "0 of 2 examples passed" in result.output


def test_cli_bench_prints_figures(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        rules, ["bench", "--rules", str(ROOT / "rules"), "--words", "200", "--comments", "2000"]
    )
    assert result.exit_code == 0, result.output
    assert "comments/s on one core" in result.output


def test_cli_bench_against_another_checkout_times_both_in_turn() -> None:
    # this checkout against itself: the same decisions, a ratio near 1
    args = ["--rules", str(ROOT / "rules"), "--words", "100", "--comments", "50"]
    result = CliRunner().invoke(rules, ["bench", *args, "--against", str(ROOT)])
    assert result.exit_code == 0, result.output
    figures = re.search(
        r"100 pairs of 50-comment slices: this one ([\d.]+)x as fast.*not approved (\d+) vs "
        r"(\d+) of 50",
        result.output,
        re.DOTALL,
    )
    assert figures is not None, result.output
    assert 0.3 < float(figures[1]) < 3
    assert figures[2] == figures[3]


def ctx(cid: str, text: str, **kw: object) -> RuleContext:
    return RuleContext(comment_id=cid, article_id="a", author_id="u", text=text, **kw)  # type: ignore[arg-type]


def test_backtest_counts_changes_by_rule_with_examples(tmp_path: Path) -> None:
    write(
        tmp_path,
        RULE
        + """\
  - id: blast
    description: b
    condition: {words: {terms: [blast]}}
    action: reject
  - id: trial
    description: t
    condition: {length: {gte: 20}}
    action: flag
    mode: shadow
""",
    )
    candidate = load_ruleset([tmp_path])
    items = [
        (ctx("1", "darn"), Status.APPROVED),  # -> flagged by darn
        (ctx("2", "darn it"), Status.FLAGGED),  # unchanged
        (ctx("3", "blast and darn"), Status.FLAGGED),  # -> rejected by blast
        (ctx("4", "lovely weather today, truly"), Status.REJECTED),  # -> approved, no rule
        (ctx("5", "waiting"), Status.PENDING),  # skipped
    ]
    report = backtest(candidate, items)
    assert (report.total, report.changed, report.skipped) == (4, 3, 1)
    assert report.transitions == {
        "approved -> flagged": 1,
        "flagged -> rejected": 1,
        "rejected -> approved": 1,
    }
    assert report.by_rule["darn"].changed == 1
    assert report.by_rule["blast"].examples[0].comment_id == "3"
    assert report.by_rule[NO_RULE].examples[0].text == "lovely weather today, truly"
    assert report.shadow_hits == {"trial": 1}
    text = report.format()
    assert "3 of 4 verdicts would change (1 pending/error skipped)" in text
    assert "blast: 1 (flagged -> rejected: 1)" in text


def test_cli_backtest_reads_jsonl(tmp_path: Path) -> None:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    write(rules_dir, RULE)
    lines = [
        {"context": ctx("1", "darn").model_dump(), "status": "approved"},
        {"context": ctx("2", "fine").model_dump(), "status": "approved"},
    ]
    data = tmp_path / "stored.jsonl"
    data.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    result = CliRunner().invoke(
        rules, ["backtest", "--rules", str(rules_dir), "--input", str(data)]
    )
    assert result.exit_code == 0, result.output
    assert "1 of 2 verdicts would change" in result.output
    assert "darn: 1 (approved -> flagged: 1)" in result.output
    assert "1 approved -> flagged: 'darn'" in result.output
