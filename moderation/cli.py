"""The `moderation` command: dev, serve, worker, beat, keys, demo (and rules, model)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import click
import httpx
import redis

from moderation.config import Settings
from moderation.devstack import (
    KEYS_FILE,
    free_port,
    load_or_create_keys,
    start_embedded_redis,
    where_data_goes,
    wipe_prefix,
)
from moderation.supervisor import Supervisor


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:
        raise click.ClickException(f"invalid configuration: {exc}") from exc


# The classify layout that fills this kind of machine (2 cores): one worker process per
# core, each with one inference thread (ONNX Runtime's intra-op threads measured no faster
# than one per process on a shared machine, and slower while spinning), and enough comments
# in flight per process for the micro-batcher to form full batches. The threads pool is the
# one that batches; docker-compose and the README use the same numbers.
CLASSIFY_PROCESSES = 2
CLASSIFY_IN_FLIGHT = 32


@click.group()
def main() -> None:
    """Comment moderation service."""


@main.command()
@click.option("--bind", default="0.0.0.0:8000", show_default=True)
@click.option("--workers", "num_workers", default=2, show_default=True, type=int)
@click.option("--threads", default=4, show_default=True, type=int)
def serve(bind: str, num_workers: int, threads: int) -> None:
    """Run the HTTP API under gunicorn (production)."""
    _settings()  # fail here, with a clear message, rather than in every gunicorn worker
    args = gunicorn_command(bind, num_workers, threads)
    os.execv(sys.executable, args)


def gunicorn_command(
    bind: str, num_workers: int, threads: int, app: str = "moderation.wsgi:app"
) -> list[str]:
    """The API under gunicorn; `moderation bench` serves its bare Flask baseline the same way."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        bind,
        "--workers",
        str(num_workers),
        "--threads",
        str(threads),
        "--access-logfile",
        "-",
        "--graceful-timeout",
        "20",
        app,
    ]


