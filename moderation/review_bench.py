"""`moderation review bench`: GET /v1/review latency with 100,000 stored comments.

Fills a fresh key prefix with comments spread over statuses, articles, authors, labels,
rules and tags, then measures the endpoint over real HTTP (gunicorn, one sync worker, a
keep-alive client, requests one at a time) for several filter and sort combinations, and
writes the figures as JSON and a latency plot under reports/. Its keys are removed at the
end, whatever happens.

The fill goes through the comment store's own status transition (`_transition`: record,
article, pending and review indexes) in pipelines of a thousand comments rather than one
WATCH/MULTI per comment, which would take minutes; the per-comment event stream entries
are left out (the queue never reads them)."""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
import httpx
import redis
from tqdm import tqdm

from moderation.config import Settings
from moderation.devstack import delete_prefix, free_port
from moderation.domain.comment import epoch_ms, iso, utcnow
from moderation.domain.events import CommentEvent, EventType
from moderation.domain.labels import LABELS
from moderation.domain.verdict import (
    Action,
    DecidedBy,
    ModelRef,
    Reason,
    RulesetRef,
    Status,
    Verdict,
)
from moderation.store.comments import CommentStore, _Current
from moderation.store.events import EventLog
from moderation.store.keys import Keys

STATUS_MIX = (
    (Status.FLAGGED, 0.40),
    (Status.APPROVED, 0.30),
    (Status.REJECTED, 0.20),
    (Status.APPEALED, 0.04),
    (Status.ERROR, 0.02),
    (Status.PENDING, 0.04),
)
RULES = [f"rule-{i:02d}" for i in range(20)]
TAGS = ["spam", "hate", "threat", "links", "repeat"]
BATCH = 1000


class _NoEvents(EventLog):
    """The fill writes no event stream: the review queue never reads it."""

    def append(self, pipe: Any, event: CommentEvent) -> None:
        return None


@dataclass(frozen=True)
class Case:
    name: str
    params: dict[str, str]


def cases(rng: random.Random, articles: int, authors: int) -> list[Case]:
    article = f"article-{rng.randrange(articles):04d}"
    author = f"author-{rng.choice((1, 2, 3, 5, 8)):05d}"  # ones with many comments
    return [
        Case("flagged, priority (default)", {}),
        Case("flagged, oldest first", {"sort": "age"}),
        Case("flagged, by score", {"sort": "score"}),
        Case("flagged, page 2 (cursor)", {"page": "2"}),
        Case("one article", {"article_id": article}),
        Case("one author", {"author_id": author}),
        Case("label insult, by score", {"label": "insult", "sort": "score"}),
        Case("rule + score range", {"rule_id": "rule-03", "min_score": "0.8"}),
        Case("rejected, age", {"status": "rejected", "sort": "age"}),
        Case("tag + label + article", {"tag": "hate", "label": "toxicity", "article_id": article}),
        Case("limit 100", {"limit": "100"}),
    ]


def _verdict(rng: random.Random, status: Status, at: str) -> Verdict | None:
    if status is Status.PENDING:
        return None
    if status is Status.ERROR:
        return Verdict(status=status, decided_by=DecidedBy.SYSTEM, decided_at=at, revision=1)
    labels = rng.sample(LABELS, rng.choice((1, 1, 2, 3)))
    scores = {label: round(rng.uniform(0.0, 0.4), 4) for label in LABELS}
    reasons = []
    for label in labels:
        scores[label] = round(rng.uniform(0.5, 1.0), 4)
        reasons.append(
            Reason(
                source="model",
                message=f"{label} {scores[label]:.2f} >= 0.50",
                label=label,
                score=scores[label],
                threshold=0.5,
                action=Action.FLAG,
            )
        )
    tags: list[str] = []
    if rng.random() < 0.5:
        action = Action.REJECT if status in (Status.REJECTED, Status.APPEALED) else Action.FLAG
        reasons.append(
            Reason(source="rule", message="rule fired", rule_id=rng.choice(RULES), action=action)
        )
        tags = [rng.choice(TAGS)]
    return Verdict(
        status=Status.REJECTED if status is Status.APPEALED else status,
        scores=scores,
        reasons=reasons,
        model=ModelRef(name="bench", version="1"),
        ruleset=RulesetRef(version="bench"),
        decided_by=DecidedBy.MODEL,
        decided_at=at,
        revision=1,
        tags=tags,
    )


