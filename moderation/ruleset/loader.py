"""Reading rule files: YAML with line numbers, schema validation, word lists.

Everything a ruleset is built from is read exactly once, and the version is the hash of
those bytes, so the version recorded in a verdict always names what was evaluated.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from moderation.ruleset.errors import Issue
from moderation.ruleset.limits import (
    MAX_DEPTH,
    RecursiveAlias,
    check_time,
    expanded_size,
    size_problem,
)
from moderation.ruleset.schema import LabelThresholds, Rule, RuleFile

RULE_SUFFIXES = (".yaml", ".yml")
WORDS_DIR = "words"


@dataclass(frozen=True)
class SourceFile:
    path: Path
    key: str  # stable name used in the version hash
    data: bytes


@dataclass(frozen=True)
class Located:
    """Something defined in a file, with where."""

    file: str
    line: int


@dataclass(frozen=True)
class RuleSource:
    rule: Rule
    where: Located
    # line of each path inside the rule, for errors found after validation
    lines: dict[tuple[str | int, ...], int]


@dataclass(frozen=True)
class WordSource:
    term: str
    where: Located


@dataclass
class Definitions:
    version: str
    files: list[Path]
    rules: list[RuleSource] = field(default_factory=list)
    thresholds: dict[str, tuple[LabelThresholds, Located]] = field(default_factory=dict)
    settings: dict[str, tuple[int, Located]] = field(default_factory=dict)
    lists: dict[str, list[WordSource]] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)


def list_files(dirs: Sequence[Path]) -> list[Path]:
    """The files a ruleset is made of, in load order."""
    files: list[Path] = []
    for d in dirs:
        d = Path(d)
        files.extend(sorted(p for p in d.iterdir() if p.suffix in RULE_SUFFIXES and p.is_file()))
        words = d / WORDS_DIR
        if words.is_dir():
            files.extend(sorted(p for p in words.iterdir() if p.suffix == ".txt" and p.is_file()))
    return files


def read_sources(dirs: Sequence[Path]) -> list[SourceFile]:
    sources: list[SourceFile] = []
    for i, d in enumerate(dirs):
        d = Path(d)
        if not d.is_dir():
            raise FileNotFoundError(f"{d}: not a directory")
        for path in list_files([d]):
            sources.append(
                SourceFile(path, f"{i}/{path.relative_to(d).as_posix()}", path.read_bytes())
            )
    return sources


def version_of(sources: Sequence[SourceFile]) -> str:
    digest = hashlib.sha256()
    for src in sources:
        digest.update(src.key.encode() + b"\0" + str(len(src.data)).encode() + b"\0" + src.data)
    return digest.hexdigest()[:16]


def read_definitions(dirs: Sequence[Path]) -> Definitions:
    sources = read_sources(dirs)
    defs = Definitions(version=version_of(sources), files=[s.path for s in sources])
    for src in sources:
        if src.path.suffix == ".txt":
            _read_words(src, defs)
        else:
            _read_rule_file(src, defs)
    return defs


def _read_words(src: SourceFile, defs: Definitions) -> None:
    name = src.path.stem
    entries = defs.lists.setdefault(name, [])
    try:
        text = src.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        defs.issues.append(Issue(str(src.path), 1, f"not UTF-8: {exc}"))
        return
    for n, line in enumerate(text.splitlines(), start=1):
        term = _strip_comment(line).strip()
        if term:
            entries.append(WordSource(term, Located(str(src.path), n)))


def _strip_comment(line: str) -> str:
    if line.lstrip().startswith("#"):
        return ""
    cut = line.find(" #")
    return line if cut < 0 else line[:cut]


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys instead of keeping the last one."""


def _check_unique(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, str | int | float | bool) and key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first on line {seen[key]})",
                key_node.start_mark,
            )
        if isinstance(key, str | int | float | bool):
            seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _check_unique)


