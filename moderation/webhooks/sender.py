"""The body of the `deliver` task: one attempt of one delivery, and what follows from it
(delivered, a retry scheduled with backoff and jitter, or dead-lettered; an endpoint whose
events keep dying is disabled). Plain functions over the store, so tests call them
directly."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from moderation.config import Settings
from moderation.domain.comment import iso
from moderation.store.webhooks import Attempt, Delivery, Subscription, WebhookStore
from moderation.webhooks.delivery import AttemptResult, Timeouts, send
from moderation.webhooks.schedule import max_attempts, retry_delay
from moderation.webhooks.signing import signed_headers
from moderation.webhooks.ssrf import Guard

log = structlog.get_logger(__name__)


def guard_for(settings: Settings) -> Guard:
    return Guard(
        allow_nets=tuple(settings.webhook_allowed_networks()),
        allow_http=settings.webhook_allow_http,
    )


@dataclass
class Sender:
    store: WebhookStore
    settings: Settings
    clock: Callable[[], float] = time.time
    post: Callable[[Guard, str, str, dict[str, str], Timeouts, int], AttemptResult] = field(
        default=send
    )

    def deliver(self, delivery_id: str) -> str:
        """Returns what happened, for the task's log line."""
        # As long as the lease: when it ends the sweep re-sends, and that copy must be able
        # to take the lock of a worker that died holding it.
        lock_ms = int(self.settings.webhook_lease_s * 1000)
        if not self.store.lock(delivery_id, lock_ms):
            return "busy"  # another copy of this task is sending it right now
        try:
            return self._deliver(delivery_id)
        finally:
            self.store.unlock(delivery_id)

    def _deliver(self, delivery_id: str) -> str:
        delivery = self.store.get_delivery(delivery_id)
        if delivery is None:
            return "missing"
        if delivery.status in ("delivered", "dead"):
            # A duplicate of a finished task (redelivered message, expired lease).
            self.store.r.zrem(self.store.keys.webhook_due(), delivery_id)
            return f"already {delivery.status}"
        sub = self.store.get(delivery.webhook_id)
        if sub is None:
            self.store.drop(delivery_id, "the subscription was deleted")
            return "dropped"
        if not sub.active and delivery.type != "webhook.ping":
            self.store.drop(delivery_id, f"the endpoint is disabled: {sub.disabled_reason or ''}")
            return "dropped"
        return self._attempt(sub, delivery)

    def _attempt(self, sub: Subscription, delivery: Delivery) -> str:
        settings = self.settings
        now = self.clock()
        stamp = datetime.fromtimestamp(now, UTC)
        headers = signed_headers(
            delivery.id, stamp, delivery.payload, sub.signing_secrets(int(now * 1000))
        )
        result = self.post(
            guard_for(settings),
            sub.url,
            delivery.payload,
            headers,
            Timeouts(settings.webhook_connect_timeout_s, settings.webhook_read_timeout_s),
            settings.webhook_max_response_bytes,
        )
        number = delivery.attempts + 1
        delay = (
            None
            if result.ok
            else retry_delay(settings.webhook_retry_delays(), number, settings.webhook_retry_jitter)
        )
        next_due_ms = None if delay is None else int((self.clock() + delay) * 1000)
        attempt = Attempt(
            number=delivery.total_attempts + 1,
            at=iso(stamp),
            status_code=result.status_code,
            latency_ms=result.latency_ms,
            error=result.error,
            response_excerpt=result.response_excerpt,
        )
        outcome = self.store.record_attempt(
            delivery, attempt, ok=result.ok, next_due_ms=next_due_ms
        )
        log.info(
            "webhook.attempt",
            delivery_id=delivery.id,
            webhook_id=sub.id,
            comment_id=delivery.comment_id,
            type=delivery.type,
            attempt=number,
            of=max_attempts(settings.webhook_retry_delays()),
            status_code=result.status_code,
            latency_ms=result.latency_ms,
            error=result.error,
            outcome=outcome.status,
        )
        if (
            outcome.status == "dead"
            and outcome.consecutive_failures >= settings.webhook_disable_after
        ):
            self.disable(sub.id, outcome.consecutive_failures)
        return outcome.status

    def disable(self, webhook_id: str, failures: int) -> None:
        reason = f"disabled after {failures} consecutive events failed all their attempts"

        def change(old: Subscription) -> Subscription:
            return old.model_copy(
                update={
                    "active": False,
                    "disabled_reason": reason,
                    "updated_at": iso(datetime.now(UTC)),
                }
            )

        current = self.store.get(webhook_id)
        if current is None or not current.active:
            return  # deleted or already disabled: nothing to change, nothing to audit
        done = self.store.replace(
            webhook_id,
            change,
            action="webhook.disable",
            actor="system",
            role="system",
            reason=reason,
        )
        if done is not None and done[0].active:
            log.warning("webhook.disabled", webhook_id=webhook_id, reason=reason)
