"""Evaluation: precedence, each condition kind, shadow mode, spans."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from moderation.domain.verdict import Status
from moderation.ruleset import RuleContext, Ruleset, load_ruleset

RULES_DIR = Path(__file__).resolve().parents[3] / "rules"


def ctx(text: str = "hello", **kw: Any) -> RuleContext:
    return RuleContext(comment_id="c1", article_id="a1", author_id="u1", text=text, **kw)


def ruleset(tmp_path: Path, yaml_text: str, words: dict[str, str] | None = None) -> Ruleset:
    (tmp_path / "rules.yaml").write_text(textwrap.dedent(yaml_text))
    if words:
        (tmp_path / "words").mkdir()
        for name, body in words.items():
            (tmp_path / "words" / f"{name}.txt").write_text(body)
    return load_ruleset([tmp_path])


def fired(outcome: Any) -> list[str]:
    return [r.rule_id or f"model:{r.label}" for r in outcome.reasons]


def one_rule(tmp_path: Path, condition: str) -> Ruleset:
    return ruleset(
        tmp_path,
        f"""
        rules:
          - id: r
            description: test rule
            condition: {condition}
            action: flag
        """,
    )


# --- precedence -------------------------------------------------------------------

PRECEDENCE = """
rules:
  - id: approve-staff
    description: staff
    condition: {metadata: {key: role, in: [staff]}}
    action: approve
    priority: 10
  - id: flag-word
    description: flag
    condition: {words: {terms: [darn]}}
    action: flag
  - id: reject-word
    description: reject
    condition: {words: {terms: [blast]}}
    action: reject
  - id: closed
    description: closed
    condition: {article: {closed: true}}
    action: reject
    priority: 100
