"""Each task reaches exactly the queue it was sent to (on the real Redis broker)."""

from __future__ import annotations

import socket
import uuid

import pytest
from support import delete_prefix, make_settings

from moderation.queue import CLASSIFY_QUEUE, IO_QUEUE, TaskQueue
from workers.celery_app import create_celery_app


def test_a_task_lands_in_its_own_queue_only(redis_url: str) -> None:
    prefix = f"test-routing-{uuid.uuid4().hex[:8]}:"
    settings = make_settings(redis_url, prefix)
    app = create_celery_app(settings)
    try:
        TaskQueue(app, settings.broker_timeout_s).classify("c-1")
        app.send_task("moderation.webhooks.deliver", args=["d-1"], queue=IO_QUEUE)
        with app.connection_for_read() as conn:
            client = conn.default_channel.client
            # The channel's client adds the global key prefix itself.
            lengths = {q: client.llen(q) for q in (CLASSIFY_QUEUE, IO_QUEUE)}
        assert lengths == {CLASSIFY_QUEUE: 1, IO_QUEUE: 1}
        declared = {name: (q.exchange.name, q.routing_key) for name, q in app.amqp.queues.items()}
        assert declared == {  # what the worker banner shows
            CLASSIFY_QUEUE: ("moderation.classify", CLASSIFY_QUEUE),
            IO_QUEUE: ("moderation.io", IO_QUEUE),
        }
    finally:
        app.close()
        delete_prefix(redis_url, prefix)


def _rabbitmq_answers() -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", 5672)) == 0


@pytest.mark.skipif(not _rabbitmq_answers(), reason="no RabbitMQ at 127.0.0.1:5672")
def test_the_sweepers_backlog_check_declares_the_queue_as_workers_do(redis_url: str) -> None:
    """RabbitMQ refuses a second declaration with other properties (406): the backlog check
    once declared `classify` non-durable, and then no worker could declare it."""
    settings = make_settings(
        redis_url, "test-routing-amqp:", broker_url="amqp://guest:guest@127.0.0.1:5672//"
    )
    app = create_celery_app(settings)
    try:
        with app.connection_for_write() as conn:
            for queue in app.amqp.queues.values():
                queue.bind(conn.default_channel).declare()
        assert TaskQueue(app, settings.broker_timeout_s).classify_backlog() >= 0
        with app.connection_for_write() as conn:
            app.amqp.queues[CLASSIFY_QUEUE].bind(conn.default_channel).declare()
    finally:
        app.close()
