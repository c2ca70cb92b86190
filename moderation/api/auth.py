"""Bearer API keys with roles. `admin` may do everything; `moderator` may also read."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, request

from moderation.config import Role
from moderation.errors import ProblemError
from moderation.services import Services
from moderation.store.apikeys import constant_time_match, hash_key


@dataclass(frozen=True)
class Caller:
    key_id: str
    role: Role


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
    secret = secret.strip()
    svc = services()
    role = constant_time_match(secret, svc.bootstrap_keys)
    if role is None:
        found = svc.api_keys.lookup(secret)
        role = found.role if found else None
    if role is None:
        raise ProblemError(
            401,
            "unauthorized",
            "Unauthorized",
            "the API key is not valid",
            headers={"WWW-Authenticate": 'Bearer realm="moderation", error="invalid_token"'},
        )
    if role != "admin" and role not in allowed:
        raise ProblemError(
            403,
            "forbidden",
            "Forbidden",
            f"this operation needs the role {' or '.join(allowed)}; the key has role {role}",
        )
    return Caller(key_id=hash_key(secret)[:12], role=role)
