"""Fixtures of the fault tests: each gets its own Redis (with AOF, killable) and stack."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness import AofRedis, Stack, stack_settings


@pytest.fixture
def aof_redis(tmp_path: Path) -> Iterator[AofRedis]:
    server = AofRedis(tmp_path / "redis").start()
    yield server
    server.kill()


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    stacks: list[Stack] = []

    def build(redis_url: str, **overrides: Any) -> Stack:
        extra_env = overrides.pop("extra_env", {})
        settings = stack_settings(redis_url, f"rel-{uuid.uuid4().hex[:8]}:", **overrides)
        logs = tmp_path / f"logs-{len(stacks)}"
        logs.mkdir()
        stack = Stack(settings, logs, extra_env=extra_env)
        stacks.append(stack)
        return stack

    yield build
    for stack in stacks:
        stack.stop()
