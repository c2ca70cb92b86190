"""A stored comment and the clock helpers every layer shares."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moderation.domain.verdict import Status, Verdict


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def body_fingerprint(body: dict[str, Any]) -> str:
    """Stable hash of what the site sent, to tell a retry from a conflicting re-use of an id."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))  # ASCII: surrogate-safe
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def text_fingerprint(text: str) -> str:
    return hashlib.sha256(" ".join(text.casefold().split()).encode("utf-8")).hexdigest()[:16]


@dataclass
class Comment:
    id: str
    article_id: str
    author_id: str
    text: str
    created_at: str
    status: Status = Status.PENDING
    revision: int = 1
    parent_id: str | None = None
    language: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    verdict: Verdict | None = None
    updated_at: str = ""
    body_hash: str = ""
    enqueued: bool = False
    attempts: int = 0
    received_at: str = ""
    appeal: dict[str, Any] | None = None  # {"message", "revision", "at"} once appealed
    final: bool = False  # decided on appeal: no further decision
