"""Webhook subscriptions, their deliveries and each delivery's attempts.

A subscription change and its audit entry are written in one transaction. A delivery is
one message (one event, one endpoint); its id is derived from both, so the dispatcher
re-reading an event after a crash finds the delivery already there instead of making a
second one. The due set holds every delivery not finished: by its next retry time, or, once
handed to a worker, by the end of a lease after which it is handed out again (the worker
died mid-delivery).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import redis
from pydantic import BaseModel, Field

from moderation.domain.comment import iso, utcnow
from moderation.store.audit import AuditEntry, AuditLog
from moderation.store.keys import Keys

DeliveryStatus = Literal["pending", "retrying", "delivered", "dead"]
ATTEMPTS_KEPT = 50
DELIVERIES_KEPT = 1000
LATENCY_BUCKETS_MS = (10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)
RETENTION_S = 30 * 24 * 3600

# Create a delivery only if it does not exist yet, and put it in the due set; atomic, so a
# re-dispatched event never resets a delivery that already made progress.
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
return 1
"""

# Hand out due deliveries, each with a lease: concurrent sweepers never get the same one.
_CLAIM_DUE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
return ids
"""


class Subscription(BaseModel):
    id: str
    url: str
    events: list[str]
    article_ids: list[str] = Field(default_factory=list)
    rule_tags: list[str] = Field(default_factory=list)
    active: bool = True
    description: str = ""
    include_text: bool = False
    created_at: str
    updated_at: str
    created_by: str
    disabled_reason: str | None = None
    secret: str
    previous_secret: str | None = None
    previous_secret_expires_at: str | None = None
    previous_secret_expires_ms: int = 0

    def signing_secrets(self, now_ms: int) -> list[str]:
        """The current secret, and the previous one while its grace period lasts."""
        if self.previous_secret and now_ms < self.previous_secret_expires_ms:
            return [self.secret, self.previous_secret]
        return [self.secret]

    def redacted(self) -> dict[str, Any]:
        """For the audit log and API answers: never a secret."""
        return self.model_dump(
            exclude={"secret", "previous_secret", "previous_secret_expires_ms"}, mode="json"
        )


class Delivery(BaseModel):
    id: str
    webhook_id: str
    type: str
    event_id: str
    comment_id: str | None = None
    payload: str
    status: DeliveryStatus = "pending"
    attempts: int = 0  # in the current series (a redelivery starts a new series)
    total_attempts: int = 0
    created_at: str
    created_ms: int = 0
    next_attempt_at: str | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    delivered_at: str | None = None

    def to_fields(self) -> dict[str, str]:
        return {k: json.dumps(v) for k, v in self.model_dump(mode="json").items()}

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> Delivery:
        return cls.model_validate({k: json.loads(v) for k, v in fields.items()})


class Attempt(BaseModel):
    number: int
    at: str
    status_code: int | None
    latency_ms: float
    error: str | None
    response_excerpt: str = ""


@dataclass(frozen=True)
class Outcome:
    """What recording an attempt did to the delivery and its subscription."""

    status: DeliveryStatus
    consecutive_failures: int


class WebhookStore:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        # The client decodes to str; values are converted explicitly.
        self.r: Any = client
        self.keys = keys
        self.audit = AuditLog(client, keys)
        self._create = self.r.register_script(_CREATE)
        self._claim_due = self.r.register_script(_CLAIM_DUE)

    # -- subscriptions -------------------------------------------------------------------

    def get(self, webhook_id: str) -> Subscription | None:
        raw = self.r.hget(self.keys.webhook(webhook_id), "record")
        return Subscription.model_validate_json(raw) if raw else None

    def all(self) -> list[Subscription]:
        ids = sorted(self.r.smembers(self.keys.webhooks()))
        pipe = self.r.pipeline(transaction=False)
        for wid in ids:
            pipe.hget(self.keys.webhook(wid), "record")
        return [Subscription.model_validate_json(raw) for raw in pipe.execute() if raw]

    def consecutive_failures(self, webhook_id: str) -> int:
        return int(self.r.hget(self.keys.webhook(webhook_id), "failures") or 0)

    def create(self, sub: Subscription, *, actor: str, role: str) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(self.keys.webhook(sub.id), mapping={"record": sub.model_dump_json()})
        pipe.sadd(self.keys.webhooks(), sub.id)
        self.audit.append(pipe, self._entry("webhook.create", sub.id, actor, role, None, sub))
        pipe.execute()

    def replace(
        self,
        webhook_id: str,
        change: Any,
        *,
        action: str,
        actor: str,
        role: str,
        reason: str | None = None,
        reset_failures: bool = False,
    ) -> tuple[Subscription, Subscription] | None:
        """Apply `change(old) -> new` under WATCH and audit it; None if there is none."""
        key = self.keys.webhook(webhook_id)

        def txn(pipe: Any) -> tuple[Subscription, Subscription] | None:
            raw = pipe.hget(key, "record")
            if not raw:
                return None
            old = Subscription.model_validate_json(raw)
            new: Subscription = change(old)
            pipe.multi()
            pipe.hset(key, "record", new.model_dump_json())
            if reset_failures:
                pipe.hset(key, "failures", 0)
            self.audit.append(
                pipe, self._entry(action, webhook_id, actor, role, old, new, reason=reason)
            )
            return old, new

        result: tuple[Subscription, Subscription] | None = self.r.transaction(
            txn, key, value_from_callable=True
        )
        return result

    def delete(self, webhook_id: str, *, actor: str, role: str) -> Subscription | None:
        key = self.keys.webhook(webhook_id)

        def txn(pipe: Any) -> Subscription | None:
            raw = pipe.hget(key, "record")
            if not raw:
                return None
            old = Subscription.model_validate_json(raw)
            pipe.multi()
            pipe.delete(key)
            pipe.srem(self.keys.webhooks(), webhook_id)
            self.audit.append(pipe, self._entry("webhook.delete", webhook_id, actor, role, old))
            return old

        result: Subscription | None = self.r.transaction(txn, key, value_from_callable=True)
        return result

    def _entry(
        self,
        action: str,
        webhook_id: str,
        actor: str,
        role: str,
        before: Subscription | None,
        after: Subscription | None = None,
        reason: str | None = None,
    ) -> AuditEntry:
        return AuditEntry(
            action=action,
            target_type="webhook",
            target_id=webhook_id,
            actor=actor,
            role=role,
            before=before.redacted() if before else None,
            after=after.redacted() if after else None,
            reason=reason,
        )

    def record_audit(
        self, action: str, webhook_id: str, *, actor: str, role: str, reason: str | None = None
    ) -> None:
        """An action that changes no subscription (a redelivery), audited on its own."""
        self.audit.record(self._entry(action, webhook_id, actor, role, None, reason=reason))

    def audit_trail(self, webhook_id: str, limit: int = 50) -> list[AuditEntry]:
        return self.audit.about("webhook", webhook_id, limit)

    # -- deliveries ----------------------------------------------------------------------

    def create_deliveries(self, deliveries: list[Delivery], due_ms: int) -> list[str]:
        """Store new deliveries, due at `due_ms`; returns the ids that were new."""
        if not deliveries:
            return []
        pipe = self.r.pipeline(transaction=True)
        for d in deliveries:
            fields = [x for kv in d.to_fields().items() for x in kv]
            self._create(
                keys=[
                    self.keys.webhook_delivery(d.id),
                    self.keys.webhook_due(),
                    self.keys.webhook_deliveries(d.webhook_id),
                ],
                args=[due_ms, d.id, d.created_ms, *fields],
                client=pipe,
            )
        for webhook_id in {d.webhook_id for d in deliveries}:
            pipe.zremrangebyrank(self.keys.webhook_deliveries(webhook_id), 0, -DELIVERIES_KEPT - 1)
        results = pipe.execute()
        return [d.id for d, ok in zip(deliveries, results, strict=False) if ok]

    def get_delivery(self, delivery_id: str) -> Delivery | None:
        raw = self.r.hgetall(self.keys.webhook_delivery(delivery_id))
        return Delivery.from_fields(raw) if raw else None

    def attempts(self, delivery_id: str) -> list[Attempt]:
        raw = self.r.lrange(self.keys.webhook_attempts(delivery_id), 0, -1)
        return [Attempt.model_validate_json(a) for a in raw]

    def deliveries(
        self, webhook_id: str, *, limit: int = 50, status: str | None = None
    ) -> list[tuple[Delivery, list[Attempt]]]:
        """Newest first."""
        ids = self.r.zrevrange(self.keys.webhook_deliveries(webhook_id), 0, -1)
        found: list[tuple[Delivery, list[Attempt]]] = []
        for chunk_start in range(0, len(ids), 100):
            chunk = ids[chunk_start : chunk_start + 100]
            pipe = self.r.pipeline(transaction=False)
            for did in chunk:
                pipe.hgetall(self.keys.webhook_delivery(did))
                pipe.lrange(self.keys.webhook_attempts(did), 0, -1)
            replies = pipe.execute()
            for raw, attempts in zip(replies[::2], replies[1::2], strict=True):
                if not raw:
                    continue
                d = Delivery.from_fields(raw)
                if status and d.status != status:
                    continue
                found.append((d, [Attempt.model_validate_json(a) for a in attempts]))
                if len(found) >= limit:
                    return found
        return found

    def claim_due(self, now_ms: int, lease_ms: int, limit: int = 100) -> list[str]:
        ids: list[str] = self._claim_due(
            keys=[self.keys.webhook_due()], args=[now_ms, now_ms + lease_ms, limit]
        )
        return ids

    def due_count(self) -> int:
        return int(self.r.zcard(self.keys.webhook_due()))

    def dead_count(self) -> int:
        return int(self.r.zcard(self.keys.webhook_dead_letter()))

    def lock(self, delivery_id: str, ttl_ms: int) -> bool:
        return bool(
            self.r.set(self.keys.webhook_delivery_lock(delivery_id), "1", nx=True, px=ttl_ms)
        )

    def unlock(self, delivery_id: str) -> None:
        self.r.delete(self.keys.webhook_delivery_lock(delivery_id))

    def drop(self, delivery_id: str, error: str) -> None:
        """A delivery that can no longer be sent (its subscription was deleted)."""
        pipe = self.r.pipeline(transaction=True)
        pipe.zrem(self.keys.webhook_due(), delivery_id)
        pipe.hset(
            self.keys.webhook_delivery(delivery_id),
            mapping={"status": json.dumps("dead"), "last_error": json.dumps(error)},
        )
        pipe.execute()

    def record_attempt(
        self,
        delivery: Delivery,
        attempt: Attempt,
        *,
        ok: bool,
        next_due_ms: int | None,
    ) -> Outcome:
        """One attempt and what follows from it, in one transaction: delivered (the
        endpoint's failure streak ends), retry at `next_due_ms`, or dead-lettered (the
        streak grows by one event)."""
        now = utcnow()
        status: DeliveryStatus
        if ok:
            status = "delivered"
        elif next_due_ms is not None:
            status = "retrying"
        else:
            status = "dead"
        fields: dict[str, Any] = {
            "status": status,
            "attempts": delivery.attempts + 1,
            "total_attempts": delivery.total_attempts + 1,
            "last_status_code": attempt.status_code,
            "last_error": attempt.error,
            "next_attempt_at": (
                iso(datetime.fromtimestamp(next_due_ms / 1000, UTC)) if next_due_ms else None
            ),
        }
        if ok:
            fields["delivered_at"] = iso(now)
        key = self.keys.webhook_delivery(delivery.id)
        sub_key = self.keys.webhook(delivery.webhook_id)
        stats = self.keys.webhook_stats()
        pipe = self.r.pipeline(transaction=True)
        pipe.rpush(self.keys.webhook_attempts(delivery.id), attempt.model_dump_json())
        pipe.ltrim(self.keys.webhook_attempts(delivery.id), -ATTEMPTS_KEPT, -1)
        pipe.hset(key, mapping={k: json.dumps(v) for k, v in fields.items()})
        if next_due_ms is not None:
            pipe.zadd(self.keys.webhook_due(), {delivery.id: next_due_ms})
            pipe.persist(key)
        else:
            pipe.zrem(self.keys.webhook_due(), delivery.id)
            # Finished: kept for the deliveries listing and redelivery, then forgotten.
            pipe.expire(key, RETENTION_S)
            pipe.expire(self.keys.webhook_attempts(delivery.id), RETENTION_S)
        for bound in LATENCY_BUCKETS_MS:
            if attempt.latency_ms <= bound:
                pipe.hincrby(stats, f"latency_le_{bound}", 1)
        pipe.hincrby(stats, "latency_count", 1)
        pipe.hincrbyfloat(stats, "latency_sum_ms", attempt.latency_ms)
        if ok:
            pipe.hincrby(stats, "delivered", 1)
            pipe.zrem(self.keys.webhook_dead_letter(), delivery.id)
            pipe.hset(sub_key, "failures", 0)
        else:
            pipe.hincrby(stats, "failed_attempts", 1)
            if status == "dead":
                pipe.hincrby(stats, "dead", 1)
                pipe.zadd(
                    self.keys.webhook_dead_letter(), {delivery.id: int(now.timestamp() * 1000)}
                )
                # A deleted subscription's hash must not be re-created by the counter.
                pipe.exists(sub_key)
        replies = pipe.execute()
        failures = 0
        if status == "dead" and replies[-1]:
            failures = int(self.r.hincrby(sub_key, "failures", 1))
        return Outcome(status, failures)

    def redeliver(self, delivery_id: str, due_ms: int) -> Delivery | None:
        """Start a new series of attempts of the same message (same webhook-id)."""
        key = self.keys.webhook_delivery(delivery_id)

        def txn(pipe: Any) -> Delivery | None:
            raw = pipe.hgetall(key)
            if not raw:
                return None
            d = Delivery.from_fields(raw)
            d = d.model_copy(update={"status": "pending", "attempts": 0, "next_attempt_at": None})
            pipe.multi()
            pipe.hset(key, mapping=d.to_fields())
            pipe.zrem(self.keys.webhook_dead_letter(), delivery_id)
            pipe.zadd(self.keys.webhook_due(), {delivery_id: due_ms})
            pipe.persist(key)
            pipe.persist(self.keys.webhook_attempts(delivery_id))
            return d

        result: Delivery | None = self.r.transaction(txn, key, value_from_callable=True)
        return result

    def stats(self) -> dict[str, float]:
        raw = self.r.hgetall(self.keys.webhook_stats())
        return {k: float(v) for k, v in raw.items()}
