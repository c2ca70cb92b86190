"""The ruleset activated through the admin API, and the audit trail of every change.

The active bundle is one hash (version, files as JSON, who, when, why); replacing it and
appending its audit entry happen in one transaction, so the trail never misses a change
and never records one that did not happen.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import redis

from moderation.domain.comment import iso, utcnow
from moderation.store.audit import AuditEntry as SharedAuditEntry
from moderation.store.audit import AuditLog
from moderation.store.keys import Keys

AUDIT_MAXLEN = 10_000


@dataclass(frozen=True)
class StoredRuleset:
    version: str
    files: dict[str, str]
    activated_by: str
    activated_at: str
    comment: str


@dataclass(frozen=True)
class AuditEntry:
    id: str
    at: str
    actor: str
    role: str
    action: str  # "activate" or "revert"
    old_version: str
    old_source: str  # "files" or "api"
    new_version: str
    comment: str


@dataclass(frozen=True)
class Change:
    """What one activation or revert replaced."""

    changed: bool
    old_version: str
    old_source: Literal["files", "api"]
    at: str


class RulesetStore:
    def __init__(
        self, client: redis.Redis, keys: Keys, *, audit_maxlen: int = AUDIT_MAXLEN
    ) -> None:
        # redis-py's return types are unions over its decode modes; this client always
        # decodes to str, so values are converted explicitly.
        self.r: Any = client
        self.keys = keys
        self.audit_maxlen = audit_maxlen
        self.shared_audit = AuditLog(client, keys)

    # -- reading -------------------------------------------------------------------------

    def active_version(self) -> str | None:
        """The cheap question workers ask every second."""
        version: str | None = self.r.hget(self.keys.ruleset_active(), "version")
        return version or None

    def active(self) -> StoredRuleset | None:
        raw: dict[str, str] = self.r.hgetall(self.keys.ruleset_active())
        if not raw.get("version"):
            return None
        return StoredRuleset(
            version=raw["version"],
            files=json.loads(raw.get("files") or "{}"),
            activated_by=raw.get("activated_by", ""),
            activated_at=raw.get("activated_at", ""),
            comment=raw.get("comment", ""),
        )

    def active_files(self) -> tuple[str, dict[str, str]] | None:
        stored = self.active()
        return None if stored is None else (stored.version, stored.files)

    def audit(self, limit: int = 50) -> list[AuditEntry]:
        """Newest first."""
        entries = self.r.xrevrange(self.keys.ruleset_audit(), "+", "-", count=limit)
        return [
            AuditEntry(
                id=entry_id,
                at=fields.get("at", ""),
                actor=fields.get("actor", ""),
                role=fields.get("role", ""),
                action=fields.get("action", ""),
                old_version=fields.get("old_version", ""),
                old_source=fields.get("old_source", ""),
                new_version=fields.get("new_version", ""),
                comment=fields.get("comment", ""),
            )
            for entry_id, fields in entries
        ]

    # -- writing -------------------------------------------------------------------------

    def activate(
        self,
        version: str,
        files: dict[str, str],
        *,
        actor: str,
        role: str,
        comment: str,
        files_version: str,
        actor_name: str = "",
    ) -> Change:
        """Make `files` the active ruleset and audit it. `files_version` is what was active
        before when no bundle was (the rule files on disk)."""
        key = self.keys.ruleset_active()
        at = iso(utcnow())
        record = {
            "version": version,
            "files": json.dumps(files, ensure_ascii=False, sort_keys=True),
            "activated_by": actor,
            "activated_at": at,
            "comment": comment,
        }

        def txn(pipe: Any) -> Change:
            # Read under WATCH: the old version in the audit entry is the one replaced,
            # even when two admins activate at the same moment.
            old = pipe.hget(key, "version")
            change = Change(True, old or files_version, "api" if old else "files", at)
            pipe.multi()
            pipe.delete(key)  # no field of the previous bundle survives
            pipe.hset(key, mapping=record)
            self._audit(pipe, change, "activate", actor, role, version, comment, actor_name)
            return change

        result: Change = self.r.transaction(txn, key, value_from_callable=True)
        return result

    def revert(
        self, *, actor: str, role: str, comment: str, files_version: str, actor_name: str = ""
    ) -> Change:
        """Back to the rule files on disk; a no-op (and no audit entry) when already there."""
        key = self.keys.ruleset_active()
        at = iso(utcnow())

        def txn(pipe: Any) -> Change:
            old = pipe.hget(key, "version")
            if not old:
                return Change(False, files_version, "files", at)
            change = Change(True, old, "api", at)
            pipe.multi()
            pipe.delete(key)
            self._audit(pipe, change, "revert", actor, role, files_version, comment, actor_name)
            return change

        result: Change = self.r.transaction(txn, key, value_from_callable=True)
        return result

    def _audit(
        self,
        pipe: Any,
        change: Change,
        action: str,
        actor: str,
        role: str,
        new_version: str,
        comment: str,
        actor_name: str,
    ) -> None:
        """The ruleset's own trail (as it always was) and the service's shared audit log."""
        pipe.xadd(
            self.keys.ruleset_audit(),
            {
                "at": change.at,
                "actor": actor,
                "role": role,
                "action": action,
                "old_version": change.old_version,
                "old_source": change.old_source,
                "new_version": new_version,
                "comment": comment,
            },
            maxlen=self.audit_maxlen,
            approximate=True,
        )
        self.shared_audit.append(
            pipe,
            SharedAuditEntry(
                action=f"ruleset.{action}",
                target_type="ruleset",
                target_id=new_version,
                actor=actor,
                actor_name=actor_name,
                role=role,
                at=change.at,
                before={"version": change.old_version, "source": change.old_source},
                after={
                    "version": new_version,
                    "source": "api" if action == "activate" else "files",
                },
                reason=comment or None,
            ),
        )