def stack_commands(port: int, schedule_file: str) -> dict[str, list[str]]:
    """The processes of `moderation dev` (and of `moderation bench`, which measures exactly
    this layout): the API, the classify workers, an io worker and beat."""
    exe = [sys.executable, "-m", "moderation"]
    classify = [*exe, "worker", "--queues", "classify", "--pool", "threads"]
    return {
        "api": [*exe, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        **{
            f"classify-{i}": [*classify, "--concurrency", str(CLASSIFY_IN_FLIGHT)]
            for i in range(CLASSIFY_PROCESSES)
        },
        "io": [*exe, "worker", "--queues", "io", "--pool", "threads", "--concurrency", "8"],
        "beat": [*exe, "beat", "--schedule-file", schedule_file],
    }


@main.command()
@click.option("--queues", default="classify,io", show_default=True, help="classify, io or both")
@click.option(
    "--pool",
    default="threads",
    show_default=True,
    type=click.Choice(["prefork", "solo", "threads"]),
    help="threads: the comments in flight share batched forward passes; prefork and solo "
    "score each comment alone",
)
@click.option(
    "--concurrency",
    default=None,
    type=int,
    help=f"tasks in flight (default: {CLASSIFY_IN_FLIGHT} on classify, 8 on io alone); with "
    "--pool threads on classify they are batched together by token budget",
)
@click.option("--name", default=None, help="Celery node name (default: <queues>@<host>)")
def worker(queues: str, pool: str, concurrency: int | None, name: str | None) -> None:
    """Run a Celery worker. A worker on the classify queue loads the model once per process;
    run one such process per core (see `moderation dev`)."""
    from moderation.logs import configure_logging
    from workers.celery_app import create_celery_app
    from workers.tasks import connect_worker_signals

    settings = _settings()
    configure_logging(settings.log_level, settings.log_json)
    wanted = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = set(wanted) - {"classify", "io"}
    if unknown or not wanted:
        raise click.BadParameter(
            f"unknown queue(s) {sorted(unknown)}; use classify, io", param_hint="--queues"
        )
    load_model = "classify" in wanted
    if concurrency is None:
        concurrency = CLASSIFY_IN_FLIGHT if load_model else 8
    # A broken model or rule file is one clear error here, not a traceback per comment.
    from moderation.classifier.base import ModelLoadError
    from moderation.classifier.loader import load_classifier
    from moderation.ruleset import RulesetError, load_ruleset
    from workers import runtime

    try:
        load_ruleset(settings.rules_dirs)
        if load_model and pool == "prefork":
            # Each pool child loads its own copy after fork; this only proves the model loads.
            load_classifier(settings)
        elif load_model:
            runtime.init_state(settings, load_model=True, batching=pool == "threads")
    except ModelLoadError as exc:
        raise click.ClickException(str(exc)) from exc
    except RulesetError as exc:
        raise click.ClickException(f"rules: {exc}") from exc
    app = create_celery_app(settings)
    app.conf.worker_pool = pool
    connect_worker_signals(app, settings, load_model=load_model)
    node = name or f"{'-'.join(wanted)}-{os.getpid()}@{socket.gethostname()}"
    app.worker_main(
        [
            "worker",
            "-Q",
            ",".join(wanted),
            "--pool",
            pool,
            "--concurrency",
            str(concurrency),
            "--loglevel",
            settings.log_level,
            "-n",
            node,
            "--without-gossip",
            "--without-mingle",
        ]
    )


@main.command()
@click.option("--schedule-file", default=None, help="where beat keeps its schedule state")
def beat(schedule_file: str | None) -> None:
    """Run Celery beat: the pending-comment sweeper."""
    from workers.celery_app import create_celery_app

    settings = _settings()
    app = create_celery_app(settings)
    path = schedule_file or os.path.join(
        os.environ.get("TMPDIR", "/tmp"), f"moderation-beat-{os.getpid()}"
    )
    app.start(["beat", "-s", path, "--loglevel", settings.log_level])


def _keys_group() -> click.Group:
    """`moderation keys create / list / revoke` live with the key store's other helpers."""
    from moderation.keys_cli import keys

    return keys


main.add_command(_keys_group())


@main.command()
@click.option("--url", default="http://127.0.0.1:8000", show_default=True)
@click.option("--key", envvar="MODERATION_DEMO_KEY", required=True, help="a site API key")
@click.option("--timeout", default=60.0, show_default=True)
def demo(url: str, key: str, timeout: float) -> None:
    """Post the demo comments for the seed article and print their verdicts."""
    _print_demo(url, key, timeout)


def _print_demo(url: str, key: str, timeout: float) -> None:
    from moderation.demo import render_results, run_demo

    try:
        results = run_demo(url, key, timeout)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"demo failed against {url}: {exc}") from exc
    render_results(results)


# -- dev: everything in one foreground process group -------------------------------------


def _redis_answers(url: str) -> bool:
    try:
        return bool(
            redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5).ping()
        )
    except redis.RedisError:
        return False


@contextlib.contextmanager
def _redis_for_dev() -> Iterator[tuple[str, bool]]:
    """MODERATION_REDIS_URL if set, else a Redis on localhost:6379, else an embedded one;
    and whether it is the embedded one."""
    if url := os.environ.get("MODERATION_REDIS_URL"):
        yield url, False
        return
    if _redis_answers("redis://127.0.0.1:6379/0"):
        yield "redis://127.0.0.1:6379/0", False
        return
    server, url = start_embedded_redis(free_port())  # AOF in var/redis: kept across restarts
    click.echo(f"no Redis found: started an embedded one at {url} (AOF in var/redis)")
    try:
        yield url, True
    finally:
        server.shutdown()


def _die_with_parent() -> None:
    # Linux: the child gets SIGTERM if `moderation dev` dies, even by SIGKILL: no orphans.
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def _stop_all(children: list[subprocess.Popen[Any]]) -> None:
    for child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + 15
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(max(0.1, deadline - time.monotonic()))
        if child.poll() is None:
            child.kill()
            child.wait()


