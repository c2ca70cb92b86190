"""The Redis broker transport, with one kombu defect worked around.

A worker lost to a Redis outage (seen in tests/reliability, kombu 5.7): on a lost connection
Celery's consumer first collects the connection, which detaches the transport from it
(`transport.client = None`), then closes it (`ignore_errors(connection, connection.close)`).
Closing the default channel restores its unacknowledged messages ("Restoring N
unacknowledged message(s)"); for that the channel rebuilds its connection pool, its
parameters read from `self.connection.client`, now None, and it raises
`AttributeError: 'NoneType' object has no attribute 'hostname'` (the same defect as
celery/kombu#582). `ignore_errors` swallows connection errors only, so Celery reports an
"Unrecoverable error" and the worker exits. A channel whose connection (or transport
client) is gone, as after `close_channel`, fails the same way.
So a detached channel here raises the connection error it really is: Celery ignores it and
reconnects. The messages it could not restore stay in the broker's unacknowledged set (the
visibility timeout returns them); their comments are re-queued sooner by the leases."""

from __future__ import annotations

from typing import Any

import redis
from kombu.transport import redis as kombu_redis

TRANSPORT = "workers.broker:RedisTransport"


class ClosedChannelError(redis.exceptions.ConnectionError):
    """The broker channel was closed under this call (the connection was lost)."""


class RedisChannel(kombu_redis.Channel):
    def _create_client(self, asynchronous: bool = False) -> Any:
        """kombu builds a new redis.Redis for every publish (its response-callback table
        alone was a sixth of a POST's CPU in the API); one per channel and connection pool
        is enough, as redis.Redis is thread-safe over its pool. A new pool (after a lost
        connection) gets a new client."""
        if asynchronous:
            return super()._create_client(asynchronous=True)  # type: ignore[no-untyped-call]
        pool = self.pool
        cached = self.__dict__.get("_sync_client")
        if cached is None or cached.connection_pool is not pool:
            cached = self.__dict__["_sync_client"] = super()._create_client()  # type: ignore[no-untyped-call]
        return cached

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        if self.connection is None or self.connection.client is None:
            raise ClosedChannelError("broker channel closed (connection lost)")
        params: dict[str, Any] = super()._connparams(asynchronous=asynchronous)  # type: ignore[no-untyped-call]
        return params


class RedisTransport(kombu_redis.Transport):
    Channel = RedisChannel


def transport_for(broker_url: str) -> str | None:
    """The transport to name for this broker URL: ours for Redis, kombu's default else."""
    scheme = broker_url.partition("://")[0]
    return TRANSPORT if scheme in ("redis", "rediss") else None
