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
from moderation.store.ratelimit import Gate, GateClosed, Limit, retry_after_header


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


def _secret() -> str:
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
    return secret.strip()


def _invalid_key() -> ProblemError:
    return ProblemError(
        401,
        "unauthorized",
        "Unauthorized",
        "the API key is not valid (unknown, revoked or expired)",
        headers={"WWW-Authenticate": 'Bearer realm="moderation", error="invalid_token"'},
    )


def _forbidden(allowed: tuple[Role, ...], caller: Caller) -> ProblemError:
    return ProblemError(
        403,
        "forbidden",
        "Forbidden",
        f"this operation needs the role {' or '.join(allowed)}; the key has role {caller.role}",
    )


def _limits(svc: Services) -> tuple[Limit, Limit]:
    s = svc.settings
    return (
        Limit(s.auth_fail_limit, s.auth_fail_window_s),
        Limit(s.rate_limit_per_key, s.rate_limit_window_s),
    )


def gate_problem(closed: GateClosed) -> ProblemError:
    """The 429 for a gate that said no, as `authenticate` words it."""
    failures, per_key = _limits(services())
    if closed.which == "address":
        return _too_many(
            f"too many failed authentications from this address ({failures.count} in "
            f"{failures.window_s} s); retry in {retry_after_header(closed.retry_after_s)} s",
            closed.retry_after_s,
        )
    return _too_many(
        f"this key made more than {per_key.count} requests in {per_key.window_s} s; "
        f"retry in {retry_after_header(closed.retry_after_s)} s",
        closed.retry_after_s,
    )


def identify(allowed: tuple[Role, ...]) -> tuple[Caller, Gate]:
    """Who the caller is, and the rate limits the request has still to pass (its Gate),
    so that a write can run them in its own round trip. A bootstrap key is recognised
    without Redis: its gate checks the address's failures and counts the key's request. A
    stored key is read together with the address's failures (one round trip); its gate
    counts the request. A key without the role has its gate run here, then 403, in the
    order `authenticate` answers."""
    secret = _secret()
    svc = services()
    failures, per_key = _limits(svc)
    bucket = f"authfail:{_source()}"
    key_id = hash_key(secret)[:12]
    role = constant_time_match(secret, svc.bootstrap_keys)
    if role is not None:
        caller = Caller(key_id=key_id, role=role, name=f"bootstrap {role}")
        gate = svc.limiter.gate(failures=(bucket, failures), requests=(f"key:{key_id}", per_key))
    else:
        found = _stored_caller(svc, secret, bucket, failures)
        if found is None:
            raise _invalid_key()
        caller = found
        gate = svc.limiter.gate(requests=(f"key:{caller.key_id}", per_key))
    if caller.role != "admin" and caller.role not in allowed:
        try:
            svc.limiter.check(gate)
        except GateClosed as closed:
            raise gate_problem(closed) from None
        raise _forbidden(allowed, caller)
    return caller, gate


def authenticate(allowed: tuple[Role, ...]) -> Caller:
    """The caller, once its key and rate limits let the request through (401, 403, 429)."""
    caller, gate = identify(allowed)
    try:
        services().limiter.check(gate)
    except GateClosed as closed:
        raise gate_problem(closed) from None
    return caller


def _stored_caller(svc: Services, secret: str, bucket: str, failures: Limit) -> Caller | None:
    """A key stored in Redis, read in the same round trip as the address's failed
    authentications (429 first when they are used up); a failure counts one more."""
    pipe = svc.redis.pipeline(transaction=False)
    svc.limiter.queue_exhausted(pipe, bucket, failures)
    svc.api_keys.queue_lookup(pipe, secret)
    used, raw = pipe.execute()
    wait = svc.limiter.exhausted_of(used, failures)
    if wait is not None:
        raise _address_throttled(failures, wait)
    found = svc.api_keys.lookup_of(secret, raw)
    if found is None:
        svc.limiter.hit(bucket, failures)
        return None
    return Caller(key_id=found.key_id, role=found.role, name=found.name)


def _address_throttled(failures: Limit, wait: float) -> ProblemError:
    return _too_many(
        f"too many failed authentications from this address ({failures.count} in "
        f"{failures.window_s} s); retry in {retry_after_header(wait)} s",
        wait,
    )


def resolve_key(secret: str) -> Caller | None:
    """The caller a secret stands for (bootstrap keys first), or None if it is unknown,
    revoked or expired. Also used by the moderator page's sign-in. A source address with
    too many failures gets 429 before its key is even looked at."""
    svc = services()
    failures, _ = _limits(svc)
    bucket = f"authfail:{_source()}"
    role = constant_time_match(secret, svc.bootstrap_keys)
    if role is None:
        return _stored_caller(svc, secret, bucket, failures)
    wait = svc.limiter.exhausted(bucket, failures)
    if wait is not None:
        raise _address_throttled(failures, wait)
    return Caller(key_id=hash_key(secret)[:12], role=role, name=f"bootstrap {role}")


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
