"""Thin tasks: take ids, call moderation.*, store. Bodies are plain functions so tests can
call them directly."""

from __future__ import annotations

import threading
from typing import Any

import structlog
from celery import Celery, Task
from celery.signals import (
    task_postrun,
    task_received,
    task_revoked,
    worker_process_init,
    worker_ready,
    worker_shutdown,
)

from moderation.classify import classify_batch
from moderation.config import Settings
from moderation.domain.comment import epoch_ms, utcnow
from moderation.domain.verdict import Status
from moderation.queue import (
    CLASSIFY_QUEUE,
    CLASSIFY_TASK,
    SWEEP_TASK,
    TaskQueue,
    enqueue_classification,
)
from moderation.services import Services
from moderation.store.keys import Keys
from moderation.store.leases import ClassifyLeases
from moderation.store.redis_client import connect
from workers import runtime
from workers.leases import LeaseKeeper, owner_id

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
        shared=state.shared,
    )
    if comment_id in result.failed:
        raise RuntimeError(result.failed[comment_id])
    if comment_id in result.written:
        return {"status": result.written[comment_id].value}
    return {"skipped": result.skipped.get(comment_id, "missing")}


def _one_more_attempt(
    services: Services, comment_id: str, revision: int, why: str
) -> tuple[int, int | None]:
    """Count one more attempt at a comment that got no verdict. Returns the attempts so far
    and, once they pass classify_max_retries, how many were dead-lettered now (1, or 0 if a
    verdict won the race); None while it may be queued again."""
    attempts = services.comments.touch_pending(comment_id)
    if attempts <= services.settings.classify_max_retries:
        return attempts, None
    if not services.comments.mark_error(comment_id, revision, why):
        return attempts, 0
    log.error("comment.dead_lettered", comment_id=comment_id, attempts=attempts)
    return attempts, 1


def recover_leased(services: Services, queue: TaskQueue, leases: ClassifyLeases) -> dict[str, int]:
    """Re-queue the comments whose classify lease ended: the worker that held them died (or
    lost Redis for longer than a lease). Unlike `sweep_pending` this does not wait for the
    queue to drain: an ended lease is proof of loss, not of a busy service. So a dead
    worker's comments are back in the queue within classify_lease_s + sweep_interval_s.
    Each recovery counts as an attempt: a comment that keeps killing its worker (a poison
    comment) is dead-lettered after classify_max_retries, never retried forever."""
    recovered = dead = 0
    for owner, comment_id in leases.take_ended():
        state = services.comments.state_of(comment_id)
        if state is None or state[0] is not Status.PENDING:
            continue  # decided before the worker died (or since, by another delivery)
        attempts, exhausted = _one_more_attempt(
            services, comment_id, state[1], "its classify worker died on every attempt"
        )
        if exhausted is not None:
            dead += exhausted
            continue
        try:
            enqueue_classification(queue, services.comments, comment_id)
        except Exception:
            # The broker is down: keep an ended lease, so the next sweep tries again.
            leases.hold(owner, [comment_id], lease_s=0)
            raise
        recovered += 1
        log.warning("comment.recovered", comment_id=comment_id, owner=owner, attempts=attempts)
    return {"recovered": recovered, "recovered_dead_lettered": dead}


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
        state = services.comments.state_of(comment_id)
        if state is None:
            services.redis.zrem(services.keys.pending(), comment_id)
            continue
        attempts, exhausted = _one_more_attempt(
            services, comment_id, state[1], "pending too long; retries exhausted"
        )
        if exhausted is not None:
            dead += exhausted
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
                found = state.services.comments.state_of(comment_id)
                if found is not None:
                    state.services.comments.mark_error(comment_id, found[1], str(exc))
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
        queue = TaskQueue(app, settings.broker_timeout_s)
        leases = ClassifyLeases(state.services.redis, state.services.keys)
        recovered = recover_leased(state.services, queue, leases)
        trimmed = trim_events(state.services)
        result = sweep_pending(state.services, queue)
        return {**recovered, **result, "events_trimmed": trimmed}


def connect_worker_signals(app: Celery, settings: Settings, *, load_model: bool) -> None:
    """Load the model after fork in each pool child (prefork), or once in the main process
    for the solo and threads pools; announce the worker only once the model is loaded."""

    @worker_process_init.connect(weak=False)
    def _load_in_child(**_: Any) -> None:
        if load_model:
            runtime.init_state(settings, load_model=True)

    # Leases on the comments this worker holds (see moderation/store/leases.py). The owner is
    # named here, in the process that receives tasks, before a prefork pool forks.
    keeper = LeaseKeeper(
        ClassifyLeases(connect(settings), Keys(settings.key_prefix)),
        owner_id(),
        settings.classify_lease_s,
    )
    stop_renewing = threading.Event()

    def _classify_arg(name: str | None, args: Any) -> str | None:
        if name != CLASSIFY_TASK or not args:
            return None
        return str(args[0])

    @task_received.connect(weak=False)
    def _lease(request: Any = None, **_: Any) -> None:
        if (
            cid := _classify_arg(getattr(request, "name", None), getattr(request, "args", None))
        ) is not None:
            keeper.acquire(cid)

    @task_postrun.connect(weak=False)
    def _unlease(task: Any = None, args: Any = None, **_: Any) -> None:
        if (cid := _classify_arg(getattr(task, "name", None), args)) is not None:
            keeper.release(cid)

    @task_revoked.connect(weak=False)
    def _unlease_revoked(request: Any = None, **_: Any) -> None:
        if (
            cid := _classify_arg(getattr(request, "name", None), getattr(request, "args", None))
        ) is not None:
            keeper.release(cid)

    @worker_ready.connect(weak=False)
    def _load_in_main(**_: Any) -> None:
        if load_model:
            keeper.start(stop_renewing)
        pool = app.conf.worker_pool
        if load_model and pool in ("solo", "threads"):
            runtime.init_state(settings, load_model=True, batching=pool == "threads")

    @worker_shutdown.connect(weak=False)
    def _leave(**_: Any) -> None:
        # Renewals stop with the worker. On a warm shutdown the tasks it still held are
        # restored to the queue by Celery; their leases end and the sweeper finds them
        # already decided or re-queues them: a duplicate delivery, which is harmless.
        stop_renewing.set()
        runtime.leave()
