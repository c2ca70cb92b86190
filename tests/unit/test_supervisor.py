"""The dev supervisor with real child processes and an injected clock: a dead child comes
back after its backoff, the backoff grows while a child keeps dying and resets once it ran
stably, and stop() leaves no process behind, even one that ignores SIGTERM."""

from __future__ import annotations

import os
import signal
import sys
import time

from moderation.supervisor import Supervisor

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]
STUBBORN = [
    sys.executable,
    "-c",
    "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('up', flush=True); time.sleep(120)",
]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_dead_child_is_restarted_with_growing_then_reset_backoff() -> None:
    clock = Clock()
    events: list[str] = []
    sup = Supervisor(
        {"api": SLEEPER, "worker": SLEEPER},
        clock=clock,
        on_event=events.append,
        backoff_start_s=1.0,
        backoff_max_s=4.0,
        stable_after_s=10.0,
    )
    sup.start()
    try:
        api_pid = sup.children["api"].proc.pid  # type: ignore[union-attr]
        delays = []
        for _ in range(4):  # dies at once, every time: 1, 2, 4, 4 (capped)
            worker = sup.children["worker"]
            assert worker.proc is not None
            worker.proc.kill()
            worker.proc.wait(10)
            sup.poll()
            assert worker.restart_at is not None
            delays.append(worker.delay_s)
            clock.now += worker.delay_s - 0.01
            sup.poll()
            assert worker.proc.poll() is not None  # not before its backoff
            clock.now += 0.02
            sup.poll()
            assert worker.proc.poll() is None  # restarted
        assert delays == [1.0, 2.0, 4.0, 4.0]
        worker = sup.children["worker"]
        assert worker.restarts == 4
        clock.now += 11  # ran stably: the next death restarts after the start delay again
        assert worker.proc is not None
        worker.proc.kill()
        worker.proc.wait(10)
        sup.poll()
        assert worker.delay_s == 1.0
        assert sup.children["api"].proc.pid == api_pid  # type: ignore[union-attr]
        assert sup.children["api"].restarts == 0
        assert any("worker exited with -9" in e for e in events)
    finally:
        sup.stop(timeout_s=5)
    assert all(p.poll() is not None for p in sup.processes())


def test_stop_leaves_no_orphans_even_a_child_ignoring_sigterm() -> None:
    read_fd, write_fd = os.pipe()
    sup = Supervisor({"stubborn": STUBBORN, "sleeper": SLEEPER}, output=write_fd)
    sup.start()
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as out:
        assert out.readline() == b"up\n"  # its SIGTERM handler is in place
        pids = [p.pid for p in sup.processes()]
        t0 = time.monotonic()
        sup.stop(timeout_s=1.0)
        assert time.monotonic() - t0 < 5
    codes = {name: c.proc.returncode for name, c in sup.children.items()}  # type: ignore[union-attr]
    assert codes == {"stubborn": -signal.SIGKILL, "sleeper": -signal.SIGTERM}
    for pid in pids:  # reaped: no such process any more
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        raise AssertionError(f"process {pid} still exists")


def test_no_restart_once_stopping() -> None:
    clock = Clock()
    sup = Supervisor({"a": SLEEPER}, clock=clock, backoff_start_s=0.0)
    sup.start()
    sup.stop(timeout_s=5)
    clock.now += 100
    sup.poll()
    assert sup.children["a"].restarts == 0
    assert all(p.poll() is not None for p in sup.processes())
