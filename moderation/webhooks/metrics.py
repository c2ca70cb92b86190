"""Prometheus metrics of webhook deliveries, read from Redis at scrape time (the attempts
happen in io workers, which serve no HTTP), so every API process reports the same."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from moderation.store.events import EventLog
from moderation.store.webhooks import LATENCY_BUCKETS_MS, WebhookStore
from moderation.webhooks.dispatcher import GROUP


class WebhookCollector(Collector):
    def __init__(self, store: WebhookStore, events: EventLog) -> None:
        self.store = store
        self.events = events

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        try:
            stats = self.store.stats()
            due = self.store.due_count()
            dead = self.store.dead_count()
            lag = self.events.lag(GROUP)
        except Exception:
            return
        attempts = CounterMetricFamily(
            "moderation_webhook_attempts",
            "Webhook delivery attempts by outcome",
            labels=["outcome"],
        )
        attempts.add_metric(["ok"], stats.get("delivered", 0))
        attempts.add_metric(["failed"], stats.get("failed_attempts", 0))
        yield attempts
        yield CounterMetricFamily(
            "moderation_webhook_dead_lettered",
            "Webhook deliveries that failed every attempt",
            value=stats.get("dead", 0),
        )
        yield GaugeMetricFamily(
            "moderation_webhook_unfinished_deliveries",
            "Deliveries waiting for their next attempt or in flight",
            value=due,
        )
        yield GaugeMetricFamily(
            "moderation_webhook_dead_letter_deliveries",
            "Dead-lettered deliveries (until redelivered or expired)",
            value=dead,
        )
        if lag is not None:
            yield GaugeMetricFamily(
                "moderation_webhook_dispatch_lag_events",
                "Comment events not yet read by the webhook dispatcher",
                value=lag,
            )
        latency = HistogramMetricFamily(
            "moderation_webhook_attempt_seconds", "Duration of webhook delivery attempts"
        )
        latency.add_metric(
            [],
            [(str(b / 1000), stats.get(f"latency_le_{b}", 0)) for b in LATENCY_BUCKETS_MS]
            + [("+Inf", stats.get("latency_count", 0))],
            stats.get("latency_sum_ms", 0) / 1000,
        )
        yield latency
