"""`moderation rules ...`: check, test, bench, backtest and schema for rule files."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import click
from pydantic import ValidationError

from moderation.domain.verdict import DecidedBy, Status
from moderation.ruleset import bench as bench_mod
from moderation.ruleset.analysis import check as check_dirs
from moderation.ruleset.backtest import backtest as run_backtest
from moderation.ruleset.context import RuleContext
from moderation.ruleset.engine import Ruleset, RulesetError, load_ruleset
from moderation.ruleset.schema import json_schema_text

_RULES_OPTION = click.option(
    "--rules",
    "rule_dirs",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=(Path("rules"),),
    show_default=True,
    help="Rule directory; repeat to layer a site's rules over the defaults.",
)


@click.group(name="rules")
def rules() -> None:
    """Rule files: check them, run their examples, measure and backtest them."""


@rules.command()
@_RULES_OPTION
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
def check(rule_dirs: tuple[Path, ...], strict: bool) -> None:
    """Schema, unknown fields, duplicate ids, unknown lists, bad regexes, unreachable rules."""
    issues = check_dirs(list(rule_dirs))
    for issue in issues:
        click.echo(str(issue), err=True)
    errors = [i for i in issues if i.severity == "error" or strict]
    if errors:
        click.echo(f"{len(errors)} error(s)", err=True)
        sys.exit(1)
    ruleset = load_ruleset(list(rule_dirs))
    click.echo(
        f"ok: {len(ruleset.rules)} rules, {len(ruleset.thresholds)} thresholds, "
        f"{sum(ruleset.lists.values())} list entries, version {ruleset.version}"
    )


@rules.command()
@_RULES_OPTION
def test(rule_dirs: tuple[Path, ...]) -> None:
    """Run every rule's examples (must_match / must_not_match)."""
    try:
        ruleset = load_ruleset(list(rule_dirs))
    except RulesetError as exc:
        for issue in exc.issues:
            click.echo(str(issue), err=True)
        sys.exit(1)
    results = ruleset.run_examples()
    failed = [r for r in results if not r.ok]
    for r in failed:
        want = "should match" if r.expected_match else "should not match"
        click.echo(f"{r.where.file}:{r.where.line}: rule {r.rule_id}: {r.text!r} {want}", err=True)
    rules_with = len({r.rule_id for r in results})
    click.echo(
        f"{len(results) - len(failed)} of {len(results)} examples passed ({rules_with} rules)"
    )
    if failed:
        sys.exit(1)


@rules.command()
@_RULES_OPTION
@click.option("--words", "n_words", default=10_000, show_default=True, help="Generated list size.")
@click.option("--comments", "n_comments", default=50_000, show_default=True)
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the figures as JSON here, and a latency histogram beside it as PNG.",
)
@click.option(
    "--against",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Another checkout (a git worktree of an earlier commit): time both, slice by slice "
    "in turn on one core, and print the ratio.",
)
def bench(
    rule_dirs: tuple[Path, ...],
    n_words: int,
    n_comments: int,
    out_file: Path | None,
    against: Path | None,
) -> None:
    """Comments evaluated per second on one core: the rule set plus a generated word list."""
    if against is not None:
        _compare(rule_dirs, against, n_words, min(n_comments, 20_000))
        return

    def progress(done: int, elapsed: float) -> None:
        click.echo(f"  {done:>8,} comments  {done / elapsed:>10,.0f}/s", err=True)

    click.echo(
        f"loading {', '.join(map(str, rule_dirs))} + {n_words:,} generated words ...", err=True
    )
    result = bench_mod.run(
        list(rule_dirs), n_words=n_words, n_comments=n_comments, progress=progress
    )
    click.echo(
        f"load {result.load_seconds:.2f} s, {result.patterns:,} patterns\n"
        f"{result.comments:,} comments in {result.seconds:.2f} s: "
        f"{result.per_second:,.0f} comments/s on one core, "
        f"p50 {result.p50_us:.1f} us, p99 {result.p99_us:.1f} us "
        f"({result.flagged:,} flagged, {result.rejected:,} rejected)"
    )
    if out_file is not None:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        out_file.write_text(json.dumps(result.summary(), indent=2) + "\n")
        bench_mod.plot_latency(result, out_file.with_suffix(".png"))
        click.echo(f"wrote {out_file} and {out_file.with_suffix('.png')}")


def _compare(rule_dirs: tuple[Path, ...], against: Path, n_words: int, n_comments: int) -> None:
    click.echo(f"timing this checkout and {against} in turn, {n_words:,} words ...", err=True)
    slice_size = min(2_000, n_comments)
    cmp = bench_mod.compare(
        list(rule_dirs), against, n_words=n_words, n_comments=n_comments, slice_size=slice_size
    )
    low, high = cmp.ratio_quartiles
    click.echo(
        f"this checkout {cmp.per_second:,.0f} comments/s, {against} {cmp.other_per_second:,.0f} "
        f"(CPU time, one core); {cmp.pairs} pairs of {slice_size:,}-comment slices: "
        f"this one {cmp.ratio_median:.2f}x as fast (quartiles {low:.2f}-{high:.2f})\n"
        f"load {cmp.load_seconds:.2f} s vs {cmp.other_load_seconds:.2f} s CPU; not approved "
        f"{cmp.not_approved:,} vs {cmp.other_not_approved:,} of {n_comments:,}"
    )


