"""A poison comment through the real worker and the real model path: a stored record the
worker cannot read (damaged metadata) fails its task every time. It must end as `error`
(dead-lettered, visible, retryable) after the configured retries, its neighbours must get
their verdicts, and the worker must stay up."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from support import WorkerProcess, delete_prefix, make_settings, wait_for

from moderation.domain.comment import body_fingerprint, utcnow
from moderation.domain.verdict import Status
from moderation.queue import TaskQueue, enqueue_classification
from moderation.services import Services
from moderation.store.comments import NewComment
from workers.celery_app import create_celery_app

pytestmark = pytest.mark.reliability


def test_a_poison_comment_is_dead_lettered_and_harms_nothing_else(
    redis_url: str, tmp_path: Path
) -> None:
    settings = make_settings(
        redis_url, f"rel-poison-{uuid.uuid4().hex[:8]}:", classify_max_retries=1
    )
    services = Services.from_settings(settings)
    app = create_celery_app(settings)
    queue = TaskQueue(app, settings.broker_timeout_s)
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        ids = {name: f"{name}-{uuid.uuid4().hex[:6]}" for name in ("before", "poison", "after")}
        for name, cid in ids.items():
            services.comments.create(
                NewComment(
                    cid,
                    "art",
                    "u",
                    f"a calm remark, {name}",
                    utcnow(),
                    None,
                    None,
                    {},
                    body_fingerprint({"id": cid}),
                )
            )
            if name == "poison":  # damaged on disk between the write and the worker's read
                services.redis.hset(services.keys.comment(cid), "metadata", "{not json")
            enqueue_classification(queue, services.comments, cid)

        def settled() -> bool:
            states = [services.comments.state_of(cid) for cid in ids.values()]
            return all(s is not None and s[0] is not Status.PENDING for s in states)

        wait_for(settled, timeout_s=90, interval_s=0.5)
        assert services.comments.state_of(ids["poison"]) == (Status.ERROR, 1)
        assert services.redis.zscore(services.keys.dead_letter(), ids["poison"]) is not None
        for name in ("before", "after"):
            assert services.comments.state_of(ids[name]) == (Status.APPROVED, 1)
        assert worker.proc is not None and worker.proc.poll() is None  # still serving
        events = [e.type.value for e in services.events.for_comment(ids["poison"])]
        assert events == ["comment.stored", "comment.error"]
    finally:
        worker.stop()
        app.close()
        services.redis.close()
        delete_prefix(redis_url, settings.key_prefix)
