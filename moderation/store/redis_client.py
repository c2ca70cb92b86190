"""Redis connections with bounded timeouts, so a dead Redis is a quick 503, not a hang."""

from __future__ import annotations

import redis

from moderation.config import Settings


def connect(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(
        settings.redis_url,
        decode_responses=True,
        socket_timeout=settings.redis_timeout_s,
        socket_connect_timeout=settings.redis_timeout_s,
        health_check_interval=30,
    )
