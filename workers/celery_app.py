"""The Celery app, built from the same Settings as the API (Flask's celery_init_app idea)."""

from __future__ import annotations

from celery import Celery
from kombu.entity import Exchange, Queue

from moderation.config import Settings
from moderation.queue import CLASSIFY_QUEUE, IO_QUEUE, SWEEP_TASK
from workers.broker import transport_for


def create_celery_app(settings: Settings) -> Celery:
    app = Celery("moderation", broker=settings.effective_broker_url, set_as_current=False)
    app.conf.update(
        # Redis: kombu's transport with a closed-channel crash turned into a reconnect.
        broker_transport=transport_for(settings.effective_broker_url),
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # Each queue on its own direct exchange and routing key. `Queue(name)` alone put
        # both queues on the default queue's exchange and key (the worker banner showed
        # classify as exchange=io key=io); routing worked only through the Redis
        # transport's fallback to the queue name, which a broker such as RabbitMQ lacks.
        task_queues=tuple(
            Queue(name, Exchange(f"moderation.{name}", type="direct"), routing_key=name)  # type: ignore[no-untyped-call]
            for name in (CLASSIFY_QUEUE, IO_QUEUE)
        ),
        task_default_exchange=f"moderation.{IO_QUEUE}",
        task_default_routing_key=IO_QUEUE,
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
