"""Bearer API keys with roles. `admin` may do everything; `moderator` may also read."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, request

from moderation.config import Role
from moderation.errors import ProblemError
from moderation.services import Services
from moderation.store.apikeys import constant_time_match, hash_key
from moderation.store.comments import Actor


@dataclass(frozen=True)
class Caller:
    key_id: str
    role: Role
    name: str = ""

    @property
    def actor(self) -> Actor:
        return Actor(key_id=self.key_id, name=self.name, role=self.role)


def services() -> Services:
    svc: Services = current_app.extensions["moderation"]
    return svc


def authenticate(allowed: tuple[Role, ...]) -> Caller:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ProblemError(
            401,
            "unauthorized",
            "Unauthorized",
            "send an API key as 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": 'Bearer realm="moderation"'},
        )
    caller = resolve_key(secret.strip())
    if caller is None:
        raise ProblemError(
            401,
            "unauthorized",
            "Unauthorized",
            "the API key is not valid",
            headers={"WWW-Authenticate": 'Bearer realm="moderation", error="invalid_token"'},
        )
    if caller.role != "admin" and caller.role not in allowed:
        raise ProblemError(
            403,
            "forbidden",
            "Forbidden",
            f"this operation needs the role {' or '.join(allowed)}; the key has role {caller.role}",
        )
    return caller


def resolve_key(secret: str) -> Caller | None:
    """The caller a secret stands for (bootstrap keys first), or None if it is unknown.
    Also used by the moderator page's sign-in."""
    svc = services()
    key_id = hash_key(secret)[:12]
    role = constant_time_match(secret, svc.bootstrap_keys)
    if role is not None:
        return Caller(key_id=key_id, role=role, name=f"bootstrap {role}")
    found = svc.api_keys.lookup(secret)
    if found is None:
        return None
    return Caller(key_id=found.key_id, role=found.role, name=found.name)