@main.command()
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--demo/--no-demo", "with_demo", default=True, show_default=True)
@click.option(
    "--fresh", is_flag=True, help="first delete every key under the prefix: a clean start"
)
def dev(port: int, with_demo: bool, fresh: bool) -> None:
    """Run Redis (if needed), the API, a worker and beat; post the demo; serve until Ctrl-C.

    The API keys are made once per checkout and kept in var/dev-keys.env (unless
    MODERATION_BOOTSTRAP_KEYS is set): `source var/dev-keys.env` in another shell."""
    stop = {"signal": 0}

    def on_signal(signum: int, _frame: Any) -> None:
        stop["signal"] = signum

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with _redis_for_dev() as (redis_url, embedded):
        env = dict(os.environ)
        env["MODERATION_REDIS_URL"] = redis_url
        prefix = _settings().key_prefix
        if fresh:
            click.echo(f"--fresh: deleted {wipe_prefix(redis_url, prefix)} keys under {prefix!r}")
        click.echo(where_data_goes(redis_url, prefix, embedded))
        env.setdefault("MODERATION_LOG_JSON", "true")
        env.setdefault("MODERATION_PUBLIC_URL", f"http://127.0.0.1:{port}")
        site_key = moderator_key = admin_key = ""
        keys_note = ""
        if not env.get("MODERATION_BOOTSTRAP_KEYS"):
            keys, made = load_or_create_keys()
            site_key, moderator_key, admin_key = keys.site, keys.moderator, keys.admin
            env["MODERATION_BOOTSTRAP_KEYS"] = keys.bootstrap()
            keys_note = (
                f"API keys ({'made now' if made else 'the same as last time'}; "
                f"in another shell: source {KEYS_FILE}):\n{keys.export_lines()}"
            )
        else:
            for pair in env["MODERATION_BOOTSTRAP_KEYS"].split(","):
                role, _, secret = pair.partition(":")
                if role == "site":
                    site_key = secret
                elif role == "moderator":
                    moderator_key = secret
                elif role == "admin":
                    admin_key = secret
        log_path = os.path.join(os.getcwd(), "var", "dev.log")
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        log_file = open(log_path, "ab")  # noqa: SIM115 - closed below, after the children
        commands = list(stack_commands(port, os.path.join("var", "beat-schedule")).values())
        # A child that dies once running is restarted with backoff (as compose does); one
        # that dies before the stack is ready is a start-up failure and stops it.
        supervisor = Supervisor(
            {f"{cmd[3]}-{i}": cmd for i, cmd in enumerate(commands)},
            env=env,
            output=log_file,
            preexec_fn=_die_with_parent,
            on_event=lambda line: click.echo(f"{line} (logs: {log_path})", err=True),
        )
        supervisor.start()
        children = supervisor.processes()
        base = f"http://127.0.0.1:{port}"
        click.echo(f"API on {base} (docs: {base}/docs); logs in {log_path}")
        try:
            if _wait_ready(base, children, stop, timeout_s=180):
                click.echo(
                    keys_note
                    or f"ready. site key: {site_key}  moderator key: {moderator_key}  "
                    f"admin key: {admin_key}"
                )
                if moderator_key or admin_key:
                    click.echo(
                        f"moderator page: {base}/moderate/  sign in with the key "
                        f"{moderator_key or admin_key}"
                    )
                if with_demo and site_key:
                    _print_demo(base, site_key, 60.0)
                click.echo("serving; Ctrl-C to stop (a child that dies is restarted)")
                supervisor.run(lambda: bool(stop["signal"]))
        finally:
            click.echo("stopping...")
            supervisor.stop()
            log_file.close()
    if not stop["signal"]:
        sys.exit(1)


def _wait_ready(
    base: str, children: list[subprocess.Popen[Any]], stop: dict[str, int], timeout_s: float
) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not stop["signal"]:
        if any(c.poll() is not None for c in children):
            return False
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return True
        time.sleep(0.5)
    click.echo("not ready in time; see var/dev.log", err=True)
    return False


def _register_groups() -> None:
    """Command groups owned by the rules, classifier, webhooks and review packages."""
    from moderation.classifier.cli import model
    from moderation.export_labels import export_labels_command
    from moderation.review_bench import review_cli
    from moderation.ruleset.cli import rules
    from moderation.stack_bench import bench_command
    from moderation.webhooks.cli import webhooks

    main.add_command(rules)
    main.add_command(model)
    main.add_command(webhooks)
    main.add_command(review_cli)
    main.add_command(export_labels_command)
    main.add_command(bench_command)


_register_groups()
