"""Moderator decisions as training data: one JSON line per decided comment revision, in the
format of the training sets (`{"id", "text", "source", "lang", "labels"}`).

Honest labels only: a moderator's reject says the text is not acceptable (toxicity 1), an
approve that it is (toxicity 0); neither says which of the finer labels applies, so none is
written. A decision counts only while it is in force on the text it judged: one undone
since, or on a revision edited since, is left out.

The decided comments are found through the event stream (decisions since `--since`), not
by scanning every comment; the stream's retention (`MODERATION_EVENT_STREAM_MAXLEN`) bounds
how far back an export reaches."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import click
import redis
from tqdm import tqdm

from moderation.domain.comment import Comment, epoch_ms
from moderation.domain.events import EventType
from moderation.domain.verdict import DecidedBy, Decision
from moderation.store.comments import CommentStore
from moderation.store.events import EventLog

SOURCE = "moderation"
PAGE = 1000


@dataclass
class ExportResult:
    written: int = 0
    skipped: int = 0  # decided once, but undone or edited since
    decided: int = 0  # comments with a decision (or undo) in the period


def decided_comment_ids(
    events: EventLog, since: datetime | None, progress: bool = False
) -> Iterator[list[str]]:
    """Pages of ids of comments with a moderator decision (or undo) since `since`, in the
    order of their first such event; each id once."""
    start = f"{epoch_ms(since)}-0" if since else "-"
    seen: set[str] = set()
    with tqdm(total=events.length(), unit="event", disable=not progress, desc="events") as bar:
        while page := events.range(start, "+", count=PAGE):
            bar.update(len(page))
            fresh = []
            for e in page:
                if e.type in (EventType.DECIDED, EventType.UNDONE) and e.comment_id not in seen:
                    seen.add(e.comment_id)
                    fresh.append(e.comment_id)
            if fresh:
                yield fresh
            start = "(" + page[-1].stream_id


def training_row(comment: Comment) -> dict[str, object] | None:
    """The row a comment's decision in force gives, or None if it gives none."""
    verdict = comment.verdict
    if (
        verdict is None
        or verdict.decided_by is not DecidedBy.MODERATOR
        or verdict.decision is None
        or verdict.revision != comment.revision
    ):
        return None
    toxic = 1 if verdict.decision.decision is Decision.REJECT else 0
    return {
        "id": f"{SOURCE}:{comment.id}:r{comment.revision}",
        "text": comment.text,
        "source": SOURCE,
        "lang": comment.language or "und",
        "labels": {"toxicity": toxic},
    }


def export_labels(
    store: CommentStore,
    events: EventLog,
    out: TextIO,
    *,
    since: datetime | None = None,
    progress: bool = False,
) -> ExportResult:
    result = ExportResult()
    for ids in decided_comment_ids(events, since, progress):
        result.decided += len(ids)
        for comment in store.get_many(ids):
            row = training_row(comment) if comment is not None else None
            if row is None:
                result.skipped += 1
                continue
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            result.written += 1
    return result


@click.command("export-labels")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    default=None,
    help="only decisions made from this day (UTC) or moment on",
)
@click.option("--out", "out_path", default="-", show_default=True, help="file, or - for stdout")
def export_labels_command(since: datetime | None, out_path: str) -> None:
    """Moderator decisions as training JSONL (the format of the training sets)."""
    from moderation.config import Settings
    from moderation.services import Services

    svc = Services.from_settings(Settings())
    start = since.replace(tzinfo=UTC) if since else None
    progress = out_path != "-" and sys.stderr.isatty()
    try:
        with contextlib.ExitStack() as stack:
            out: TextIO = (
                sys.stdout
                if out_path == "-"
                else stack.enter_context(Path(out_path).open("w", encoding="utf-8"))
            )
            result = export_labels(svc.comments, svc.events, out, since=start, progress=progress)
    except redis.RedisError as exc:
        raise click.ClickException(f"cannot read Redis at {svc.settings.redis_url}: {exc}") from exc
    click.echo(
        f"# {result.written} rows written; {result.skipped} decisions no longer in force "
        "(undone, or the comment edited since) left out",
        err=True,
    )
