"""Sending work to the Celery broker. Tasks carry ids, never texts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from moderation.store.comments import CommentStore

CLASSIFY_TASK = "moderation.classify"
SWEEP_TASK = "moderation.sweep_pending"
CLASSIFY_QUEUE = "classify"
IO_QUEUE = "io"


class _Sender(Protocol):
    def send_task(self, name: str, *args: Any, **kwargs: Any) -> Any: ...

    def connection_for_read(self) -> Any: ...

    @property
    def amqp(self) -> Any: ...


class TaskQueue:
    def __init__(self, celery_app: _Sender, timeout_s: float) -> None:
        self._app = celery_app
        self._timeout_s = timeout_s

    def classify(self, comment_id: str) -> None:
        """Raises kombu's OperationalError when the broker cannot take the message."""
        self._app.send_task(
            CLASSIFY_TASK,
            args=[comment_id],
            queue=CLASSIFY_QUEUE,
            # One quick retry absorbs a dropped connection; a broker that is down fails fast.
            retry=True,
            retry_policy={
                "max_retries": 1,
                "interval_start": 0.1,
                "interval_step": 0.2,
                "interval_max": 0.5,
            },
        )

    def classify_backlog(self) -> int:
        """Messages waiting in the classify queue (not those a worker holds unacked)."""
        with self._app.connection_for_read() as conn:
            # Declaring is idempotent and, unlike a passive declare, works before any
            # worker has bound the queue. It must be the workers' own declaration (durable,
            # same exchange): RabbitMQ refuses a queue declared twice with other properties,
            # and a bare non-durable declaration here broke the workers' on a fresh broker.
            queue = self._app.amqp.queues[CLASSIFY_QUEUE].bind(conn.default_channel)
            _name, message_count, _consumers = queue.queue_declare()
            return int(message_count)


def enqueue_classification(queue: TaskQueue, comments: CommentStore, comment_id: str) -> None:
    """Queue the comment, then record that it is queued. If the send fails the flag stays
    unset, so the site's retry of the same POST queues it again (and the sweeper would)."""
    queue.classify(comment_id)
    comments.mark_enqueued(comment_id)