"""


def test_no_matching_rule_approves(tmp_path: Path) -> None:
    out = ruleset(tmp_path, PRECEDENCE).evaluate(ctx("a perfectly nice comment"))
    assert out.status == Status.APPROVED
    assert out.reasons == []


def test_reject_beats_flag_and_every_match_is_recorded(tmp_path: Path) -> None:
    out = ruleset(tmp_path, PRECEDENCE).evaluate(ctx("darn, blast it"))
    assert out.status == Status.REJECTED
    assert fired(out) == ["flag-word", "reject-word"]
    assert out.decided_by == ("reject-word",)


def test_higher_priority_approve_overrides_reject(tmp_path: Path) -> None:
    out = ruleset(tmp_path, PRECEDENCE).evaluate(ctx("blast it", metadata={"role": "staff"}))
    assert out.status == Status.APPROVED
    assert set(fired(out)) == {"approve-staff", "reject-word"}


def test_highest_priority_decides(tmp_path: Path) -> None:
    out = ruleset(tmp_path, PRECEDENCE).evaluate(
        ctx("fine", metadata={"role": "staff"}, article={"closed": True})
    )
    assert out.status == Status.REJECTED
    assert out.decided_by == ("closed",)


def test_model_thresholds_and_sensitivity(tmp_path: Path) -> None:
    rs = ruleset(tmp_path, "thresholds:\n  toxicity: {flag: 0.8, reject: 0.97}\n")
    assert rs.evaluate(ctx(scores={"toxicity": 0.5})).status == Status.APPROVED
    flagged = rs.evaluate(ctx(scores={"toxicity": 0.85}))
    assert flagged.status == Status.FLAGGED
    reason = flagged.reasons[0]
    assert (reason.source, reason.label, reason.score, reason.threshold) == (
        "model",
        "toxicity",
        0.85,
        0.8,
    )
    assert rs.evaluate(ctx(scores={"toxicity": 0.98})).status == Status.REJECTED
    # sensitivity 0.5 halves the thresholds: 0.5 >= 0.485
    sensitive = rs.evaluate(ctx(scores={"toxicity": 0.5}, article={"sensitivity": 0.5}))
    assert sensitive.status == Status.REJECTED
    assert sensitive.reasons[0].threshold == 0.485


def test_shadow_rule_is_recorded_but_changes_nothing(tmp_path: Path) -> None:
    rs = ruleset(
        tmp_path,
        """
        rules:
          - id: watch
            description: trial
            condition: {words: {terms: [blast]}}
            action: reject
            mode: shadow
        """,
    )
    out = rs.evaluate(ctx("blast"))
    assert out.status == Status.APPROVED
    assert [(r.rule_id, r.shadow) for r in out.reasons] == [("watch", True)]


def test_notify_and_tags_come_from_enforced_rules(tmp_path: Path) -> None:
    rs = ruleset(
        tmp_path,
        """
        rules:
          - id: a
            description: a
            condition: {words: {terms: [blast]}}
            action: flag
            tags: [x]
            notify: [moderators]
          - id: b
            description: b
            condition: {words: {terms: [blast]}}
            action: flag
            mode: shadow
            notify: [nobody]
        """,
    )
    out = rs.evaluate(ctx("blast"))
    assert out.notify == ("moderators",)
    assert out.tags == ("x",)


# --- condition kinds --------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "matching", "not_matching"),
    [
        (
            "{score: {label: threat, gte: 0.5}}",
            {"scores": {"threat": 0.6}},
            {"scores": {"threat": 0.4}},
        ),
        (
            "{score: {label: threat, gte: 0.5}}",
            {"scores": {"threat": 0.45}, "article": {"sensitivity": 0.8}},
            {"scores": {}},
        ),
        (
            "{score: {label: insult, lt: 0.1}}",
            {"scores": {"insult": 0.05}},
            {"scores": {"insult": 0.5}},
        ),
        ("{length: {gte: 10}}", {"text": "0123456789"}, {"text": "  short  "}),
        ("{length: {lt: 3}}", {"text": "ok"}, {"text": "okay"}),
        (
            "{caps: {ratio_gte: 0.7, min_letters: 10}}",
            {"text": "STOP THIS NOW PLEASE"},
            {"text": "STOP"},
        ),
        (
            "{caps: {ratio_gte: 0.7, min_letters: 5}}",
            {"text": "ÇA SUFFIT MAINTENANT"},
            {"text": "Ça suffit"},
        ),
        ("{author: {banned: true}}", {"author": {"banned": True}}, {"author": {}}),
        ("{author: {suspended: true}}", {"author": {"suspended": True}}, {"author": {}}),
        (
            "{author: {approved_lt: 2}}",
            {"author": {"approved_count": 1}},
            {"author": {"approved_count": 2}},
        ),
        (
            "{author: {approved_gte: 2}}",
            {"author": {"approved_count": 2}},
            {"author": {"approved_count": 1}},
        ),
        (
            "{author: {rejected_gte: 2}}",
            {"author": {"rejected_count": 3}},
            {"author": {"rejected_count": 1}},
        ),
        (
            "{author: {flagged_gte: 2}}",
            {"author": {"flagged_count": 2}},
            {"author": {"flagged_count": 0}},
        ),
        (
            "{author: {account_age_days_lt: 7}}",
            {
                "author": {"account_created_at": "2024-05-01T00:00:00+00:00"},
                "received_at": "2024-05-03T00:00:00+00:00",
            },
            {
                "author": {"account_created_at": "2024-01-01T00:00:00+00:00"},
                "received_at": "2024-05-03T00:00:00+00:00",
            },
        ),
        (
            "{author: {account_age_days_lt: 7}}",
            {
                "author": {"account_created_at": "2024-05-02T00:00:00+00:00"},
                "received_at": "2024-05-03T00:00:00+00:00",
            },
            {"author": {"account_created_at": "2024-05-02T00:00:00+00:00"}},  # no received_at
        ),
        ("{article: {premoderate: true}}", {"article": {"premoderate": True}}, {"article": {}}),
        ("{article: {closed: true}}", {"article": {"closed": True}}, {"article": {}}),
        ("{article: {sensitivity_lt: 1}}", {"article": {"sensitivity": 0.8}}, {"article": {}}),
        (
            "{repeat: {same_text_gte: 2}}",
            {"recent": {"same_text_by_author": 2}},
            {"recent": {"same_text_by_author": 1}},
        ),
        (
            "{burst: {comments_gte: 5}}",
            {"recent": {"author_comments_in_window": 5}},
            {"recent": {"author_comments_in_window": 4}},
        ),
        (
            "{metadata: {key: lang, in: [de, fr]}}",
            {"metadata": {"lang": "de"}},
            {"metadata": {"lang": "en"}},
        ),
        ("{metadata: {key: n, in: [1]}}", {"metadata": {"n": 1}}, {"metadata": {"n": True}}),
        ("{regex: {pattern: 'b(uy|ig) now'}}", {"text": "BUY NOW!"}, {"text": "buying now"}),
        ("{regex: {pattern: 'Buy', ignore_case: false}}", {"text": "Buy"}, {"text": "buy"}),
        (
            "{links: {count_gte: 2}}",
            {"text": "x.com and https://y.org/a"},
            {"text": "only x.com here"},
        ),
        (
            "{links: {count_gte: 1, allow: [example.org]}}",
            {"text": "see evil.com"},
            {"text": "see https://docs.example.org/page"},
        ),
        (
            "{links: {deny: [bit.ly]}}",
            {"text": "go to bit.ly/abc"},
            {"text": "go to example.com/bit.ly"},
        ),
        (
            "{words: {terms: [blast, 'go away']}}",
            {"text": "please GO   AWAY"},
            {"text": "go, stay"},
        ),
        ("{words: {terms: [darn], min_count: 2}}", {"text": "darn darn"}, {"text": "darn it"}),
        (
            "{all: [{length: {gte: 3}}, {words: {terms: [darn]}}]}",
            {"text": "darn it"},
            {"text": "darn it", "article": {"closed": True}, "scores": {}} | {"text": "it"},
        ),
        (
            "{any: [{length: {lt: 3}}, {words: {terms: [darn]}}]}",
            {"text": "darn it"},
            {"text": "nice"},
        ),
        ("{not: {words: {terms: [darn]}}}", {"text": "nice"}, {"text": "darn"}),
        ("{all: []}", {"text": "anything"}, None),
    ],
)
def test_condition_kind(
    tmp_path: Path,
    condition: str,
    matching: dict[str, Any],
    not_matching: dict[str, Any] | None,
) -> None:
    rs = one_rule(tmp_path, condition)
    assert rs.evaluate(ctx(**{"text": "hello", **matching})).status == Status.FLAGGED
    if not_matching is not None:
        assert rs.evaluate(ctx(**{"text": "hello", **not_matching})).status == Status.APPROVED


def test_word_lists_from_files_and_prefix_entries(tmp_path: Path) -> None:
    rs = ruleset(
        tmp_path,
        """
        rules:
          - id: listed
            description: listed
            condition: {words: {lists: [bad]}}
            action: reject
        """,
        words={"bad": "# comment line\nblast*\ndarn  # trailing comment\n"},
    )
    assert rs.evaluate(ctx("blasted thing")).status == Status.REJECTED
    assert rs.evaluate(ctx("D.A.R.N")).status == Status.REJECTED
    assert rs.evaluate(ctx("comment line")).status == Status.APPROVED
    assert rs.lists == {"bad": 2}


def test_spans_point_into_the_original_text(tmp_path: Path) -> None:
    rs = ruleset(
        tmp_path,
        """
        rules:
          - id: w
            description: w
            condition: {words: {terms: [darn, 'go away']}}
            action: flag
          - id: re
            description: re
            condition: {regex: {pattern: 'x{2,}'}}
            action: flag
          - id: ln
            description: ln
            condition: {links: {count_gte: 1}}
            action: flag
        """,
    )
    text = "Ｏｈ ｄ\u200bа\u200bｒｎ! please GO,  away xx see https://example.com/p"
    out = rs.evaluate(ctx(text))
    spans = {r.rule_id: [text[s.start : s.end] for s in r.spans] for r in out.reasons}
    assert spans["w"] == ["ｄ\u200bа\u200bｒｎ", "GO,  away"]
    assert spans["re"] == ["xx"]
    assert spans["ln"] == ["https://example.com/p"]


def test_default_ruleset_examples_pass_and_defaults_behave() -> None:
    rs = load_ruleset([RULES_DIR])
    assert [r for r in rs.run_examples() if not r.ok] == []
    assert rs.repeat_window_s == 600
    assert rs.burst_window_s == 300
    premod = rs.evaluate(ctx("A thoughtful remark.", article={"premoderate": True}))
    assert premod.status == Status.FLAGGED
    closed = rs.evaluate(ctx("A thoughtful remark.", article={"closed": True}))
    assert closed.status == Status.REJECTED
    assert rs.evaluate(ctx("A thoughtful remark.")).status == Status.APPROVED
    slur = rs.evaluate(ctx("you sp1c", author={"approved_count": 5}))
    assert slur.status == Status.REJECTED
    identity = rs.evaluate(ctx("Israeli, Palestinian, Muslim and Jewish families grieve."))
    assert identity.status == Status.APPROVED


def test_evaluate_is_deterministic_and_does_not_mutate_context(tmp_path: Path) -> None:
    rs = ruleset(tmp_path, PRECEDENCE)
    c = ctx("darn, blast it", metadata={"role": "x"})
    before = c.model_dump()
    first, second = rs.evaluate(c), rs.evaluate(c)
    assert first == second
    assert c.model_dump() == before
