"""From comment events to queued deliveries.

Every io worker runs one dispatcher thread, a consumer in the `webhooks` group of the event
stream. It blocks on XREADGROUP, so a verdict's deliveries are queued within milliseconds;
for each event it stores one delivery per matching active subscription, sends a `deliver`
task for each, and only then acknowledges the entry. A worker killed in between leaves
the entry pending: another dispatcher re-claims it after `webhook_claim_idle_ms`, and as
delivery ids are derived from (subscription, event, type), nothing is stored twice.

The same loop sweeps the due set: retries whose time has come, and deliveries handed to a
worker whose lease ran out (the worker died mid-delivery) are sent again.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from moderation.config import Settings
from moderation.domain.comment import epoch_ms, iso, utcnow
from moderation.domain.events import CommentEvent
from moderation.queue import IO_QUEUE
from moderation.store.comments import CommentStore
from moderation.store.events import EventLog
from moderation.store.webhooks import Delivery, Subscription, WebhookStore
from moderation.webhooks.payload import delivery_id, event_body, message_types

log = structlog.get_logger(__name__)

GROUP = "webhooks"
DELIVER_TASK = "moderation.webhooks.deliver"
BATCH = 100


def plan(event: CommentEvent, subscriptions: list[Subscription]) -> list[tuple[Subscription, str]]:
    """(subscription, message type) pairs for one event: pure, for tests. A subscription
    hears of events from its creation on, not of older ones the dispatcher reads late."""
    return [
        (sub, message_type)
        for sub in subscriptions
        if sub.active and event.at >= sub.created_at
        for message_type in message_types(sub.events, sub.article_ids, sub.rule_tags, event)
    ]


@dataclass
class Dispatcher:
    store: WebhookStore
    events: EventLog
    comments: CommentStore
    settings: Settings
    send: Callable[[str], None]  # queue a `deliver(delivery_id)` task
    consumer: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    clock: Callable[[], float] = time.time
    _group_ready: bool = False

    def ensure_group(self) -> None:
        if not self._group_ready:
            # From the stream's start the first time: events written before any io worker
            # ever ran are delivered too (the stream's retention bounds how many).
            self.events.ensure_group(GROUP, start_id="0")
            self._group_ready = True

    def run_once(self, block_ms: int | None = None) -> int:
        """Re-claim, read, dispatch, sweep; returns the number of events handled."""
        self.ensure_group()
        handled = 0
        stale = self.events.autoclaim(
            GROUP, self.consumer, min_idle_ms=self.settings.webhook_claim_idle_ms, count=BATCH
        )
        if stale:
            handled += self.dispatch(stale)
        fresh = self.events.read_group(GROUP, self.consumer, count=BATCH, block_ms=block_ms)
        if fresh:
            handled += self.dispatch(fresh)
        self.sweep()
        return handled

    def dispatch(self, batch: list[CommentEvent]) -> int:
        subscriptions = [s for s in self.store.all() if s.active]
        now = self.clock()
        lease_ms = int(self.settings.webhook_lease_s * 1000)
        for event in batch:
            pairs = plan(event, subscriptions)
            text = None
            if any(sub.include_text for sub, _ in pairs):
                comment = self.comments.get(event.comment_id)
                text = comment.text if comment else None
            deliveries = [
                Delivery(
                    id=delivery_id(sub.id, event.event_id, message_type),
                    webhook_id=sub.id,
                    type=message_type,
                    event_id=event.event_id,
                    comment_id=event.comment_id,
                    payload=event_body(message_type, event, text if sub.include_text else None),
                    created_at=iso(utcnow()),
                    created_ms=int(now * 1000),
                )
                for sub, message_type in pairs
            ]
            # Stored with a lease: if sending the task fails or its worker dies, the sweep
            # sends it again when the lease ends.
            created = self.store.create_deliveries(deliveries, int(now * 1000) + lease_ms)
            for did in created:
                self.send(did)
            if created:
                log.info(
                    "webhook.dispatched",
                    comment_id=event.comment_id,
                    event_id=event.event_id,
                    type=event.type.value,
                    deliveries=len(created),
                )
        self.events.ack(GROUP, [e.stream_id for e in batch if e.stream_id])
        return len(batch)

    def sweep(self) -> int:
        lease_ms = int(self.settings.webhook_lease_s * 1000)
        ids = self.store.claim_due(int(self.clock() * 1000), lease_ms)
        for did in ids:
            self.send(did)
        return len(ids)

    def run_forever(self, stop: threading.Event) -> None:
        block_ms = self.settings.webhook_dispatch_block_ms
        while not stop.is_set():
            try:
                self.run_once(block_ms=block_ms)
            except Exception as exc:  # Redis or the broker briefly down: keep going
                log.warning("webhook.dispatch_failed", error=str(exc))
                self._group_ready = False
                stop.wait(1.0)


def queue_delivery(
    store: WebhookStore, settings: Settings, send: Callable[[str], None], delivery: Delivery
) -> None:
    """Store a delivery made outside the event stream (a ping) and send its task."""
    lease_ms = int(settings.webhook_lease_s * 1000)
    store.create_deliveries([delivery], epoch_ms(utcnow()) + lease_ms)
    send(delivery.id)


def deliver_sender(celery_app: Any) -> Callable[[str], None]:
    """Queue `deliver(delivery_id)` on the io queue; raises kombu's OperationalError when
    the broker cannot take it (the delivery's lease then has the sweep send it later)."""

    def send(delivery_id: str) -> None:
        celery_app.send_task(
            DELIVER_TASK,
            args=[delivery_id],
            queue=IO_QUEUE,
            retry=True,
            retry_policy={"max_retries": 1, "interval_start": 0.1, "interval_max": 0.5},
        )

    return send
