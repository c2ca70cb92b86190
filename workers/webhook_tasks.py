"""Webhook tasks on the io queue (never on classify workers) and the dispatcher thread that
every io worker runs."""

from __future__ import annotations

import threading
from typing import Any

import structlog
from celery import Celery
from celery.signals import worker_ready, worker_shutdown

from moderation.config import Settings
from moderation.queue import IO_QUEUE
from moderation.services import Services
from moderation.store.events import EventLog
from moderation.store.webhooks import WebhookStore
from moderation.webhooks.dispatcher import DELIVER_TASK, Dispatcher, deliver_sender
from moderation.webhooks.sender import Sender

log = structlog.get_logger(__name__)

_services: Services | None = None
_lock = threading.Lock()


def _shared(settings: Settings) -> Services:
    global _services
    with _lock:
        if _services is None:
            _services = Services.from_settings(settings)
        return _services


def make_dispatcher(app: Celery, settings: Settings, services: Services) -> Dispatcher:
    return Dispatcher(
        store=WebhookStore(services.redis, services.keys),
        events=EventLog(services.redis, services.keys),
        comments=services.comments,
        settings=settings,
        send=deliver_sender(app),
    )


def _consumes_io(app: Celery, consumer: Any) -> bool:
    queues = getattr(getattr(consumer, "task_consumer", None), "queues", None)
    if queues is not None:
        return any(q.name == IO_QUEUE for q in queues)
    return IO_QUEUE in (app.amqp.queues.consume_from or {})


def register(app: Celery, settings: Settings) -> None:
    @app.task(name=DELIVER_TASK, queue=IO_QUEUE, ignore_result=True)
    def deliver(delivery_id: str) -> str:
        services = _shared(settings)
        outcome = Sender(WebhookStore(services.redis, services.keys), settings).deliver(delivery_id)
        return outcome

    stop = threading.Event()

    @worker_ready.connect(weak=False)
    def _start_dispatcher(sender: Any = None, **_: Any) -> None:
        if getattr(sender, "app", None) is not app or not _consumes_io(app, sender):
            return
        dispatcher = make_dispatcher(app, settings, _shared(settings))
        threading.Thread(
            target=dispatcher.run_forever, args=(stop,), name="webhook-dispatcher", daemon=True
        ).start()
        log.info("webhook.dispatcher_started", consumer=dispatcher.consumer)

    @worker_shutdown.connect(weak=False)
    def _stop_dispatcher(**_: Any) -> None:
        stop.set()