def fill(
    client: redis.Redis, keys: Keys, n: int, *, articles: int, authors: int, seed: int = 7
) -> dict[str, int]:
    rng = random.Random(seed)
    store = CommentStore(client, keys, events=_NoEvents(client, keys))
    r: Any = client
    statuses = [s for s, _ in STATUS_MIX]
    weights = [w for _, w in STATUS_MIX]
    start = utcnow() - timedelta(days=3)
    counts: dict[str, int] = {}
    for base in tqdm(range(0, n, BATCH), unit_scale=BATCH, unit="comment", desc="fill"):
        pipe = r.pipeline(transaction=False)
        for i in range(base, min(base + BATCH, n)):
            cid = f"bench-{i:06d}"
            article = f"article-{rng.randrange(articles):04d}"
            author = f"author-{int(rng.paretovariate(1.2)) % authors:05d}"
            created = start + timedelta(milliseconds=i * 2500 + rng.randrange(1000))
            created_ms, at = epoch_ms(created), iso(created)
            status = rng.choices(statuses, weights)[0]
            counts[status.value] = counts.get(status.value, 0) + 1
            pipe.hset(
                keys.comment(cid),
                mapping={
                    "id": cid,
                    "article_id": article,
                    "author_id": author,
                    "text": f"Bench comment {i} about the article, with some words in it.",
                    "created_at": at,
                    "parent_id": "",
                    "language": "en",
                    "metadata": "{}",
                    "body_hash": cid,
                    "revision": "1",
                    "enqueued": "1",
                    "attempts": "0",
                    "received_at": at,
                    "submitted_at": at,
                },
            )
            pipe.zadd(keys.article_comments(article), {cid: created_ms})
            pipe.zadd(keys.author_comments(author), {cid: created_ms})
            pending = _Current(
                id=cid,
                status=Status.PENDING,
                revision=1,
                verdict=None,
                article_id=article,
                author_id=author,
                created_ms=created_ms,
                submitted_at=at,
                facets=None,
                previous="",
                appealed_revision=0,
                final=False,
            )
            event = CommentEvent(
                type=EventType.STORED,
                comment_id=cid,
                article_id=article,
                author_id=author,
                revision=1,
                status_before=Status.PENDING,
                status_after=status,
                at=at,
            )
            store._transition(pipe, pending, status, _verdict(rng, status, at), event)
        pipe.execute()
    return counts


