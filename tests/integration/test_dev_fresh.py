"""`moderation dev --fresh` deletes its own prefix and nothing else."""

from __future__ import annotations

import uuid

import pytest
import redis

from moderation.devstack import wipe_prefix


def test_wipe_deletes_only_the_prefix(redis_url: str) -> None:
    prefix = f"test-fresh-{uuid.uuid4().hex[:8]}:"
    other = f"test-fresh-other-{uuid.uuid4().hex[:8]}:"
    client = redis.Redis.from_url(redis_url)
    try:
        client.mset({f"{prefix}{i}": i for i in range(2500)} | {f"{other}keep": 1})
        assert wipe_prefix(redis_url, prefix) == 2500
        assert not list(client.scan_iter(match=f"{prefix}*"))
        assert client.get(f"{other}keep") == b"1"
        with pytest.raises(ValueError):
            wipe_prefix(redis_url, "")
    finally:
        client.delete(f"{other}keep")
        client.close()
