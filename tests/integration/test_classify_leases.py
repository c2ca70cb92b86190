"""Classify leases against the real Redis broker, with no worker consuming and an injected
clock: a dead worker's comments are re-queued once their lease ends, with or without a
backlog; a held lease is left alone; a comment that keeps killing its worker is
dead-lettered."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from support import delete_prefix, make_settings

from moderation.domain.comment import body_fingerprint, utcnow
from moderation.domain.verdict import Status
from moderation.queue import TaskQueue
from moderation.services import Services
from moderation.store.comments import NewComment
from moderation.store.leases import ClassifyLeases
from workers.celery_app import create_celery_app
from workers.leases import LeaseKeeper
from workers.tasks import recover_leased


class Clock:
    def __init__(self) -> None:
        self.ms = 1_800_000_000_000

    def __call__(self) -> int:
        return self.ms


@pytest.fixture
def env(redis_url: str) -> Iterator[tuple[Services, TaskQueue, ClassifyLeases, Clock]]:
    prefix = f"test-lease-{uuid.uuid4().hex[:8]}:"
    settings = make_settings(redis_url, prefix, classify_max_retries=2)
    svc = Services.from_settings(settings)
    clock = Clock()
    yield (
        svc,
        TaskQueue(create_celery_app(settings), 1.0),
        ClassifyLeases(svc.redis, svc.keys, clock),
        clock,
    )
    delete_prefix(redis_url, prefix)


def stored(svc: Services) -> str:
    cid = f"c-{uuid.uuid4().hex[:8]}"
    svc.comments.create(
        NewComment(cid, "a", "u", "text", utcnow(), None, None, {}, body_fingerprint({"id": cid}))
    )
    return cid


def test_ended_lease_is_requeued_even_behind_a_backlog(
    env: tuple[Services, TaskQueue, ClassifyLeases, Clock],
) -> None:
    svc, queue, leases, clock = env
    cid, held = stored(svc), stored(svc)
    queue.classify("someone-else")  # a backlog: the idle-queue sweeper would wait
    leases.hold("dead-worker:1", [cid], lease_s=30)
    leases.hold("live-worker:2", [held], lease_s=30)
    assert recover_leased(svc, queue, leases)["recovered"] == 0  # not ended yet
    clock.ms += 20_000
    assert leases.renew("live-worker:2", [held], lease_s=30) == []  # the live one renews
    clock.ms += 11_000
    assert recover_leased(svc, queue, leases) == {"recovered": 1, "recovered_dead_lettered": 0}
    assert queue.classify_backlog() == 2
    assert set(leases.held()) == {"live-worker:2|" + held}
    assert recover_leased(svc, queue, leases)["recovered"] == 0  # taken exactly once


def test_decided_comment_is_not_requeued(
    env: tuple[Services, TaskQueue, ClassifyLeases, Clock],
) -> None:
    svc, queue, leases, clock = env
    cid = stored(svc)
    leases.hold("w:1", [cid], lease_s=1)
    svc.comments.mark_error(cid, 1, "decided some other way")
    clock.ms += 2_000
    assert recover_leased(svc, queue, leases)["recovered"] == 0
    assert queue.classify_backlog() == 0
    assert leases.held() == {}


def test_comment_that_kills_every_worker_is_dead_lettered(
    env: tuple[Services, TaskQueue, ClassifyLeases, Clock],
) -> None:
    svc, queue, leases, clock = env
    cid = stored(svc)
    outcomes = []
    for attempt in range(3):  # classify_max_retries=2: the third death dead-letters it
        leases.hold(f"w:{attempt}", [cid], lease_s=1)
        clock.ms += 2_000
        outcomes.append(recover_leased(svc, queue, leases))
    assert [o["recovered"] for o in outcomes] == [1, 1, 0]
    assert outcomes[-1]["recovered_dead_lettered"] == 1
    comment = svc.comments.get(cid)
    assert comment is not None and comment.status is Status.ERROR


def test_keeper_counts_duplicates_and_forgets_leases_released_elsewhere(
    env: tuple[Services, TaskQueue, ClassifyLeases, Clock],
) -> None:
    _svc, _queue, leases, clock = env
    keeper = LeaseKeeper(leases, "w:1", lease_s=30)
    keeper.acquire("a")
    keeper.acquire("a")  # a redelivery of the same comment while the first still runs
    keeper.acquire("b")
    keeper.release("a")
    assert set(leases.held()) == {"w:1|a", "w:1|b"}  # one task for "a" still runs
    keeper.release("a")
    assert set(leases.held()) == {"w:1|b"}
    leases.release("w:1", "b")  # a prefork pool child released it in Redis
    clock.ms += 10_000
    keeper.renew_once()
    assert keeper.held() == [] and leases.held() == {}
