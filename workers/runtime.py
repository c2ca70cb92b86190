"""Per-process worker state: the model loads once, after fork, never per task."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from moderation.classifier.base import Classifier
from moderation.classifier.batching import BatchingClassifier
from moderation.classifier.loader import load_classifier
from moderation.classify import SharedRoundTrips, explain_pending
from moderation.config import Settings
from moderation.ruleset import Ruleset
from moderation.ruleset.active import ActiveRuleset
from moderation.ruleset.reload import RulesetHolder
from moderation.services import Services
from moderation.store.rulesets import RulesetStore

log = structlog.get_logger(__name__)


@dataclass
class WorkerState:
    services: Services
    classifier: Classifier | None
    rules: ActiveRuleset
    worker_id: str
    # With the threads pool: the tasks' context reads and verdict writes share round trips.
    shared: SharedRoundTrips | None = None


_state: WorkerState | None = None
_lock = threading.Lock()
_stop_heartbeat = threading.Event()


def current_ruleset(state: WorkerState) -> Ruleset:
    """The newest good ruleset; edited files and a ruleset activated through the API are
    picked up without a restart."""
    return state.rules.current()


def init_state(settings: Settings, *, load_model: bool, batching: bool = False) -> WorkerState:
    """Idempotent. A classify worker loads the model (and announces itself); an io-only
    worker does not. With the threads pool, concurrent tasks share forward passes."""
    global _state
    with _lock:
        if _state is not None and (_state.classifier is not None or not load_model):
            return _state
        services = Services.from_settings(settings)
        classifier = load_classifier(settings) if load_model else None
        if classifier is not None and batching and settings.batch_size > 1:
            classifier = BatchingClassifier(
                classifier,
                settings.batch_size,
                settings.batch_wait_ms,
                token_budget=settings.batch_tokens,
                long_budget=settings.batch_long_tokens,
            )
        rules = ActiveRuleset(
            RulesetHolder(settings.rules_dirs, on_change=_log_reload),
            RulesetStore(services.redis, services.keys),
            on_change=_log_reload,
        )
        worker_id = f"{socket.gethostname()}:{os.getpid()}"
        shared = SharedRoundTrips(services.comments) if batching else None
        _state = WorkerState(services, classifier, rules, worker_id, shared)
        if classifier is not None:
            log.info(
                "worker.model_loaded", model=classifier.info.name, version=classifier.info.version
            )
            _start_heartbeat(_state)
            if settings.explain:
                _start_explainer(_state)
        return _state


def get_state(settings: Settings, *, need_model: bool) -> WorkerState:
    if _state is None or (need_model and _state.classifier is None):
        return init_state(settings, load_model=need_model)
    return _state


def _log_reload(ruleset: Ruleset) -> None:
    log.info("rules.reloaded", ruleset_version=ruleset.version)


def _start_heartbeat(state: WorkerState) -> None:
    settings = state.services.settings
    assert state.classifier is not None
    classifier = state.classifier

    def beat() -> None:
        while True:
            info = {
                "model": classifier.info.name,
                "model_version": classifier.info.version,
                "ruleset_version": current_ruleset(state).version,
                "ruleset_error": state.rules.last_error,
                "ruleset_source": state.rules.source,
                "pid": os.getpid(),
            }
            try:
                state.services.workers.beat(
                    state.worker_id, info, ttl_s=3 * settings.worker_heartbeat_s
                )
            except Exception as exc:  # Redis briefly down: keep trying, readiness will show it
                log.warning("worker.heartbeat_failed", error=str(exc))
            if _stop_heartbeat.wait(settings.worker_heartbeat_s):
                return

    threading.Thread(target=beat, name="heartbeat", daemon=True).start()


def _start_explainer(state: WorkerState) -> None:
    """Spans for stored verdicts, after them: with the batching classifier their model rows
    run only when no verdict is waiting for the model. Claims are leased in Redis, so spans
    a dead worker left undone are picked up by another."""
    assert state.classifier is not None
    classifier = state.classifier

    duty = state.services.settings.explain_duty
    busy: Callable[[], bool] = getattr(classifier, "busy", lambda: False)
    verdict_rows: Callable[[], int] = getattr(classifier, "verdict_rows", lambda: 0)

    def run() -> None:
        pause = 0.5
        while not _stop_heartbeat.wait(pause):
            pause = 0.5
            if busy():  # verdicts first
                continue
            try:
                rows, t0 = verdict_rows(), time.monotonic()
                if not explain_pending(state.services.comments, classifier, limit=1):
                    continue
                # While verdicts keep coming, at most `duty` of the time goes to spans (the
                # rest of the cores serve verdicts, the API and Redis); idle, no pause.
                pause = (time.monotonic() - t0) * (1 / duty - 1) if verdict_rows() > rows else 0
            except Exception as exc:  # Redis briefly down: try again on the next tick
                log.warning("explain.loop_failed", error=str(exc))

    threading.Thread(target=run, name="explainer", daemon=True).start()


def leave() -> None:
    """On shutdown: stop announcing first, so a last heartbeat cannot re-register a worker
    that is going away, then leave the registry (so /readyz stops counting it at once)."""
    _stop_heartbeat.set()
    if _state is not None and _state.classifier is not None:
        with contextlib.suppress(Exception):
            _state.services.workers.leave(_state.worker_id)
