"""`moderation keys create / list / revoke`: API keys from the command line. Whoever can
reach Redis may run these; each change is audited under the operator's login and host."""

from __future__ import annotations

import getpass
import json
import re
import socket
from datetime import datetime, timedelta

import click
import redis

from moderation.config import ROLES, Settings
from moderation.domain.comment import utcnow
from moderation.services import Services
from moderation.store.apikeys import ApiKey, KeyNotFound
from moderation.store.comments import Actor

_DURATION = re.compile(r"^(\d{1,6})([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _services() -> Services:
    try:
        return Services.from_settings(Settings())
    except Exception as exc:
        raise click.ClickException(f"invalid configuration: {exc}") from exc


def _operator() -> Actor:
    # Audited as whoever ran the command where: the command line has no API key to name.
    return Actor(key_id="cli", name=f"{getpass.getuser()}@{socket.gethostname()}", role="")


def _unreachable(svc: Services, exc: Exception) -> click.ClickException:
    return click.ClickException(f"cannot reach Redis at {svc.settings.redis_url}: {exc}")


def parse_expiry(expires_in: str | None, now: datetime) -> datetime | None:
    """`30d`, `12h`, `90m`, `2w` from now; None: the key does not expire."""
    if expires_in is None:
        return None
    match = _DURATION.match(expires_in.strip())
    if not match or int(match.group(1)) == 0:
        raise click.BadParameter(
            f"{expires_in!r}: give a positive number and a unit m, h, d or w (e.g. 90d)",
            param_hint="--expires-in",
        )
    return now + timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


@click.group()
def keys() -> None:
    """API keys: create, list, revoke."""


@keys.command("create")
@click.option("--role", required=True, type=click.Choice(list(ROLES)))
@click.option("--name", default="", help="who the key is for")
@click.option(
    "--expires-in",
    default=None,
    help="the key stops working after this long: 90m, 12h, 30d, 2w (default: never)",
)
def keys_create(role: str, name: str, expires_in: str | None) -> None:
    """Create an API key and print it once; only its hash is stored."""
    svc = _services()
    expires_at = parse_expiry(expires_in, utcnow())
    try:
        secret, key = svc.api_keys.create(
            role,  # type: ignore[arg-type]  # click.Choice(ROLES)
            name,
            actor=_operator(),
            expires_at=expires_at,
        )
    except redis.RedisError as exc:
        raise _unreachable(svc, exc) from exc
    click.echo(secret)
    until = f" expires={key.expires_at}" if key.expires_at else ""
    click.echo(
        f"# role={key.role} id={key.key_id}{until} -- store it now, it is not shown again",
        err=True,
    )


def _row(key: ApiKey, now: datetime) -> dict[str, str | None]:
    return {
        "id": key.key_id,
        "role": key.role,
        "name": key.name,
        "state": key.state(now),
        "created_at": key.created_at,
        "expires_at": key.expires_at,
        "last_used_at": key.last_used_at,
        "revoked_at": key.revoked_at,
    }


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
@click.option("--all", "show_all", is_flag=True, help="include revoked and expired keys")
def keys_list(as_json: bool, show_all: bool) -> None:
    """The stored keys (never their secrets): id, role, name, state, created, expires,
    last used. Bootstrap keys (MODERATION_BOOTSTRAP_KEYS) are listed with state `env`."""
    svc = _services()
    now = utcnow()
    try:
        stored = svc.api_keys.list_keys()
    except redis.RedisError as exc:
        raise _unreachable(svc, exc) from exc
    rows = [_row(k, now) for k in stored]
    if not show_all:
        rows = [r for r in rows if r["state"] == "active"]
    for digest, role in svc.bootstrap_keys.items():
        rows.append(
            {"id": digest[:12], "role": role, "name": f"bootstrap {role}", "state": "env"}
            | dict.fromkeys(("created_at", "expires_at", "last_used_at", "revoked_at"))
        )
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    header = ("id", "role", "state", "created_at", "expires_at", "last_used_at", "name")
    click.echo("  ".join(f"{h:<24}" if h.endswith("_at") else f"{h:<12}" for h in header))
    for row in rows:
        cells = [
            f"{row[h] or '-':<24}" if h.endswith("_at") else f"{row[h] or '-':<12}"
            for h in header[:-1]
        ]
        click.echo("  ".join([*cells, str(row["name"])]))


@keys.command("revoke")
@click.argument("key_id")
@click.option("--reason", default="", help="kept in the audit log")
def keys_revoke(key_id: str, reason: str) -> None:
    """Revoke a key by its id (as `keys list` shows it, 6+ characters): every API process
    refuses it from the next request on. Revoking twice is harmless."""
    svc = _services()
    if any(d.startswith(key_id.lower()) for d in svc.bootstrap_keys) and len(key_id) >= 6:
        raise click.ClickException(
            f"{key_id!r} is a bootstrap key: remove it from MODERATION_BOOTSTRAP_KEYS and "
            "restart the API processes"
        )
    try:
        key = svc.api_keys.revoke(key_id, actor=_operator(), reason=reason)
    except KeyNotFound as exc:
        raise click.ClickException(str(exc)) from exc
    except redis.RedisError as exc:
        raise _unreachable(svc, exc) from exc
    click.echo(f"revoked {key.key_id} ({key.role}, {key.name}) at {key.revoked_at}")
