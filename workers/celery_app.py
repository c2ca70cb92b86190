"""The Celery app, built from the same Settings as the API (Flask's celery_init_app idea)."""

from __future__ import annotations

from celery import Celery
from kombu.entity import Queue

from moderation.config import Settings
from moderation.queue import CLASSIFY_QUEUE, IO_QUEUE, SWEEP_TASK


def create_celery_app(settings: Settings) -> Celery:
    app = Celery("moderation", broker=settings.effective_broker_url, set_as_current=False)
    app.conf.update(
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_queues=(Queue(CLASSIFY_QUEUE), Queue(IO_QUEUE)),  # type: ignore[no-untyped-call]
        task_default_queue=IO_QUEUE,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=settings.broker_timeout_s,
        broker_transport_options={
            # With the Redis broker an unacked message returns only after this; the sweeper
            # bounds the delay for comments in the meantime.
            "visibility_timeout": settings.visibility_timeout_s,
            "socket_timeout": settings.broker_timeout_s,
            "socket_connect_timeout": settings.broker_timeout_s,
            "global_keyprefix": settings.key_prefix + "celery:",
        },
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        beat_schedule={
            "sweep-pending": {
                "task": SWEEP_TASK,
                "schedule": float(settings.sweep_interval_s),
                "options": {"queue": IO_QUEUE, "expires": float(settings.sweep_interval_s)},
            }
        },
    )
    app.conf.moderation_settings = settings
    from workers import tasks, webhook_tasks

    tasks.register(app, settings)
    webhook_tasks.register(app, settings)
    return app
