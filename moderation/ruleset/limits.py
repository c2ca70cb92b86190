"""Bounds on what one rule file may expand to, and on how long validating a ruleset may
take. YAML aliases let a few hundred bytes stand for an exponentially large tree (9 aliases
wide, 6 levels deep: 9^6 = 531,441 conditions from a 700-byte file): PyYAML shares the
aliased node, so parsing is cheap, but validating, compiling and analysing walk the tree
expanded. So the expanded size is measured on the composed node graph, counting each
shared node once per use (memoised: linear in the distinct nodes), before anything walks it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import yaml

# The default rule files have at most 300 nodes and 9 levels; these leave room for far larger
# hand-written files while keeping the validation of one well under a second.
MAX_NODES = 20_000
MAX_DEPTH = 40
MAX_SCALAR_BYTES = 2 * 1024 * 1024
# Validating a bundle (schema, compile, analysis, every rule's examples) in an API process.
VALIDATION_TIME_LIMIT_S = 10.0


@dataclass(frozen=True)
class Size:
    nodes: int
    depth: int
    scalar_bytes: int


class RecursiveAlias(ValueError):
    def __init__(self, line: int) -> None:
        super().__init__("an alias refers to the node that contains it (a recursive structure)")
        self.line = line


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def expanded_size(root: yaml.Node) -> Size:
    """Nodes, depth and scalar bytes of the tree the node graph stands for, once every
    alias is expanded. Iterative (no recursion limit) and memoised per node."""
    done: dict[int, Size] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in done:
            continue
        kids = _children(node)
        if not children_done:
            if key in on_path:
                raise RecursiveAlias(node.start_mark.line + 1)
            on_path.add(key)
            stack.append((node, True))
            for kid in kids:
                if id(kid) in on_path:
                    raise RecursiveAlias(kid.start_mark.line + 1)
                if id(kid) not in done:
                    stack.append((kid, False))
            continue
        on_path.discard(key)
        sizes = [done[id(k)] for k in kids]
        own = len(str(node.value).encode("utf-8")) if isinstance(node, yaml.ScalarNode) else 0
        done[key] = Size(
            nodes=1 + sum(s.nodes for s in sizes),
            depth=1 + max((s.depth for s in sizes), default=0),
            scalar_bytes=own + sum(s.scalar_bytes for s in sizes),
        )
    return done[id(root)]


def size_problem(size: Size) -> str | None:
    over = []
    if size.nodes > MAX_NODES:
        over.append(f"{size.nodes:,} nodes (at most {MAX_NODES:,})")
    if size.depth > MAX_DEPTH:
        over.append(f"{size.depth} levels deep (at most {MAX_DEPTH})")
    if size.scalar_bytes > MAX_SCALAR_BYTES:
        over.append(f"{size.scalar_bytes:,} bytes of values (at most {MAX_SCALAR_BYTES:,})")
    if not over:
        return None
    return "with its aliases expanded the file is " + ", ".join(over) + "; write it out plainly"


# -- time limit ------------------------------------------------------------------------------


class ValidationTimeout(Exception):
    def __init__(self, file: str, line: int, limit_s: float) -> None:
        super().__init__(f"validation took longer than {limit_s:g} s")
        self.file = file
        self.line = line
        self.limit_s = limit_s


_DEADLINE: ContextVar[tuple[float, float] | None] = ContextVar("ruleset_deadline", default=None)


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Within the block, `check_time` raises ValidationTimeout once `seconds` have passed.
    Cooperative: checked between files, rules and examples, each bounded by the size limits."""
    token = _DEADLINE.set((time.monotonic() + seconds, seconds))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def check_time(file: str, line: int) -> None:
    deadline = _DEADLINE.get()
    if deadline is not None and time.monotonic() > deadline[0]:
        raise ValidationTimeout(file, line, deadline[1])
