"""Hot reload: changes are picked up, bad files are refused, no evaluation ever sees a
half-loaded ruleset, even while files change under load."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from moderation.domain.verdict import Status
from moderation.ruleset import RuleContext, RulesetError
from moderation.ruleset.reload import RulesetHolder

GOOD_A = """
rules:
  - id: set-a-flag
    description: a
    condition: {words: {terms: [alpha]}}
    action: flag
  - id: set-a-reject
    description: a
    condition: {words: {terms: [beta]}}
    action: reject
"""
GOOD_B = """
rules:
  - id: set-b-reject
    description: b
    condition: {words: {terms: [alpha]}}
    action: reject
  - id: set-b-flag
    description: b
    condition: {words: {terms: [beta]}}
    action: flag
"""
BAD = """
rules:
  - id: broken
    description: unknown key below
    condition: {words: {terms: [alpha]}}
    action: flag
    colour: red
"""


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def write(path: Path, text: str) -> None:
    # write then rename, as an editor or a deploy does: readers see old or new bytes
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def ctx(text: str) -> RuleContext:
    return RuleContext(comment_id="c", article_id="a", author_id="u", text=text)


def test_reload_is_throttled_and_picks_up_changes(tmp_path: Path) -> None:
    f = tmp_path / "r.yaml"
    write(f, GOOD_A)
    clock = FakeClock()
    holder = RulesetHolder([tmp_path], check_interval_s=1.0, settle_s=0, clock=clock)
    first = holder.current()
    assert first.evaluate(ctx("alpha")).status == Status.FLAGGED
    write(f, GOOD_B)
    clock.now = 0.5
    assert holder.current() is first  # not checked yet: at most once a second
    clock.now = 1.5
    second = holder.current()
    assert second is not first
    assert second.version != first.version
    assert second.evaluate(ctx("alpha")).status == Status.REJECTED
    assert holder.reloads == 1
    clock.now = 3.0
    assert holder.current() is second  # nothing changed, nothing reloaded


def test_bad_file_is_refused_and_last_good_stays(tmp_path: Path) -> None:
    f = tmp_path / "r.yaml"
    write(f, GOOD_A)
    clock = FakeClock()
    holder = RulesetHolder([tmp_path], settle_s=0, clock=clock)
    good = holder.current()
    write(f, BAD)
    clock.now = 2
    assert holder.current() is good
    assert holder.last_error is not None
    assert f"{f}:7: rules.0.colour: Extra inputs are not permitted" in holder.last_error
    assert holder.refusals == 1
    write(f, GOOD_B)
    clock.now = 4
    assert holder.current().evaluate(ctx("alpha")).status == Status.REJECTED
    assert holder.last_error is None


def test_failing_examples_are_refused(tmp_path: Path) -> None:
    f = tmp_path / "r.yaml"
    write(f, GOOD_A)
    clock = FakeClock()
    holder = RulesetHolder([tmp_path], settle_s=0, clock=clock)
    good = holder.current()
    write(f, GOOD_A + "    examples: {must_match: [gamma]}\n")
    clock.now = 2
    assert holder.current() is good
    assert holder.last_error is not None and "'gamma' should match" in holder.last_error


def test_no_good_ruleset_at_start_raises(tmp_path: Path) -> None:
    write(tmp_path / "r.yaml", BAD)
    with pytest.raises(RulesetError, match=r"r\.yaml:7:"):
        RulesetHolder([tmp_path])


def test_evaluations_under_concurrent_reloads_use_one_whole_ruleset(tmp_path: Path) -> None:
    f = tmp_path / "r.yaml"
    write(f, GOOD_A)
    holder = RulesetHolder([tmp_path], check_interval_s=0.0, settle_s=0.03)
    # what each complete ruleset answers for "alpha beta": set A and set B disagree on
    # every rule, so a mix of the two would show up as a foreign pair of rule ids
    expected = {
        frozenset({"set-a-flag", "set-a-reject"}),
        frozenset({"set-b-reject", "set-b-flag"}),
    }
    stop = threading.Event()
    problems: list[str] = []
    versions: set[str] = set()
    evaluations = [0]

    def evaluate() -> None:
        while not stop.is_set():
            rs = holder.current()
            out = rs.evaluate(ctx("alpha beta"))
            fired = frozenset(r.rule_id for r in out.reasons if r.rule_id)
            if fired not in expected or out.status != Status.REJECTED:
                problems.append(f"{rs.version}: {sorted(fired)} {out.status}")
            if out.ruleset_version != rs.version:
                problems.append("outcome names another ruleset")
            versions.add(rs.version)
            evaluations[0] += 1

    workers = [threading.Thread(target=evaluate) for _ in range(3)]
    for w in workers:
        w.start()

    def settled(before: tuple[int, int]) -> None:
        # The evaluator threads do the checking; wait until one of them has acted on the
        # write (or refused it), however slow the machine is.
        deadline = time.monotonic() + 10
        while (holder.reloads, holder.refusals) == before and time.monotonic() < deadline:
            time.sleep(0.01)

    try:
        # Alternate whole rulesets with half-written files (not atomic: must be refused,
        # never half-applied), while three threads evaluate without pause.
        for step in ("B", "broken", "A", "broken", "B", "A"):
            before = (holder.reloads, holder.refusals)
            if step == "broken":
                f.write_text(GOOD_B[: len(GOOD_B) // 2] + "\n  - id: [")
            else:
                write(f, GOOD_A if step == "A" else GOOD_B)
            settled(before)
    finally:
        stop.set()
        for w in workers:
            w.join()
    assert problems == []
    assert evaluations[0] > 100
    assert len(versions) >= 2
    assert holder.reloads >= 2
    assert holder.refusals >= 1
