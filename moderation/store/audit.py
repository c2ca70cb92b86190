"""The one append-only audit log of what people did: moderator decisions, undos, bulk
actions, bans, appeals, key creation, webhook subscription changes. An entry is written in
the same transaction as the change it records (pass the MULTI pipeline), also copied to
the per-target streams that moderators read per comment and per author. Nothing in it is
ever rewritten or trimmed."""

from __future__ import annotations

import json
from typing import Any

import redis
from pydantic import BaseModel, Field

from moderation.domain.comment import iso, utcnow
from moderation.store.keys import Keys


class AuditEntry(BaseModel):
    action: str  # e.g. "comment.decide", "comment.undo", "author.ban", "webhook.create"
    target_type: str  # comment | author | webhook | key | ruleset | bulk
    target_id: str
    actor: str  # API key id ("system" for the service itself)
    actor_name: str = ""
    role: str = ""
    at: str = Field(default_factory=lambda: iso(utcnow()))
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    reason: str | None = None
    # Further targets the entry is about (a decision is about its comment and its author).
    also: list[tuple[str, str]] = Field(default_factory=list)
    id: str = ""  # the stream entry id, set when read back


class AuditLog:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.r: Any = client
        self.keys = keys

    def append(self, pipe: Any, entry: AuditEntry) -> None:
        """Inside the caller's MULTI (or on the client, for a change that is only audited)."""
        fields = {"entry": entry.model_dump_json(exclude={"id"})}
        pipe.xadd(self.keys.audit(), fields)
        for target_type, target_id in [(entry.target_type, entry.target_id), *entry.also]:
            pipe.xadd(self.keys.audit_for(target_type, target_id), fields)

    def record(self, entry: AuditEntry) -> None:
        pipe = self.r.pipeline(transaction=True)
        self.append(pipe, entry)
        pipe.execute()

    def _read(self, key: str, limit: int, before: str | None) -> list[AuditEntry]:
        end = f"({before}" if before else "+"
        raw = self.r.xrevrange(key, end, "-", count=limit)
        return [
            AuditEntry.model_validate({**json.loads(fields["entry"]), "id": sid})
            for sid, fields in raw
        ]

    def latest(self, limit: int = 50, before: str | None = None) -> list[AuditEntry]:
        """Newest first; `before` is the id of the last entry of the previous page."""
        return self._read(self.keys.audit(), limit, before)

    def about(
        self, target_type: str, target_id: str, limit: int = 50, before: str | None = None
    ) -> list[AuditEntry]:
        return self._read(self.keys.audit_for(target_type, target_id), limit, before)
