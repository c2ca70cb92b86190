"""Fixtures shared by every test: a real Redis (the local one, or an embedded redis-server
where none answers), an isolating key prefix, the Flask app and a real Celery worker process."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from support import (
    RedisServer,
    WorkerProcess,
    delete_prefix,
    make_settings,
)

from moderation import create_app
from moderation.config import Settings


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    url = os.environ.get("MODERATION_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    with contextlib.suppress(redis.RedisError):
        if redis.Redis.from_url(url, socket_connect_timeout=0.5).ping():
            yield url
            return
    server = RedisServer().start()  # a fresh machine with no Redis: start our own
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def session_prefix(redis_url: str) -> Iterator[str]:
    prefix = f"test-{uuid.uuid4().hex[:10]}:"
    yield prefix
    delete_prefix(redis_url, prefix)


@pytest.fixture(scope="session")
def settings(redis_url: str, session_prefix: str) -> Settings:
    return make_settings(redis_url, session_prefix)


@pytest.fixture(scope="session")
def app(settings: Settings) -> Flask:
    return create_app(settings)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="session")
def worker(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    """A real Celery worker process consuming the classify and io queues."""
    proc = WorkerProcess(settings, tmp_path_factory.mktemp("worker") / "worker.log").start()
    yield proc
    proc.stop()
