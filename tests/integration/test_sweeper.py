"""The sweeper against the real Redis broker, with no worker consuming: it recovers lost
comments, leaves a backlog alone, and dead-letters what keeps failing."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from support import delete_prefix, make_settings

from moderation.domain.comment import body_fingerprint, utcnow
from moderation.domain.verdict import Status
from moderation.queue import TaskQueue
from moderation.services import Services
from moderation.store.comments import NewComment
from workers.celery_app import create_celery_app
from workers.tasks import sweep_pending


@pytest.fixture
def lonely(redis_url: str) -> Iterator[tuple[Services, TaskQueue]]:
    prefix = f"test-sweep-{uuid.uuid4().hex[:8]}:"
    settings = make_settings(redis_url, prefix, pending_sweep_after_s=1, classify_max_retries=1)
    app = create_celery_app(settings)
    yield Services.from_settings(settings), TaskQueue(app, 1.0)
    delete_prefix(redis_url, prefix)


def purge(queue: TaskQueue) -> None:
    with queue._app.connection_for_write() as conn:  # test-only: drain without a worker
        conn.default_channel.queue_purge("classify")


def stored(svc: Services) -> str:
    cid = f"lost-{uuid.uuid4().hex[:8]}"
    svc.comments.create(
        NewComment(cid, "a", "u", "text", utcnow(), None, None, {}, body_fingerprint({"id": cid}))
    )
    return cid


def test_lost_comment_is_requeued_once_the_queue_is_idle(
    lonely: tuple[Services, TaskQueue],
) -> None:
    svc, queue = lonely
    cid = stored(svc)  # stored, never enqueued: as after a broker outage
    time.sleep(1.1)
    assert sweep_pending(svc, queue) == {"requeued": 1, "dead_lettered": 0, "backlog": 0}
    assert queue.classify_backlog() == 1
    assert svc.comments.get(cid).enqueued  # type: ignore[union-attr]


def test_backlog_is_left_alone_and_not_counted(lonely: tuple[Services, TaskQueue]) -> None:
    svc, queue = lonely
    cid = stored(svc)
    queue.classify("someone-else")
    time.sleep(1.1)
    assert sweep_pending(svc, queue) == {"requeued": 0, "dead_lettered": 0, "backlog": 1}
    assert svc.comments.get(cid).attempts == 0  # type: ignore[union-attr]


def test_comment_that_never_gets_a_verdict_is_dead_lettered(
    lonely: tuple[Services, TaskQueue],
) -> None:
    svc, queue = lonely
    cid = stored(svc)
    time.sleep(1.1)
    assert sweep_pending(svc, queue)["requeued"] == 1
    purge(queue)  # the message is lost again
    time.sleep(1.1)
    assert sweep_pending(svc, queue) == {"requeued": 0, "dead_lettered": 1, "backlog": 0}
    comment = svc.comments.get(cid)
    assert comment is not None and comment.status is Status.ERROR
    assert svc.redis.zscore(svc.keys.dead_letter(), cid) is not None