def _read_rule_file(src: SourceFile, defs: Definitions) -> None:
    file = str(src.path)
    if not src.data.strip():
        # An editor saving in place truncates first; loading that moment would drop
        # every rule in the file. A file meant to be empty can say so with a comment.
        defs.issues.append(
            Issue(file, 1, "empty file (still being written?); add a comment if intended")
        )
        return
    check_time(file, 1)
    try:
        text = src.data.decode("utf-8")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None:
            # Before anything walks the tree expanded (construction, validation, compiling).
            problem = size_problem(expanded_size(node))
            if problem is not None:
                defs.issues.append(Issue(file, _largest_rule_line(node), problem))
                return
        doc = yaml.load(text, Loader=_UniqueKeyLoader)
    except UnicodeDecodeError as exc:
        defs.issues.append(Issue(file, 1, f"not UTF-8: {exc}"))
        return
    except RecursiveAlias as exc:
        defs.issues.append(Issue(file, exc.line, f"not a valid rule file: {exc}"))
        return
    except RecursionError:
        # PyYAML composes recursively: a few hundred levels of brackets exhaust the stack.
        defs.issues.append(Issue(file, 1, f"nested too deeply (at most {MAX_DEPTH} levels)"))
        return
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        defs.issues.append(Issue(file, line, f"not valid YAML: {problem}"))
        return
    if doc is None:
        return
    if not isinstance(doc, dict):
        defs.issues.append(
            Issue(file, 1, "a rule file is a mapping with settings, thresholds, rules")
        )
        return
    try:
        parsed = RuleFile.model_validate(doc)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            where = ".".join(str(p) for p in loc) or "file"
            msg = err["msg"].removeprefix("Value error, ")
            defs.issues.append(Issue(file, line_of(node, loc), f"{where}: {msg}"))
        return

    if parsed.settings is not None:
        for key, value in parsed.settings.model_dump(exclude_none=True).items():
            here = Located(file, line_of(node, ("settings", key)))
            if key in defs.settings and defs.settings[key][0] != value:
                first = defs.settings[key][1]
                defs.issues.append(
                    Issue(
                        file,
                        here.line,
                        f"settings.{key}: {value} conflicts with "
                        f"{defs.settings[key][0]} set in {first.file}:{first.line}",
                    )
                )
            else:
                defs.settings.setdefault(key, (value, here))
    for label, spec in parsed.thresholds.items():
        here = Located(file, line_of(node, ("thresholds", label)))
        if label in defs.thresholds:
            first = defs.thresholds[label][1]
            defs.issues.append(
                Issue(
                    file, here.line, f"thresholds.{label}: already set in {first.file}:{first.line}"
                )
            )
            continue
        defs.thresholds[label] = (spec, here)
    for i, rule in enumerate(parsed.rules):
        rule_node = _walk(node, ("rules", i))
        defs.rules.append(
            RuleSource(rule, Located(file, line_of(node, ("rules", i))), _lines(rule_node))
        )


def _largest_rule_line(root: yaml.Node) -> int:
    """Where to point for a file that expands too far: its largest rule, else line 1."""
    rules = _walk(root, ("rules",))
    if not isinstance(rules, yaml.SequenceNode) or not rules.value:
        return 1
    try:
        largest = max(rules.value, key=lambda n: expanded_size(n).nodes)
    except RecursiveAlias as exc:
        return exc.line
    line: int = largest.start_mark.line + 1
    return line


def _walk(node: yaml.Node | None, loc: Sequence[str | int]) -> yaml.Node | None:
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            name = "not" if part == "not_" else part
            node = next((v for k, v in node.value if k.value == name), None)
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
        else:
            return node
        if node is None:
            return None
    return node


def line_of(root: yaml.Node | None, loc: Sequence[str | int]) -> int:
    """Line of the deepest node on `loc` that exists (validation paths may go further)."""
    best = root.start_mark.line + 1 if root is not None else 1
    node = root
    for part in loc:
        nxt = _walk(node, (part,))
        if nxt is None or nxt is node:
            break
        node = nxt
        best = node.start_mark.line + 1
    return best


def _lines(node: yaml.Node | None) -> dict[tuple[str | int, ...], int]:
    """Line of every path below a rule node, so compile errors can point inside it."""
    out: dict[tuple[str | int, ...], int] = {}

    def visit(n: yaml.Node, path: tuple[str | int, ...]) -> None:
        out[path] = n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                visit(v, (*path, str(k.value)))
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                visit(v, (*path, i))

    if node is not None:
        visit(node, ())
    return out