def _read_jsonl(path: Path) -> Iterator[tuple[RuleContext, Status]]:
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                yield RuleContext.model_validate(item["context"]), Status(item["status"])
            except (ValueError, KeyError, TypeError, ValidationError) as exc:
                raise click.ClickException(f"{path}:{n}: {exc}") from exc


def _parse_since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        since = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO 8601 date or time: {value!r}") from exc
    return since if since.tzinfo is not None else since.replace(tzinfo=UTC)


_DECIDED = (Status.APPROVED, Status.FLAGGED, Status.REJECTED)


@dataclass
class _StoredCounts:
    before_since: int = 0
    moderated: int = 0


def _read_stored(
    candidate: Ruleset, since: datetime | None, counts: _StoredCounts
) -> Iterator[tuple[RuleContext, Status]]:
    """Stored comments with the context the worker would build, from the stored scores.

    Reads only: the store used skips the live reads' housekeeping writes, and counts
    recent activity as of when each comment was received.
    """
    # Imported here: the rest of the rules CLI works on files and needs no Redis.
    from redis.exceptions import RedisError

    from moderation.classify import rule_context
    from moderation.config import Settings
    from moderation.services import Services
    from moderation.store.comments import ReadOnlyCommentStore

    try:
        settings = Settings()
    except Exception as exc:
        raise click.ClickException(f"invalid configuration: {exc}") from exc
    svc = Services.from_settings(settings)
    click.echo(
        f"reading stored comments from {settings.redis_url} (prefix {settings.key_prefix!r})",
        err=True,
    )
    try:
        for comment in svc.comments.iter_comments():
            created = datetime.fromisoformat(comment.created_at)
            if since is not None and created < since:
                counts.before_since += 1
                continue
            verdict = comment.verdict
            if verdict is None or comment.status not in _DECIDED:
                # backtest() counts these as skipped without evaluating them
                yield (
                    RuleContext(
                        comment_id=comment.id,
                        article_id=comment.article_id,
                        author_id=comment.author_id,
                        text=comment.text,
                    ),
                    comment.status,
                )
                continue
            if verdict.decided_by is DecidedBy.MODERATOR:
                # A re-run never overrides a moderator's decision: nothing to compare.
                counts.moderated += 1
                continue
            received = datetime.fromisoformat(comment.received_at or comment.created_at)
            store = ReadOnlyCommentStore(svc.redis, svc.keys, as_of=received)
            yield rule_context(store, comment, dict(verdict.scores), candidate), comment.status
    except RedisError as exc:
        raise click.ClickException(f"cannot read stored comments: {exc}") from exc


@rules.command()
@_RULES_OPTION
@click.option(
    "--input",
    "input_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='JSON lines: {"context": <RuleContext>, "status": "approved|flagged|rejected"}. '
    "Without it, the comments stored in Redis (MODERATION_REDIS_URL, MODERATION_KEY_PREFIX).",
)
@click.option(
    "--since",
    help="Stored comments created at or after this ISO 8601 date or time (UTC if no offset).",
)
@click.option("--examples", default=3, show_default=True, help="Examples shown per rule.")
def backtest(
    rule_dirs: tuple[Path, ...], input_path: Path | None, since: str | None, examples: int
) -> None:
    """How many stored verdicts a candidate ruleset would change, by rule. Changes nothing.

    Stored comments are re-evaluated with the model scores recorded in their verdicts and
    the author and article context as it is now (recent activity as of each comment).
    """
    since_dt = _parse_since(since)
    if input_path is not None and since_dt is not None:
        raise click.UsageError("--since filters stored comments; it does not apply to --input")
    try:
        candidate = load_ruleset(list(rule_dirs))
    except RulesetError as exc:
        raise click.ClickException(str(exc)) from exc
    counts = _StoredCounts()
    items = (
        _read_jsonl(input_path)
        if input_path is not None
        else _read_stored(candidate, since_dt, counts)
    )
    report = run_backtest(candidate, items, examples_per_rule=examples)
    click.echo(report.format())
    if counts.moderated:
        click.echo(f"{counts.moderated} moderator decisions not compared (a re-run keeps them)")
    if counts.before_since:
        click.echo(f"{counts.before_since} comments created before {since_dt} left out")


@rules.command()
@click.option("--write", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file.")
def schema(write: Path | None) -> None:
    """Print (or write) the JSON Schema of rule files."""
    text = json_schema_text()
    if write is None:
        click.echo(text, nl=False)
    else:
        write.write_text(text, encoding="utf-8")
