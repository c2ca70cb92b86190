"""Thin tasks: take ids, call moderation.*, store. Bodies are plain functions so tests can
call them directly."""

from __future__ import annotations

from typing import Any

import structlog
from celery import Celery, Task
from celery.signals import worker_process_init, worker_ready, worker_shutdown

from moderation.classify import classify_batch
from moderation.config import Settings
from moderation.domain.comment import epoch_ms, utcnow
from moderation.queue import (
    CLASSIFY_QUEUE,
    CLASSIFY_TASK,
    SWEEP_TASK,
    TaskQueue,
    enqueue_classification,
)
from moderation.services import Services
from workers import runtime

log = structlog.get_logger(__name__)


def classify_one(settings: Settings, comment_id: str) -> dict[str, str]:
    """Classify a comment; raises if it failed, so the task retries it."""
    state = runtime.get_state(settings, need_model=True)
    assert state.classifier is not None
    result = classify_batch(
        [comment_id],
        store=state.services.comments,
        classifier=state.classifier,
        ruleset=lambda: runtime.current_ruleset(state),
        explain=settings.explain,
    )
    if comment_id in result.failed:
        raise RuntimeError(result.failed[comment_id])
    if comment_id in result.written:
        return {"status": result.written[comment_id].value}
    return {"skipped": result.skipped.get(comment_id, "missing")}


def sweep_pending(services: Services, queue: TaskQueue) -> dict[str, int]:
    """Re-enqueue comments pending for too long: stored but never queued (the broker was
    down), or whose message was lost with a killed worker (the Redis broker itself only
    redelivers after the visibility timeout).

    While the classify queue has a backlog, a comment pending for long is most likely just
    waiting its turn: re-queuing it would only grow the backlog, and counting it towards the
    dead-letter limit would condemn comments for the service being busy. So the sweeper
    acts only when the queue has drained; then a comment still pending was truly lost,
    and one that keeps failing to get a verdict is dead-lettered, never dropped."""
    settings = services.settings
    backlog = queue.classify_backlog()
    if backlog:
        log.info("sweep.skipped_backlog", backlog=backlog)
        return {"requeued": 0, "dead_lettered": 0, "backlog": backlog}
    cutoff = epoch_ms(utcnow()) - settings.pending_sweep_after_s * 1000
    requeued = dead = 0
    for comment_id in services.comments.pending_older_than(cutoff):
        comment = services.comments.get(comment_id)
        if comment is None:
            services.redis.zrem(services.keys.pending(), comment_id)
            continue
        attempts = services.comments.touch_pending(comment_id)
        if attempts > settings.classify_max_retries:
            if services.comments.mark_error(
                comment_id, comment.revision, "pending too long; retries exhausted"
            ):
                dead += 1
                log.error("comment.dead_lettered", comment_id=comment_id, attempts=attempts)
            continue
        enqueue_classification(queue, services.comments, comment_id)
        requeued += 1
        log.warning("comment.requeued", comment_id=comment_id, attempts=attempts)
    return {"requeued": requeued, "dead_lettered": dead, "backlog": 0}


def trim_events(services: Services) -> int:
    """Drop comment events older than the retention age (the stream is also capped by
    length on every append). Each comment's own history list is kept with the comment."""
    max_age_ms = services.settings.event_stream_max_age_days * 86_400_000
    return services.events.trim_older_than(epoch_ms(utcnow()) - max_age_ms)


def register(app: Celery, settings: Settings) -> None:
    @app.task(
        name=CLASSIFY_TASK,
        bind=True,
        max_retries=settings.classify_max_retries,
        queue=CLASSIFY_QUEUE,
    )
    def classify(self: Task, comment_id: str) -> dict[str, str]:
        structlog.contextvars.bind_contextvars(comment_id=comment_id)
        try:
            return classify_one(settings, comment_id)
        except Exception as exc:
            if self.request.retries >= settings.classify_max_retries:
                state = runtime.get_state(settings, need_model=False)
                comment = state.services.comments.get(comment_id)
                if comment is not None:
                    state.services.comments.mark_error(comment_id, comment.revision, str(exc))
                log.error("classify.dead_lettered", error=str(exc))
                return {"error": str(exc)}
            countdown = min(2**self.request.retries, 60)
            log.warning("classify.retry", error=str(exc), retry_in_s=countdown)
            raise self.retry(exc=exc, countdown=countdown) from exc
        finally:
            structlog.contextvars.unbind_contextvars("comment_id")

    @app.task(name=SWEEP_TASK, ignore_result=True)
    def sweep() -> dict[str, int]:
        state = runtime.get_state(settings, need_model=False)
        trimmed = trim_events(state.services)
        result = sweep_pending(state.services, TaskQueue(app, settings.broker_timeout_s))
        return {**result, "events_trimmed": trimmed}


def connect_worker_signals(app: Celery, settings: Settings, *, load_model: bool) -> None:
    """Load the model after fork in each pool child (prefork), or once in the main process
    for the solo and threads pools; announce the worker only once the model is loaded."""

    @worker_process_init.connect(weak=False)
    def _load_in_child(**_: Any) -> None:
        if load_model:
            runtime.init_state(settings, load_model=True)

    @worker_ready.connect(weak=False)
    def _load_in_main(**_: Any) -> None:
        pool = app.conf.worker_pool
        if load_model and pool in ("solo", "threads"):
            runtime.init_state(settings, load_model=True, batching=pool == "threads")

    @worker_shutdown.connect(weak=False)
    def _leave(**_: Any) -> None:
        runtime.leave()
