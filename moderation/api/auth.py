"""Bearer API keys with roles. `admin` may do everything; `moderator` may also read."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, request
from redis.exceptions import RedisError

from moderation.config import Role
from moderation.errors import ProblemError
from moderation.services import Services
from moderation.store.apikeys import constant_time_match, hash_key
from moderation.store.comments import Actor
from moderation.store.ratelimit import Limit, retry_after_header


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


def _too_many(detail: str, retry_after: float) -> ProblemError:
    return ProblemError(
        429,
        "too-many-requests",
        "Too Many Requests",
        detail,
        headers={"Retry-After": retry_after_header(retry_after)},
    )


def _source() -> str:
    # The peer address, or the client's as forwarded by MODERATION_PROXY_HOPS trusted proxies.
    return request.remote_addr or "unknown"


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
            "the API key is not valid (unknown, revoked or expired)",
            headers={"WWW-Authenticate": 'Bearer realm="moderation", error="invalid_token"'},
        )
    svc = services()
    per_key = Limit(svc.settings.rate_limit_per_key, svc.settings.rate_limit_window_s)
    wait = svc.limiter.hit(f"key:{caller.key_id}", per_key)
    if wait is not None:
        raise _too_many(
            f"this key made more than {per_key.count} requests in {per_key.window_s} s; "
            f"retry in {retry_after_header(wait)} s",
            wait,
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
    """The caller a secret stands for (bootstrap keys first), or None if it is unknown,
    revoked or expired. Also used by the moderator page's sign-in. A source address with
    too many failures gets 429 before its key is even looked at."""
    svc = services()
    failures = Limit(svc.settings.auth_fail_limit, svc.settings.auth_fail_window_s)
    bucket = f"authfail:{_source()}"
    wait = svc.limiter.exhausted(bucket, failures)
    if wait is not None:
        raise _too_many(
            f"too many failed authentications from this address ({failures.count} in "
            f"{failures.window_s} s); retry in {retry_after_header(wait)} s",
            wait,
        )
    caller = _lookup(svc, secret)
    if caller is None:
        svc.limiter.hit(bucket, failures)
    return caller


def _lookup(svc: Services, secret: str) -> Caller | None:
    key_id = hash_key(secret)[:12]
    role = constant_time_match(secret, svc.bootstrap_keys)
    if role is not None:
        return Caller(key_id=key_id, role=role, name=f"bootstrap {role}")
    found = svc.api_keys.lookup(secret)
    if found is None:
        return None
    return Caller(key_id=found.key_id, role=found.role, name=found.name)


def optional_admin() -> bool:
    """Whether the request carries a valid admin key, for pages that anyone may read but
    only an admin may read in full (/readyz). Never raises: an unreachable Redis or a
    throttled address reads as "not an admin", so the page keeps its own status code."""
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return False
    try:
        caller = resolve_key(secret.strip())
    except (ProblemError, RedisError):
        return False
    return caller is not None and caller.role == "admin"
