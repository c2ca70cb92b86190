"""The Redis broker transport against a real Redis: Celery's clean-up after a lost broker
connection (collect, then close, ignoring connection errors) with an unacknowledged message
held. kombu's own transport can raise AttributeError there (seen in a Redis restart under
load), which Celery reports as an "Unrecoverable error" and the worker exits; ours raises a
connection error, which Celery ignores before it reconnects."""

from __future__ import annotations

import uuid

import pytest
import redis
from kombu import Connection
from kombu.common import ignore_errors
from support import delete_prefix

from workers.broker import TRANSPORT


def hold_one_unacked(conn: Connection, queue: str) -> None:
    channel = conn.default_channel
    channel.queue_declare(queue=queue)
    channel.basic_publish(channel.prepare_message("{}"), exchange="", routing_key=queue)
    assert channel.basic_get(queue, no_ack=False) is not None  # delivered, not acked


def test_cleanup_after_connection_loss_is_a_connection_error(redis_url: str) -> None:
    prefix = f"test-broker-{uuid.uuid4().hex[:8]}:"
    conn = Connection(
        redis_url, transport=TRANSPORT, transport_options={"global_keyprefix": prefix}
    )
    try:
        hold_one_unacked(conn, "q")
        channel = conn.default_channel
        conn.collect()  # what Celery's consumer does first on a connection error
        # The path of the crash seen in a Redis outage: rebuilding the pool of a detached
        # channel. Now a connection error, which Celery's ignore_errors swallows.
        with pytest.raises(redis.exceptions.ConnectionError):
            channel._connparams()
        ignore_errors(conn, conn.close)
    finally:
        delete_prefix(redis_url, prefix)
