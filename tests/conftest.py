"""Fixtures shared by every test: a real Redis (the local one, or an embedded redis-server
where none answers), an isolating key prefix, the Flask app and a real Celery worker process."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator

import kombu.pools
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


# -- the pipeline on each broker ------------------------------------------------------------
#
# Test modules that exercise the whole pipeline (POST -> broker -> worker -> verdict) replace
# `settings`, `app`, `client` and `worker` with the `broker_*` fixtures below (see
# test_api_comments.py), and so run once with Redis as the broker and once with RabbitMQ,
# which a site moving beyond one machine may use. RabbitMQ is skipped, with the reason shown
# by `-ra`, when nothing answers at 127.0.0.1:5672.

RABBITMQ_HOST = ("127.0.0.1", 5672)


def _rabbitmq_answers() -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(RABBITMQ_HOST) == 0


@contextlib.contextmanager
def _rabbitmq_vhost() -> Iterator[str]:
    """A virtual host of its own where `rabbitmqctl` can make one (the queue names are the
    service's fixed `classify` and `io`: another test run on the same broker would otherwise
    take this run's messages), else the default one."""
    ctl = shutil.which("rabbitmqctl")
    name = f"moderation-test-{uuid.uuid4().hex[:8]}"

    def run(*args: str) -> bool:
        try:
            done = subprocess.run([ctl or "rabbitmqctl", *args], capture_output=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return done.returncode == 0

    if (
        ctl
        and run("add_vhost", name)
        and run("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    ):
        try:
            yield name
        finally:
            run("delete_vhost", name)
    else:
        yield ""


@pytest.fixture(
    scope="module", params=["redis", "rabbitmq"], ids=["redis-broker", "rabbitmq-broker"]
)
def broker_settings(request: pytest.FixtureRequest, redis_url: str) -> Iterator[Settings]:
    prefix = f"test-{request.param}-{uuid.uuid4().hex[:8]}:"
    with contextlib.ExitStack() as stack:
        overrides: dict[str, str] = {}
        if request.param == "rabbitmq":
            if not _rabbitmq_answers():
                pytest.skip(
                    "no RabbitMQ at 127.0.0.1:5672: the pipeline ran with the Redis broker only"
                )
            vhost = stack.enter_context(_rabbitmq_vhost())
            overrides["broker_url"] = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
        yield make_settings(redis_url, prefix, **overrides)
        delete_prefix(redis_url, prefix)


@pytest.fixture(scope="module")
def broker_app(broker_settings: Settings) -> Iterator[Flask]:
    app = create_app(broker_settings)
    yield app
    celery = app.extensions["moderation.celery"]
    if broker_settings.broker_url:
        # Celery publishes through kombu's process-wide pools, keyed by the broker's
        # address, which closing the app leaves open: the AMQP socket of the last publish
        # stayed open until exit (a ResourceWarning). Only this broker's pools are closed:
        # the Redis broker's are shared with the session's app.
        connection = celery.connection_for_write()
        for group in (kombu.pools.producers, kombu.pools.connections):
            group[connection].force_close_all()
            del group[connection]
        connection.release()
    celery.close()


@pytest.fixture(scope="module")
def broker_worker(
    broker_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(broker_settings, tmp_path_factory.mktemp("worker") / "worker.log").start()
    yield proc
    proc.stop()
