"""The worker side of classify leases (moderation/store/leases.py): lease a comment when its
task is received, renew every held lease a few times per lease period, release it when the
task ends. Redis being down never fails a task here: a lease that could not be written is
written on the next renewal, and one that could not be released ends by itself (the sweeper
then finds the comment decided and leaves it)."""

from __future__ import annotations

import os
import socket
import threading
from collections import Counter

import structlog

from moderation.store.leases import ClassifyLeases

log = structlog.get_logger(__name__)


def owner_id() -> str:
    """This worker's name in its leases: host and pid of the process that receives tasks."""
    return f"{socket.gethostname()}:{os.getpid()}"


class LeaseKeeper:
    def __init__(self, leases: ClassifyLeases, owner: str, lease_s: float) -> None:
        self.leases = leases
        self.owner = owner
        self.lease_s = lease_s
        self._held: Counter[str] = Counter()
        self._unwritten: set[str] = set()
        self._lock = threading.Lock()

    def acquire(self, comment_id: str) -> None:
        with self._lock:
            self._held[comment_id] += 1
            try:
                self.leases.hold(self.owner, [comment_id], self.lease_s)
                self._unwritten.discard(comment_id)
            except Exception as exc:  # Redis down: the renewal writes it
                self._unwritten.add(comment_id)
                log.warning("lease.hold_failed", comment_id=comment_id, error=str(exc))

    def release(self, comment_id: str) -> None:
        """With the prefork pool this runs in a pool child that holds nothing in memory: it
        releases in Redis, and the parent's next renewal forgets the id."""
        with self._lock:
            if self._held[comment_id] > 1:
                self._held[comment_id] -= 1  # another task for the same comment still runs
                return
            self._held.pop(comment_id, None)
            self._unwritten.discard(comment_id)
        try:
            self.leases.release(self.owner, comment_id)
        except Exception as exc:
            log.warning("lease.release_failed", comment_id=comment_id, error=str(exc))

    def held(self) -> list[str]:
        with self._lock:
            return list(self._held)

    def renew_once(self) -> None:
        with self._lock:
            unwritten = list(self._unwritten)
            held = [cid for cid in self._held if cid not in self._unwritten]
        if unwritten:
            self.leases.hold(self.owner, unwritten, self.lease_s)
            with self._lock:
                self._unwritten.difference_update(unwritten)
        gone = self.leases.renew(self.owner, held, self.lease_s)
        if gone:
            with self._lock:
                for cid in gone:
                    self._held.pop(cid, None)

    def run(self, stop: threading.Event) -> None:
        """Renew until `stop` is set: three renewals per lease period, so one missed
        renewal (a slow Redis) does not end a lease."""
        while not stop.wait(self.lease_s / 3):
            try:
                self.renew_once()
            except Exception as exc:  # Redis briefly down: the next tick tries again
                log.warning("lease.renew_failed", error=str(exc))

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(stop,), name="leases", daemon=True)
        thread.start()
        return thread
