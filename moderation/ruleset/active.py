"""The active ruleset: the rule files on disk, unless a bundle was activated through the API.

A bundle is a complete ruleset sent as `{relative name: content}` (the same layout as a
rules directory: `NAME.yaml` and `words/NAME.txt`); it replaces every rules directory,
it is not layered over them. Workers call `ActiveRuleset.current()` per batch: at most
once per `check_interval_s` it asks the store for the active bundle's version (one cheap
read), and only when that changed does it fetch the files, write them to a private
temporary directory and load them exactly as rule files are loaded, examples included.
The new ruleset replaces the old one in a single reference assignment; a bundle that does
not load is refused, the last good ruleset stays active and `last_error` says why.

The store is injected (`BundleSource`), so this package stays free of Redis.
"""

from __future__ import annotations

import re
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Protocol

import structlog

from moderation.ruleset.analysis import analyse
from moderation.ruleset.engine import Ruleset, RulesetError, compile_definitions, load_ruleset
from moderation.ruleset.errors import Issue
from moderation.ruleset.limits import VALIDATION_TIME_LIMIT_S, ValidationTimeout, time_limit
from moderation.ruleset.loader import WORDS_DIR, read_definitions
from moderation.ruleset.reload import RulesetHolder

log = structlog.get_logger(__name__)

Source = Literal["files", "api"]

# What loader.list_files reads from a rules directory, and nothing that could escape it.
BUNDLE_NAME = re.compile(
    rf"^(?:[A-Za-z0-9][A-Za-z0-9_-]*\.ya?ml|{WORDS_DIR}/[A-Za-z0-9][A-Za-z0-9_-]*\.txt)$"
)
MAX_BUNDLE_FILES = 200
MAX_BUNDLE_BYTES = 1024 * 1024


class BundleSource(Protocol):
    """Where an API-activated bundle is kept (moderation.store.rulesets.RulesetStore)."""

    def active_version(self) -> str | None: ...

    def active_files(self) -> tuple[str, dict[str, str]] | None: ...


def bundle_problems(files: Mapping[str, str]) -> list[str]:
    """Why a bundle cannot even be written out: bad names, too many files, too large."""
    problems = [
        f"{name!r} is not a rule file name: use NAME.yaml, NAME.yml or {WORDS_DIR}/NAME.txt "
        "(letters, digits, '_' and '-')"
        for name in files
        if not BUNDLE_NAME.fullmatch(name)
    ]
    if len(files) > MAX_BUNDLE_FILES:
        problems.append(f"{len(files)} files; at most {MAX_BUNDLE_FILES} are accepted")
    size = sum(len(text.encode("utf-8", "surrogatepass")) for text in files.values())
    if size > MAX_BUNDLE_BYTES:
        problems.append(f"{size} bytes of files; at most {MAX_BUNDLE_BYTES} are accepted")
    return problems


def materialise(files: Mapping[str, str], root: Path) -> None:
    problems = bundle_problems(files)
    if problems:
        raise ValueError("; ".join(problems))
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def example_issues(ruleset: Ruleset) -> list[Issue]:
    return [
        Issue(
            r.where.file,
            r.where.line,
            f"rule {r.rule_id}: example {r.text!r} "
            f"{'should match' if r.expected_match else 'should not match'}",
        )
        for r in ruleset.run_examples()
        if not r.ok
    ]


def _relative(issue: Issue, root: str) -> Issue:
    return replace(issue, file=relative_name(issue.file, root))


def relative_name(file: str, root: str) -> str:
    prefix = root.rstrip("/") + "/"
    return file[len(prefix) :] if file.startswith(prefix) else file


@dataclass(frozen=True)
class BundleReport:
    """`rules check` and `rules test` over a bundle, with file names as the caller sent them."""

    version: str | None
    rule_count: int
    issues: list[Issue]

    @property
    def valid(self) -> bool:
        return self.version is not None

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]


def check_bundle(files: Mapping[str, str]) -> BundleReport:
    """Everything `rules check` refuses (schema, duplicate ids, unreachable rules...) plus
    every rule's examples. Stricter than a worker's reload on purpose: the API is the gate."""
    with tempfile.TemporaryDirectory(prefix="moderation-bundle-") as tmp:
        root = Path(tmp)
        materialise(files, root)
        try:
            with time_limit(VALIDATION_TIME_LIMIT_S):
                defs = read_definitions([root])
                ruleset, issues = compile_definitions(defs)
                if ruleset is not None:
                    issues = [*issues, *analyse(defs), *example_issues(ruleset)]
                    if not ruleset.rules and not ruleset.thresholds:
                        # Never what an activation means: a bundle is a complete ruleset.
                        first = next((str(f) for f in defs.files if f.suffix != ".txt"), "bundle")
                        issues.append(
                            Issue(
                                first,
                                1,
                                "no rules and no thresholds: every comment would be approved",
                            )
                        )
        except ValidationTimeout as exc:
            return BundleReport(
                version=None, rule_count=0, issues=[_relative(_timeout_issue(exc), tmp)]
            )
    issues = [_relative(i, tmp) for i in issues]
    ok = ruleset is not None and not any(i.severity == "error" for i in issues)
    return BundleReport(
        version=defs.version if ok else None,
        rule_count=len(ruleset.rules) if ruleset is not None else len(defs.rules),
        issues=issues,
    )


