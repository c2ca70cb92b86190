"""Server-side sessions of the moderator web page and the secret that signs them.

The cookie holds only a random session id; Redis keeps the session under the id's SHA-256,
so neither a Redis dump nor a log line holds a usable cookie, and signing out (or expiry)
ends the session for every API process at once."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import redis

from moderation.domain.comment import iso, utcnow
from moderation.store.keys import Keys


@dataclass(frozen=True)
class WebSession:
    session_id: str
    key_id: str
    role: str
    name: str
    signed_in_at: str


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


class WebSessionStore:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        # Decoding client (str values); see CommentStore for why this is Any.
        self.r: Any = client
        self.keys = keys

    def shared_secret(self) -> str:
        """The first process to ask generates it; every later one reads the same value."""
        key = self.keys.web_secret()
        self.r.set(key, secrets.token_urlsafe(48), nx=True)
        value: str = self.r.get(key)
        return value

    def create(self, *, key_id: str, role: str, name: str, ttl_s: int) -> WebSession:
        session = WebSession(
            session_id=secrets.token_urlsafe(32),
            key_id=key_id,
            role=role,
            name=name,
            signed_in_at=iso(utcnow()),
        )
        key = self.keys.web_session(_digest(session.session_id))
        pipe = self.r.pipeline()
        pipe.hset(
            key,
            mapping={
                "key_id": session.key_id,
                "role": session.role,
                "name": session.name,
                "signed_in_at": session.signed_in_at,
            },
        )
        pipe.expire(key, ttl_s)
        pipe.execute()
        return session

    def get(self, session_id: str, ttl_s: int) -> WebSession | None:
        """The session, its idle expiry pushed back; None when unknown or expired."""
        key = self.keys.web_session(_digest(session_id))
        pipe = self.r.pipeline()
        pipe.hgetall(key)
        pipe.expire(key, ttl_s)  # a no-op on a missing key: nothing is resurrected
        raw, _ = pipe.execute()
        if not raw:
            return None
        return WebSession(
            session_id=session_id,
            key_id=raw["key_id"],
            role=raw["role"],
            name=raw.get("name", ""),
            signed_in_at=raw.get("signed_in_at", ""),
        )

    def delete(self, session_id: str) -> None:
        self.r.delete(self.keys.web_session(_digest(session_id)))
