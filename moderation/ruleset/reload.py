"""Hot reload: workers ask `holder.current()` per batch and get the newest good ruleset.

`current()` is cheap: at most once per `check_interval_s` it stats the rule files, and
only when something changed does it read and compile them. A ruleset is built
completely before it replaces the old one with a single reference assignment, so every
evaluation runs against one whole ruleset, old or new, never a mix. Files are only read once they have not changed for `settle_s`, so a file
saved in place is not read half-written. A ruleset that does
not load (or whose rules fail their own examples) is refused: the last good one stays
active and `last_error` says why.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from moderation.ruleset.engine import Ruleset, RulesetError, load_ruleset
from moderation.ruleset.errors import Issue
from moderation.ruleset.loader import list_files

Fingerprint = tuple[tuple[str, int, int, int], ...]


def fingerprint(dirs: Sequence[Path]) -> Fingerprint:
    """What changes when a rule file is added, removed, replaced or edited."""
    out: list[tuple[str, int, int, int]] = []
    try:
        files = list_files(dirs)
    except OSError:
        return ()
    for path in files:
        try:
            st = path.stat()
        except OSError:
            # removed between listing and stat: the next check sees the new state
            continue
        out.append((str(path), st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(out)


class RulesetHolder:
    def __init__(
        self,
        dirs: Sequence[Path],
        *,
        check_interval_s: float = 1.0,
        settle_s: float = 0.5,
        require_examples: bool = True,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[Ruleset], None] | None = None,
    ) -> None:
        """Load the ruleset now; raises RulesetError when there is no good one to start with."""
        self.dirs = [Path(d) for d in dirs]
        self.check_interval_s = check_interval_s
        self.settle_s = settle_s
        self.require_examples = require_examples
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self.last_error: str | None = None
        self.last_error_issues: list[Issue] = []
        self.reloads = 0
        self.refusals = 0
        stamp = fingerprint(self.dirs)
        self._ruleset = self._load()
        self._stamp = stamp
        self._checked_at = clock()

    def current(self) -> Ruleset:
        if self._clock() - self._checked_at >= self.check_interval_s:
            self.check()
        return self._ruleset

    def check(self) -> bool:
        """Reload if the files changed; True when a new ruleset became active."""
        # One thread checks; the others keep evaluating with the active ruleset instead
        # of queueing behind a reload.
        if not self._lock.acquire(blocking=False):
            return False
        try:
            self._checked_at = self._clock()
            stamp = fingerprint(self.dirs)
            if stamp == self._stamp:
                return False
            newest = max((mtime for _, mtime, _, _ in stamp), default=0)
            if time.time_ns() - newest < self.settle_s * 1e9:
                # A file changed moments ago and may still be being written (an editor
                # saving in place truncates first): wait until the files are quiet.
                return False
            try:
                ruleset = self._load()
            except RulesetError as exc:
                self.last_error, self.last_error_issues = str(exc), exc.issues
                self.refusals += 1
                self._stamp = stamp  # do not retry the same broken files every second
                return False
            if fingerprint(self.dirs) != stamp:
                # Files changed while they were read: what was read may be half of an
                # edit. Leave the stamp stale so the next check reads them again.
                return False
            self._stamp = stamp
            self.last_error, self.last_error_issues = None, []
            if ruleset.version == self._ruleset.version:
                return False
            self._ruleset = ruleset
            self.reloads += 1
        finally:
            self._lock.release()
        if self._on_change is not None:
            self._on_change(ruleset)
        return True

    def _load(self) -> Ruleset:
        ruleset = load_ruleset(self.dirs)
        if self.require_examples:
            failed = [r for r in ruleset.run_examples() if not r.ok]
            if failed:
                issues = [
                    Issue(
                        r.where.file,
                        r.where.line,
                        f"rule {r.rule_id}: example {r.text!r} "
                        f"{'should match' if r.expected_match else 'should not match'}",
                    )
                    for r in failed
                ]
                raise RulesetError(issues)
        return ruleset

    @property
    def version(self) -> str:
        return self._ruleset.version
