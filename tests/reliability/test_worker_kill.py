"""SIGKILL of a classify worker mid-batch: its comments come back through their leases
within the stated bound (lease + sweep interval), whether or not the queue is idle, and
every comment ends with exactly one machine verdict."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable

import pytest
from harness import AofRedis, Stack, Tally, audit, figures_line, post_all, wait_all_final

from moderation.services import Services
from moderation.store.leases import ClassifyLeases


def held_by(leases: ClassifyLeases, pid: int) -> set[str]:
    return {m.split("|", 1)[1] for m in leases.held() if m.split("|", 1)[0].endswith(f":{pid}")}


def kill_and_recover(stack: Stack, services: Services) -> tuple[set[str], float]:
    """SIGKILL the worker while it holds leases, start another (the supervisor's part);
    returns the comments the dead one held and how long until its last lease was taken
    (that is, its comments re-queued)."""
    leases = ClassifyLeases(services.redis, services.keys)
    proc = stack.procs["worker"]
    deadline = time.monotonic() + 60
    while not (held := held_by(leases, proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert held, "the worker never held a comment"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    t0 = time.monotonic()
    stack.start_worker()
    while held_by(leases, proc.pid):
        assert time.monotonic() - t0 < 60, "leases of the dead worker never taken"
        time.sleep(0.2)
    return held, time.monotonic() - t0


@pytest.mark.slow
def test_killed_workers_comments_are_requeued_within_the_lease_bound(
    aof_redis: AofRedis, make_stack: Callable[..., Stack]
) -> None:
    stack = make_stack(aof_redis.url)
    services = Services.from_settings(stack.settings)
    base = stack.start_api()
    stack.start_beat()
    stack.start_worker()
    ids = [f"k-{i}" for i in range(150)]
    tally = Tally()
    post_all(base, ids, tally)
    held, requeued_s = kill_and_recover(stack, services)
    bound = stack.settings.classify_lease_s + stack.settings.sweep_interval_s
    # The restarted worker's start-up is inside the measured time; the bound is from the
    # kill to the re-queue, plus one lease renewal period of slack.
    assert requeued_s <= bound + stack.settings.classify_lease_s / 3 + 1, requeued_s
    wait_all_final(services, ids, timeout_s=120)
    result = audit(services, ids)
    assert (result.lost, result.duplicated, result.pending) == (0, 0, 0)
    assert tally.server_errors == 0
    print(
        figures_line(
            "worker SIGKILL once",
            tally,
            result,
            f"{len(held)} held, re-queued in {requeued_s:.1f}s",
        )
    )


@pytest.mark.reliability
def test_five_worker_kills_under_load_lose_and_duplicate_nothing(
    aof_redis: AofRedis, make_stack: Callable[..., Stack]
) -> None:
    count = int(os.environ.get("RELIABILITY_COMMENTS", "1500"))
    stack = make_stack(aof_redis.url)
    services = Services.from_settings(stack.settings)
    base = stack.start_api()
    stack.start_beat()
    stack.start_worker()
    ids = [f"m-{i}" for i in range(count)]
    tally = Tally()
    recoveries = []
    # One wave of comments per kill, so that every kill lands while the worker has work
    # (a fast worker could otherwise drain one long burst before the later kills).
    for wave in (ids[k::5] for k in range(5)):
        poster = threading.Thread(target=post_all, args=(base, wave, tally))
        poster.start()
        recoveries.append(kill_and_recover(stack, services)[1])
        poster.join()
    wait_all_final(services, ids, timeout_s=600)
    result = audit(services, ids)
    line = figures_line(
        "5 worker SIGKILLs", tally, result, f"slowest re-queue {max(recoveries):.1f}s"
    )
    print(line)
    assert len(tally.accepted) == count
    assert (result.lost, result.pending, result.duplicated) == (0, 0, 0), line
    assert result.final == count and not result.other
    assert tally.server_errors == 0
    bound = stack.settings.classify_lease_s + stack.settings.sweep_interval_s
    assert max(recoveries) <= bound + stack.settings.classify_lease_s / 3 + 1


@pytest.mark.reliability
def test_sigterm_during_load_is_graceful(
    aof_redis: AofRedis, make_stack: Callable[..., Stack]
) -> None:
    """A warm shutdown finishes or gives back what it holds; the next worker carries on."""
    stack = make_stack(aof_redis.url)
    services = Services.from_settings(stack.settings)
    base = stack.start_api()
    stack.start_beat()
    stack.start_worker()
    ids = [f"t-{i}" for i in range(400)]
    tally = Tally()
    poster = threading.Thread(target=post_all, args=(base, ids, tally))
    poster.start()
    for _ in range(2):
        time.sleep(4)
        proc = stack.procs["worker"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0  # warm shutdown, exit 0
        stack.start_worker()
    poster.join()
    wait_all_final(services, ids, timeout_s=300)
    result = audit(services, ids)
    print(figures_line("worker SIGTERM x2", tally, result))
    assert (result.lost, result.pending, result.duplicated, tally.server_errors) == (0, 0, 0, 0)
