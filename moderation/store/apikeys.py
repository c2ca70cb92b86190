"""API keys, stored only as SHA-256 hashes. A key is shown once, when it is created."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
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


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    role: Role
    name: str


class ApiKeyStore:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        # redis-py's return types are unions over its decode modes; this client always
        # decodes to str, so the repositories convert values explicitly instead.
        self.r: Any = client
        self.keys = keys
        self.audit = AuditLog(client, keys)

    def create(
        self, role: Role, name: str = "", *, actor: Actor | None = None
    ) -> tuple[str, ApiKey]:
        secret = f"mod_{role}_{secrets.token_urlsafe(24)}"
        return secret, self.put(secret, role, name, actor=actor)

    def put(self, secret: str, role: Role, name: str = "", *, actor: Actor | None = None) -> ApiKey:
        """Store the key and its audit entry (key.create) in one transaction."""
        digest = hash_key(secret)
        key = ApiKey(key_id=digest[:12], role=role, name=name or f"{role} key")
        at = iso(utcnow())
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(
            self.keys.api_key(digest),
            mapping={"role": role, "name": key.name, "created_at": at},
        )
        pipe.sadd(self.keys.api_key_index(), digest)
        self.audit.append(
            pipe,
            AuditEntry(
                action="key.create",
                target_type="key",
                target_id=key.key_id,
                actor=actor.key_id if actor else SYSTEM_ACTOR,
                actor_name=actor.name if actor else "",
                role=actor.role if actor else "",
                at=at,
                after={"role": role, "name": key.name},
            ),
        )
        pipe.execute()
        return key

    def lookup(self, secret: str) -> ApiKey | None:
        digest = hash_key(secret)
        raw = self.r.hgetall(self.keys.api_key(digest))
        if not raw or raw.get("revoked") == "1":
            return None
        return ApiKey(key_id=digest[:12], role=raw["role"], name=raw.get("name", ""))


def constant_time_match(secret: str, known: dict[str, Role]) -> Role | None:
    """Bootstrap keys are checked in memory, so they work even before Redis holds them."""
    digest = hash_key(secret)
    for known_digest, role in known.items():
        if hmac.compare_digest(digest, known_digest):
            return role
    return None
