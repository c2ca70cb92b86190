"""The Redis broker transport, with one kombu defect worked around.

A worker lost to a Redis outage: kombu's Redis channel forgets its connection when it is
closed (`channel.connection = None`, kombu/transport/virtual/base.py `close_channel`), but
with the threads pool a task thread may still ack, or the consumer restore unacknowledged
messages, through that closed channel while the consumer reconnects. The channel then
rebuilds its connection pool from `self.connection.client` and raises
`AttributeError: 'NoneType' object has no attribute 'hostname'` (the same defect as
celery/kombu#582, still present in kombu 5.7). Celery treats an AttributeError as
"Unrecoverable error" and the worker exits; a connection error it handles by reconnecting.
So a closed channel here raises the connection error it really is: the message it could not
ack stays unacknowledged and comes back (the classify lease re-queues it within its bound),
and the worker keeps consuming."""

from __future__ import annotations

from typing import Any

import redis
from kombu.transport import redis as kombu_redis

TRANSPORT = "workers.broker:RedisTransport"


class ClosedChannelError(redis.exceptions.ConnectionError):
    """The broker channel was closed under this call (the connection was lost)."""


class RedisChannel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        if self.connection is None:
            raise ClosedChannelError("broker channel closed (connection lost)")
        params: dict[str, Any] = super()._connparams(asynchronous=asynchronous)  # type: ignore[no-untyped-call]
        return params


class RedisTransport(kombu_redis.Transport):
    Channel = RedisChannel


def transport_for(broker_url: str) -> str | None:
    """The transport to name for this broker URL: ours for Redis, kombu's default else."""
    scheme = broker_url.partition("://")[0]
    return TRANSPORT if scheme in ("redis", "rediss") else None
