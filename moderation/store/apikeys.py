"""API keys, stored only as SHA-256 hashes. A key is shown once, when it is created."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import redis

from moderation.config import Role
from moderation.domain.comment import iso, utcnow
from moderation.store.audit import AuditEntry, AuditLog
from moderation.store.keys import Keys

if TYPE_CHECKING:
    from moderation.store.comments import Actor

# Who creates a key from the command line: whoever can reach Redis, named by the caller.
SYSTEM_ACTOR = "system"


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


# last_used_at is written at most this often per key: a write per request would double the
# cost of authentication for a figure read by people.
LAST_USED_RESOLUTION_S = 60


class KeyNotFound(LookupError):
    pass


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    role: Role
    name: str
    created_at: str = ""
    expires_at: str | None = None
    last_used_at: str | None = None
    revoked_at: str | None = None

    def state(self, now: datetime) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at and datetime.fromisoformat(self.expires_at) <= now:
            return "expired"
        return "active"


def _key_of(digest: str, raw: dict[str, str]) -> ApiKey:
    return ApiKey(
        key_id=digest[:12],
        role=raw["role"],  # type: ignore[arg-type]  # written only from Role values
        name=raw.get("name", ""),
        created_at=raw.get("created_at", ""),
        expires_at=raw.get("expires_at") or None,
        last_used_at=raw.get("last_used_at") or None,
        revoked_at=raw.get("revoked_at") or None,
    )


class ApiKeyStore:
    def __init__(
        self, client: redis.Redis, keys: Keys, clock: Callable[[], datetime] = utcnow
    ) -> None:
        # redis-py's return types are unions over its decode modes; this client always
        # decodes to str, so the repositories convert values explicitly instead.
        self.r: Any = client
        self.keys = keys
        self.audit = AuditLog(client, keys)
        self.clock = clock  # injected by tests to pass an expiry without waiting

    def create(
        self,
        role: Role,
        name: str = "",
        *,
        actor: Actor | None = None,
        expires_at: datetime | None = None,
    ) -> tuple[str, ApiKey]:
        secret = f"mod_{role}_{secrets.token_urlsafe(24)}"
        return secret, self.put(secret, role, name, actor=actor, expires_at=expires_at)

    def put(
        self,
        secret: str,
        role: Role,
        name: str = "",
        *,
        actor: Actor | None = None,
        expires_at: datetime | None = None,
    ) -> ApiKey:
        """Store the key and its audit entry (key.create) in one transaction."""
        digest = hash_key(secret)
        at = iso(self.clock())
        expires = iso(expires_at) if expires_at is not None else None
        key = ApiKey(
            key_id=digest[:12],
            role=role,
            name=name or f"{role} key",
            created_at=at,
            expires_at=expires,
        )
        fields = {"role": role, "name": key.name, "created_at": at}
        if expires:
            fields["expires_at"] = expires
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(self.keys.api_key(digest), mapping=fields)
        pipe.sadd(self.keys.api_key_index(), digest)
        after: dict[str, Any] = {"role": role, "name": key.name}
        if expires:
            after["expires_at"] = expires
        self.audit.append(pipe, _entry("key.create", key.key_id, actor, at, after=after))
        pipe.execute()
        return key

    def lookup(self, secret: str) -> ApiKey | None:
        """The key a secret stands for, if it is known, not revoked and not expired; notes
        when it was last used (at most once a minute)."""
        return self.lookup_of(secret, self.r.hgetall(self.keys.api_key(hash_key(secret))))

    def queue_lookup(self, pipe: Any, secret: str) -> None:
        """Queue `lookup`'s read on the caller's pipeline (see `lookup_of`)."""
        pipe.hgetall(self.keys.api_key(hash_key(secret)))

    def lookup_of(self, secret: str, raw: dict[str, str]) -> ApiKey | None:
        """`lookup` given the key's stored hash, read by the caller."""
        if not raw or raw.get("revoked") == "1":
            return None
        digest = hash_key(secret)
        key = _key_of(digest, raw)
        now = self.clock()
        if key.state(now) != "active":
            return None
        last = key.last_used_at
        if last is None or (now - datetime.fromisoformat(last)).total_seconds() >= (
            LAST_USED_RESOLUTION_S
        ):
            self.r.hset(self.keys.api_key(digest), "last_used_at", iso(now))
        return key

    def list_keys(self) -> list[ApiKey]:
        """Every stored key, revoked and expired ones included, oldest first."""
        digests = sorted(self.r.smembers(self.keys.api_key_index()))
        pipe = self.r.pipeline(transaction=False)
        for digest in digests:
            pipe.hgetall(self.keys.api_key(digest))
        found = [_key_of(d, raw) for d, raw in zip(digests, pipe.execute(), strict=True) if raw]
        return sorted(found, key=lambda k: (k.created_at, k.key_id))

    def _digest_of(self, key_id: str) -> str:
        wanted = key_id.strip().lower()
        if len(wanted) < 6:
            raise KeyNotFound(f"key id {key_id!r} is too short: give at least 6 characters")
        matches = [d for d in self.r.smembers(self.keys.api_key_index()) if d.startswith(wanted)]
        if not matches:
            raise KeyNotFound(f"no stored key with id {key_id!r}")
        if len(matches) > 1:
            raise KeyNotFound(f"key id {key_id!r} is ambiguous: give more of it")
        return str(matches[0])

    def revoke(self, key_id: str, *, actor: Actor | None = None, reason: str = "") -> ApiKey:
        """Refuse the key from now on, in every API process (the lookup reads Redis on each
        request). Audited as key.revoke in the same transaction; revoking again changes
        nothing and writes no second entry."""
        digest = self._digest_of(key_id)
        name = self.keys.api_key(digest)
        at = iso(self.clock())
        while True:
            with self.r.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(name)
                    raw = pipe.hgetall(name)
                    key = _key_of(digest, raw)
                    if key.revoked_at or raw.get("revoked") == "1":
                        pipe.unwatch()
                        return key
                    pipe.multi()
                    pipe.hset(name, mapping={"revoked": "1", "revoked_at": at})
                    self.audit.append(
                        pipe,
                        _entry(
                            "key.revoke",
                            key.key_id,
                            actor,
                            at,
                            before={"state": key.state(self.clock())},
                            after={"state": "revoked", "role": key.role, "name": key.name},
                            reason=reason or None,
                        ),
                    )
                    pipe.execute()
                    return replace(key, revoked_at=at)
                except redis.WatchError:
                    continue


def _entry(
    action: str,
    key_id: str,
    actor: Actor | None,
    at: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> AuditEntry:
    return AuditEntry(
        action=action,
        target_type="key",
        target_id=key_id,
        actor=actor.key_id if actor else SYSTEM_ACTOR,
        actor_name=actor.name if actor else "",
        role=actor.role if actor else "",
        at=at,
        before=before,
        after=after,
        reason=reason,
    )


def constant_time_match(secret: str, known: dict[str, Role]) -> Role | None:
    """Bootstrap keys are checked in memory, so they work even before Redis holds them."""
    digest = hash_key(secret)
    for known_digest, role in known.items():
        if hmac.compare_digest(digest, known_digest):
            return role
    return None