@contextlib.contextmanager
def gunicorn(settings: Settings, prefix: str, key: str) -> Iterator[str]:
    port = free_port()
    env = dict(os.environ)
    env.update(
        MODERATION_REDIS_URL=settings.redis_url,
        MODERATION_KEY_PREFIX=prefix,
        MODERATION_BOOTSTRAP_KEYS=f"moderator:{key}",
        MODERATION_LOG_LEVEL="WARNING",
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--log-level",
            "warning",
            "moderation.wsgi:app",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise click.ClickException(f"gunicorn exited: {err[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/openapi.json", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise click.ClickException("gunicorn did not answer within 60 s")
            time.sleep(0.2)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def measure(http: httpx.Client, case: Case, requests: int, warmup: int = 20) -> dict[str, Any]:
    params = dict(case.params)
    page = params.pop("page", None)
    if page:  # the cursor of the first page, as a moderator paging through would send
        first = http.get("/v1/review", params=params)
        first.raise_for_status()
        params["cursor"] = first.json()["next_cursor"]
    timings: list[float] = []
    body: dict[str, Any] = {}
    for i in range(warmup + requests):
        t0 = time.perf_counter()
        resp = http.get("/v1/review", params=params)
        elapsed = (time.perf_counter() - t0) * 1000
        if resp.status_code != 200:
            raise click.ClickException(f"{case.name}: HTTP {resp.status_code}: {resp.text[:300]}")
        if i >= warmup:
            timings.append(elapsed)
        body = resp.json()
    return {
        "name": case.name,
        "params": case.params,
        "requests": requests,
        "total": body.get("total"),
        "items": len(body.get("items", [])),
        "p50_ms": round(statistics.median(timings), 2),
        "p90_ms": round(percentile(timings, 90), 2),
        "p99_ms": round(percentile(timings, 99), 2),
        "max_ms": round(max(timings), 2),
        "timings_ms": [round(t, 3) for t in timings],
    }


def plot(results: list[dict[str, Any]], n: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 5.5))
    names = [r["name"] for r in results]
    ax.boxplot(
        [r["timings_ms"] for r in results],
        vert=False,
        tick_labels=names,
        showfliers=True,
        flierprops={"markersize": 2},
    )
    for y, r in enumerate(results, start=1):
        ax.plot(r["p99_ms"], y, marker="|", color="crimson", markersize=14)
    ax.axvline(20, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("GET /v1/review latency, ms (box: quartiles; red tick: p99; dashed: 20 ms)")
    ax.set_title(f"Review queue with {n:,} stored comments, gunicorn over HTTP")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


@click.group("review")
def review_cli() -> None:
    """The review queue."""


@review_cli.command("bench")
@click.option("--comments", "n", default=100_000, show_default=True)
@click.option("--articles", default=400, show_default=True)
@click.option("--authors", default=20_000, show_default=True)
@click.option("--requests", default=300, show_default=True, help="per combination")
@click.option("--out", "out_dir", default="reports", show_default=True, type=click.Path())
@click.option("--keep", is_flag=True, help="leave the filled keys (and print the prefix)")
def bench(n: int, articles: int, authors: int, requests: int, out_dir: str, keep: bool) -> None:
    """Fill a fresh key prefix with comments and measure GET /v1/review p50/p99."""
    settings = Settings()
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    prefix = f"bench-review-{secrets.token_hex(4)}:"
    keys = Keys(prefix)
    key = f"bench-moderator-{secrets.token_hex(12)}"
    results: list[dict[str, Any]] = []
    try:
        t0 = time.perf_counter()
        counts = fill(client, keys, n, articles=articles, authors=authors)
        fill_s = time.perf_counter() - t0
        click.echo(f"filled {n:,} comments under {prefix} in {fill_s:.1f}s: {counts}")
        rng = random.Random(11)
        with (
            gunicorn(settings, prefix, key) as url,
            httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=10
            ) as http,
        ):
            for case in cases(rng, articles, authors):
                result = measure(http, case, requests)
                results.append(result)
                click.echo(
                    f"{case.name:<32} total={result['total']:>6}  "
                    f"p50={result['p50_ms']:6.2f} ms  p99={result['p99_ms']:6.2f} ms"
                )
        worst = max(r["p99_ms"] for r in results)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        report = {
            "comments": n,
            "articles": articles,
            "authors": authors,
            "statuses": counts,
            "fill_s": round(fill_s, 1),
            "server": "gunicorn, 1 sync worker; httpx keep-alive client, sequential",
            "redis": client.info("server").get("redis_version"),
            "cpus": os.cpu_count(),
            "at": iso(utcnow()),
            "worst_p99_ms": worst,
            "target_p99_ms": 20,
            "cases": results,
        }
        (out / "review-bench.json").write_text(json.dumps(report, indent=1) + "\n")
        plot(results, n, out / "review-bench.png")
        click.echo(
            f"worst p99 {worst:.2f} ms (target 20 ms); wrote {out}/review-bench.json "
            f"and {out}/review-bench.png"
        )
    finally:
        if keep:
            click.echo(f"kept keys under {prefix}")
        else:
            removed = delete_prefix(client, prefix)
            click.echo(f"removed {removed:,} keys under {prefix}")
