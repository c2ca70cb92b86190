"""Each task reaches exactly the queue it was sent to (on the real Redis broker)."""

from __future__ import annotations

import uuid

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
