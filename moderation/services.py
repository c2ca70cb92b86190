"""The wiring of one process: settings, a Redis client and the repositories over it.
Built by `create_app` and by the Celery worker; connects lazily (redis-py does)."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis

from moderation.config import Role, Settings
from moderation.store.apikeys import ApiKeyStore, hash_key
from moderation.store.audit import AuditLog
from moderation.store.comments import CommentStore
from moderation.store.events import EventLog
from moderation.store.keys import Keys
from moderation.store.ratelimit import RateLimiter
from moderation.store.redis_client import connect
from moderation.store.workers import WorkerRegistry


@dataclass
class Services:
    settings: Settings
    redis: redis.Redis
    keys: Keys
    comments: CommentStore
    events: EventLog
    audit: AuditLog
    api_keys: ApiKeyStore
    workers: WorkerRegistry
    limiter: RateLimiter
    bootstrap_keys: dict[str, Role] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        client = connect(settings)
        keys = Keys(settings.key_prefix)
        events = EventLog(client, keys, maxlen=settings.event_stream_maxlen)
        audit = AuditLog(client, keys)
        return cls(
            settings=settings,
            redis=client,
            keys=keys,
            comments=CommentStore(client, keys, events, audit),
            events=events,
            audit=audit,
            api_keys=ApiKeyStore(client, keys),
            workers=WorkerRegistry(client, keys),
            limiter=RateLimiter(client, keys),
            bootstrap_keys={hash_key(s): role for role, s in settings.parsed_bootstrap_keys()},
        )
