"""`moderation webhooks ...` commands."""

from __future__ import annotations

from pathlib import Path

import click

from moderation.config import Settings


@click.group(name="webhooks")
def webhooks() -> None:
    """Webhook deliveries."""


@webhooks.command("bench")
@click.option("--latency-events", default=300, show_default=True, help="paced events for latency")
@click.option("--rate", default=20.0, show_default=True, help="paced events per second")
@click.option("--burst", "burst_events", default=1000, show_default=True, help="events at once")
@click.option("--concurrency", default=8, show_default=True, help="io worker threads")
@click.option(
    "--out", type=click.Path(path_type=Path), default=None, help="write JSON and PNG here"
)
def bench(
    latency_events: int, rate: float, burst_events: int, concurrency: int, out: Path | None
) -> None:
    """Deliveries/s to a local receiver and verdict->delivery latency (p50/p99), with a real
    io worker and the Redis of MODERATION_REDIS_URL (under a throw-away key prefix)."""
    from moderation.webhooks.bench import run_bench

    try:
        settings = Settings()
    except Exception as exc:
        raise click.ClickException(f"invalid configuration: {exc}") from exc
    try:
        run_bench(
            settings,
            latency_events=latency_events,
            rate=rate,
            burst_events=burst_events,
            concurrency=concurrency,
            out=out,
            echo=click.echo,
        )
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc
