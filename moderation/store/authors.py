"""An author's standing (banned, suspended, with a reason and an optional expiry) and their
history (counts per status, latest comments).

The expiry is stored, never enforced by a timer: `effective_profile` compares it with the
clock at read time, so a ban ends on the second it says without any job running, and the
rules (which read the standing through `CommentStore.author_profile`) see it end too. Every
change of standing appends its audit entry in the same transaction as the change."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import redis

from moderation.domain.comment import iso, utcnow
from moderation.domain.verdict import Status
from moderation.store.audit import AuditEntry, AuditLog
from moderation.store.keys import Keys
from moderation.store.review import INDEXED_STATUSES

if TYPE_CHECKING:
    from moderation.store.comments import Actor


class Standing(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    BANNED = "banned"


AUDIT_ACTIONS = {
    Standing.BANNED: "author.ban",
    Standing.SUSPENDED: "author.suspend",
    Standing.ACTIVE: "author.unban",
}


def effective_profile(raw: dict[str, str], now: datetime) -> dict[str, Any]:
    """The standing in force at `now`: a ban or suspension past its expiry no longer counts
    (the record keeps it, so moderators can see that it lapsed)."""
    expires_at = raw.get("expires_at") or None
    lapsed = expires_at is not None and datetime.fromisoformat(expires_at) <= now
    banned = raw.get("banned") == "1" and not lapsed
    suspended = raw.get("suspended") == "1" and not lapsed
    standing = Standing.BANNED if banned else Standing.SUSPENDED if suspended else Standing.ACTIVE
    return {
        "banned": banned,
        "suspended": suspended,
        "standing": standing.value,
        "reason": raw.get("reason", ""),
        "expires_at": expires_at,
        "lapsed": lapsed,
        "note": raw.get("note", ""),
        "updated_by": raw.get("updated_by", ""),
        "updated_at": raw.get("updated_at", ""),
    }


class AuthorStore:
    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        audit: AuditLog | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.r: Any = client
        self.keys = keys
        self.audit = audit or AuditLog(client, keys)
        self.clock = clock

    def profile(self, author_id: str, at: datetime | None = None) -> dict[str, Any]:
        raw = self.r.hgetall(self.keys.author_profile(author_id))
        return effective_profile(raw, at or self.clock())

    def set_standing(
        self,
        author_id: str,
        *,
        banned: bool,
        suspended: bool,
        reason: str,
        note: str,
        expires_at: datetime | None,
        actor: Actor,
    ) -> dict[str, Any]:
        """Replace the standing and audit it (before -> after, reason) atomically."""
        key = self.keys.author_profile(author_id)

        def txn(pipe: Any) -> dict[str, Any]:
            now = self.clock()
            before = effective_profile(pipe.hgetall(key), now)
            record = {
                "banned": "1" if banned else "0",
                "suspended": "1" if suspended else "0",
                "reason": reason,
                "note": note,
                "expires_at": iso(expires_at) if expires_at and (banned or suspended) else "",
                "updated_by": f"{actor.role}:{actor.key_id}",
                "updated_at": iso(now),
            }
            after = effective_profile(record, now)
            pipe.multi()
            pipe.delete(key)  # no field of the previous standing survives
            pipe.hset(key, mapping=record)
            self.audit.append(
                pipe,
                AuditEntry(
                    action=AUDIT_ACTIONS[Standing(after["standing"])],
                    target_type="author",
                    target_id=author_id,
                    actor=actor.key_id,
                    actor_name=actor.name,
                    role=actor.role,
                    at=iso(now),
                    before=_audited(before),
                    after=_audited(after),
                    reason=reason or None,
                ),
            )
            return after

        after: dict[str, Any] = self.r.transaction(txn, key, value_from_callable=True)
        return after

    # -- history ---------------------------------------------------------------------------

    def counts(self, author_id: str) -> dict[str, int]:
        """Comments per current status, from the review indexes (one ZCARD each) and the
        author's comment index for those still pending."""
        pipe = self.r.pipeline(transaction=False)
        pipe.zcard(self.keys.author_comments(author_id))
        for status in INDEXED_STATUSES:
            pipe.zcard(self.keys.review(status.value, "age", "author", author_id))
        total, *per_status = pipe.execute()
        counts = {s.value: int(n) for s, n in zip(INDEXED_STATUSES, per_status, strict=True)}
        # Comments stored before the author index existed are in the review indexes only.
        counts[Status.PENDING.value] = max(int(total) - sum(counts.values()), 0)
        return counts

    def latest_ids(self, author_id: str, limit: int) -> list[str]:
        ids: list[str] = self.r.zrevrange(self.keys.author_comments(author_id), 0, limit - 1)
        return ids


def _audited(profile: dict[str, Any]) -> dict[str, Any]:
    return {k: profile[k] for k in ("standing", "expires_at", "note")}