def _timeout_issue(exc: ValidationTimeout) -> Issue:
    return Issue(
        exc.file,
        exc.line,
        f"validation stopped here after {exc.limit_s:g} s: the ruleset is too large or too "
        "slow to check; split or simplify it",
    )


def load_bundle(files: Mapping[str, str], *, require_examples: bool = True) -> tuple[Ruleset, str]:
    """The compiled ruleset and the directory it was read from (gone by now: a compiled
    ruleset needs no files; the name only turns file paths back into bundle names).
    Raises RulesetError with bundle names."""
    with tempfile.TemporaryDirectory(prefix="moderation-ruleset-") as tmp:
        root = Path(tmp)
        try:
            materialise(files, root)
        except ValueError as exc:
            raise RulesetError([Issue("bundle", 0, str(exc))]) from exc
        try:
            ruleset = load_ruleset([root])
        except RulesetError as exc:
            raise RulesetError([_relative(i, tmp) for i in exc.issues]) from exc
        failed = example_issues(ruleset) if require_examples else []
        if failed:
            raise RulesetError([_relative(i, tmp) for i in failed])
    return ruleset, tmp


@dataclass(frozen=True)
class _Bundle:
    stored_version: str
    ruleset: Ruleset
    root: str


class ActiveRuleset:
    """What workers (and the API) evaluate with: an API bundle if one is active, else the
    hot-reloaded rule files."""

    def __init__(
        self,
        files: RulesetHolder,
        store: BundleSource,
        *,
        check_interval_s: float = 1.0,
        require_examples: bool = True,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[Ruleset], None] | None = None,
    ) -> None:
        self.files = files
        self.store = store
        self.check_interval_s = check_interval_s
        self.require_examples = require_examples
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._bundle: _Bundle | None = None
        # The stored version last tried, loaded or refused: a refused bundle is not
        # fetched and compiled again every second.
        self._tried: str | None = None
        self.bundle_error: str | None = None
        self.bundle_error_issues: list[Issue] = []
        self.reloads = 0
        self.refusals = 0
        self._checked_at = clock()
        self.check()  # a worker started while a bundle is active uses it from the first batch

    def current(self) -> Ruleset:
        if self._clock() - self._checked_at >= self.check_interval_s:
            self.check()
        bundle = self._bundle
        return bundle.ruleset if bundle is not None else self.files.current()

    @property
    def source(self) -> Source:
        return "api" if self._bundle is not None else "files"

    @property
    def version(self) -> str:
        return self.current().version

    @property
    def bundle_version(self) -> str | None:
        """The stored version of the bundle in use; None while the files are."""
        bundle = self._bundle
        return bundle.stored_version if bundle is not None else None

    @property
    def last_error(self) -> str | None:
        """Why the newest ruleset (a bundle, or the files when they are in use) was refused."""
        if self.bundle_error is not None:
            return self.bundle_error
        return self.files.last_error if self._bundle is None else None

    @property
    def last_error_issues(self) -> list[Issue]:
        if self.bundle_error is not None:
            return self.bundle_error_issues
        return self.files.last_error_issues if self._bundle is None else []

    def display_name(self, file: str) -> str:
        """A rule's file as an operator knows it: the bundle name, or relative to its
        rules directory."""
        bundle = self._bundle
        if bundle is not None and file.startswith(bundle.root.rstrip("/") + "/"):
            return relative_name(file, bundle.root)
        for d in self.files.dirs:
            name = relative_name(file, str(d))
            if name != file:
                return name
        return file

    def check(self) -> bool:
        """Follow the store now; True when a different ruleset became active."""
        if not self._lock.acquire(blocking=False):
            return False
        try:
            self._checked_at = self._clock()
            try:
                version = self.store.active_version()
            except Exception as exc:
                # The store briefly unreachable is no reason to drop the active ruleset.
                log.warning("rules.bundle_check_failed", error=str(exc))
                return False
            if version is None:
                if self._tried is None:
                    return False
                had_bundle = self._bundle is not None
                self._bundle, self._tried = None, None
                self.bundle_error, self.bundle_error_issues = None, []
                if not had_bundle:
                    return False
                new = self.files.current()
            elif version == self._tried:
                return False
            else:
                loaded = self._load(version)
                if loaded is None:
                    return False
                new = loaded
        finally:
            self._lock.release()
        if self._on_change is not None:
            self._on_change(new)
        return True

    def _load(self, version: str) -> Ruleset | None:
        try:
            fetched = self.store.active_files()
        except Exception as exc:
            log.warning("rules.bundle_fetch_failed", error=str(exc), ruleset_version=version)
            return None
        if fetched is None:  # reverted between the two reads; the next check sees it
            return None
        stored_version, files = fetched
        self._tried = stored_version
        try:
            ruleset, root = load_bundle(files, require_examples=self.require_examples)
        except RulesetError as exc:
            self.bundle_error = f"ruleset {stored_version} from the API refused: {exc}"
            self.bundle_error_issues = exc.issues
            self.refusals += 1
            log.error("rules.bundle_refused", ruleset_version=stored_version, error=str(exc))
            return None
        self.bundle_error, self.bundle_error_issues = None, []
        previous = self._bundle
        self._bundle = _Bundle(stored_version, ruleset, root)
        if previous is not None and previous.ruleset.version == ruleset.version:
            return None
        self.reloads += 1
        return ruleset
