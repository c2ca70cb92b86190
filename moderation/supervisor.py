"""A small process supervisor for `moderation dev`: start each child, restart one that dies
with exponential backoff (as compose's `restart: unless-stopped` does), and on stop end
them all, SIGTERM then SIGKILL, so nothing is left behind. Pure apart from the processes it
runs: the clock is injectable, and `poll()` does one step, so tests drive it with real
children and no sleeping for backoff."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

# Docker's restart policy: the delay doubles from a small start up to a cap, and resets once
# the container has run for a while; these are the same shape, in seconds.
BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 30.0
STABLE_AFTER_S = 10.0


@dataclass
class Child:
    name: str
    command: list[str]
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    delay_s: float = 0.0  # the next restart's delay
    restart_at: float | None = None  # set while dead and waiting for its restart
    exits: list[int] = field(default_factory=list)


class Supervisor:
    def __init__(
        self,
        commands: Mapping[str, list[str]],
        *,
        env: Mapping[str, str] | None = None,
        output: IO[bytes] | int | None = None,
        preexec_fn: Callable[[], None] | None = None,
        on_event: Callable[[str], None] = lambda _line: None,
        clock: Callable[[], float] = time.monotonic,
        backoff_start_s: float = BACKOFF_START_S,
        backoff_max_s: float = BACKOFF_MAX_S,
        stable_after_s: float = STABLE_AFTER_S,
    ) -> None:
        self.children = {name: Child(name, list(cmd)) for name, cmd in commands.items()}
        self._env = dict(env) if env is not None else None
        self._output = output
        self._preexec_fn = preexec_fn
        self._on_event = on_event
        self._clock = clock
        self._backoff_start_s = backoff_start_s
        self._backoff_max_s = backoff_max_s
        self._stable_after_s = stable_after_s
        self._stopping = False

    def _spawn(self, child: Child) -> None:
        child.proc = subprocess.Popen(
            child.command,
            env=self._env,
            stdout=self._output,
            stderr=self._output,
            preexec_fn=self._preexec_fn,  # prctl only (see cli._die_with_parent)
        )
        child.started_at = self._clock()
        child.restart_at = None

    def start(self) -> None:
        for child in self.children.values():
            self._spawn(child)

    def processes(self) -> list[subprocess.Popen[bytes]]:
        return [c.proc for c in self.children.values() if c.proc is not None]

    def poll(self) -> None:
        """One step: notice children that exited, schedule their restart, restart those due."""
        if self._stopping:
            return
        now = self._clock()
        for child in self.children.values():
            if child.proc is None:
                continue
            code = child.proc.poll()
            if code is not None and child.restart_at is None:
                child.exits.append(code)
                ran = now - child.started_at
                # A child that ran stably starts again quickly; one that keeps dying waits
                # longer each time, so a crash loop does not burn the machine.
                if ran >= self._stable_after_s or child.delay_s == 0:
                    child.delay_s = self._backoff_start_s
                else:
                    child.delay_s = min(child.delay_s * 2, self._backoff_max_s)
                child.restart_at = now + child.delay_s
                self._on_event(
                    f"{child.name} exited with {code} after {ran:.1f}s; "
                    f"restarting in {child.delay_s:.1f}s"
                )
            if child.restart_at is not None and now >= child.restart_at:
                child.restarts += 1
                self._spawn(child)
                self._on_event(f"{child.name} restarted (restart {child.restarts})")

    def run(self, should_stop: Callable[[], bool], interval_s: float = 0.5) -> None:
        """Supervise until `should_stop()` says so (Ctrl-C); the caller then calls stop()."""
        while not should_stop():
            self.poll()
            time.sleep(interval_s)

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM every child, wait up to timeout_s for them all, then SIGKILL the rest."""
        self._stopping = True
        procs = self.processes()
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + timeout_s
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def describe(children: Mapping[str, Child]) -> dict[str, Any]:
    """What each child is doing, for a status line or a test."""
    return {
        name: {
            "pid": c.proc.pid if c.proc else None,
            "alive": c.proc is not None and c.proc.poll() is None,
            "restarts": c.restarts,
            "exits": list(c.exits),
        }
        for name, c in children.items()
    }
