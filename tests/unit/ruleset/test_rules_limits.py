"""A small rule file may not stand for a huge one: sizes are measured with YAML aliases
expanded (nodes, depth, bytes), validation has a time limit, and a rule on a label no model
gives is an error. Each refusal names the file and the line."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import ROOT

from moderation.ruleset import active
from moderation.ruleset.active import check_bundle
from moderation.ruleset.analysis import check
from moderation.ruleset.engine import load_ruleset
from moderation.ruleset.errors import RulesetError
from moderation.ruleset.limits import MAX_NODES


def alias_bomb(width: int = 9, depth: int = 6) -> str:
    """The 700-byte file of the issue: rule i's condition is an `all:` of `width` aliases of
    rule i-1's, so the last rule stands for width**depth score conditions."""
    lines = ["rules:"]
    for level in range(depth + 1):
        if level == 0:
            cond = "&a0 {score: {label: toxicity, gte: 0.5}}"
        else:
            cond = f"&a{level} {{all: [{', '.join([f'*a{level - 1}'] * width)}]}}"
        lines += [f"  - id: r{level}", "    description: d", "    action: flag"]
        lines.append(f"    condition: {cond}")
    return "\n".join(lines) + "\n"


def default_files() -> dict[str, str]:
    rules = ROOT / "rules"
    files = {p.name: p.read_text() for p in sorted(rules.glob("*.y*ml"))}
    files.update({f"words/{p.name}": p.read_text() for p in sorted(rules.glob("words/*.txt"))})
    return files


def test_alias_bomb_is_refused_naming_file_and_rule_line() -> None:
    source = alias_bomb()
    assert len(source.encode()) < 1000
    report = check_bundle({**default_files(), "bomb.yaml": source})
    assert not report.valid
    (issue,) = [i for i in report.errors if i.file == "bomb.yaml"]
    assert issue.line == source.splitlines().index("  - id: r6") + 1
    assert "aliases expanded" in issue.message and f"at most {MAX_NODES:,}" in issue.message


def test_alias_bomb_is_refused_by_rules_check_and_by_loading(tmp_path: Path) -> None:
    (tmp_path / "bomb.yaml").write_text(alias_bomb(9, 9))
    issues = check([tmp_path])
    assert [i.file for i in issues] == [str(tmp_path / "bomb.yaml")]
    with pytest.raises(RulesetError, match=r"bomb\.yaml"):
        load_ruleset([tmp_path])


def test_small_aliases_are_still_fine(tmp_path: Path) -> None:
    (tmp_path / "ok.yaml").write_text(alias_bomb(2, 3))
    assert len(load_ruleset([tmp_path]).rules) == 4


def test_recursive_alias_is_an_error_with_a_line(tmp_path: Path) -> None:
    (tmp_path / "loop.yaml").write_text("rules:\n  - &r\n    id: loop\n    condition: [*r]\n")
    (issue,) = check([tmp_path])
    assert issue.file.endswith("loop.yaml") and issue.line >= 1
    assert "recursive" in issue.message


def test_yaml_nested_a_thousand_deep_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "deep.yaml").write_text("rules: " + "[" * 1000 + "]" * 1000 + "\n")
    (issue,) = check([tmp_path])
    assert issue.file.endswith("deep.yaml") and "deep" in issue.message


def test_deep_but_parseable_nesting_is_refused_by_depth(tmp_path: Path) -> None:
    cond = "{score: {label: toxicity, gte: 0.5}}"
    for _ in range(60):
        cond = f"{{not: {cond}}}"
    (tmp_path / "deep.yaml").write_text(
        f"rules:\n  - id: deep\n    description: d\n    action: flag\n    condition: {cond}\n"
    )
    (issue,) = check([tmp_path])
    assert "levels deep" in issue.message and issue.line == 2


def test_unknown_label_is_an_error_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "labels.yaml").write_text(
        "thresholds:\n"
        "  toxicity: {flag: 0.8}\n"
        "  toxicty: {flag: 0.8}\n"
        "rules:\n"
        "  - id: typo\n"
        "    description: d\n"
        "    condition:\n"
        "      score: {label: insullt, gte: 0.5}\n"
        "    action: flag\n"
    )
    with pytest.raises(RulesetError) as info:
        load_ruleset([tmp_path])
    found = {(i.line, i.severity) for i in info.value.issues}
    assert (3, "error") in found  # thresholds.toxicty
    assert (8, "error") in found  # score label insullt
    assert any("insullt" in i.message and "toxicity" in i.message for i in info.value.issues)


def test_validation_past_its_time_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # A deadline already passed stands for a slow validation without waiting for one.
    monkeypatch.setattr(active, "VALIDATION_TIME_LIMIT_S", -1.0)
    report = check_bundle(default_files())
    assert not report.valid
    (issue,) = report.errors
    assert "validation stopped here after -1 s" in issue.message
    assert issue.file.endswith((".yaml", ".txt"))
    assert check_bundle(default_files()).valid is False
    monkeypatch.undo()
    assert check_bundle(default_files()).valid
