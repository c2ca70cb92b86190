"""Comment events: one per state change of a comment, written in the same Redis transaction
as the change itself, so no change exists without its event and no event without its
change. The review page's history, the audit of decisions and the webhook deliveries all
read them."""

from __future__ import annotations

import json
import secrets
import time
from enum import StrEnum

from pydantic import BaseModel, Field

from moderation.domain.verdict import Status, Verdict


class EventType(StrEnum):
    STORED = "comment.stored"
    # Machine verdicts: one type per status, as webhook receivers subscribe to them.
    APPROVED = "comment.approved"
    FLAGGED = "comment.flagged"
    REJECTED = "comment.rejected"
    DECIDED = "comment.decided"  # a moderator's decision; status_after says which
    UNDONE = "comment.decision_undone"
    APPEALED = "comment.appealed"
    ERROR = "comment.error"  # dead-lettered
    RETRIED = "comment.retried"
    EDITED = "comment.edited"

    @classmethod
    def for_machine_verdict(cls, status: Status) -> EventType:
        return {
            Status.APPROVED: cls.APPROVED,
            Status.FLAGGED: cls.FLAGGED,
            Status.REJECTED: cls.REJECTED,
        }[status]


def new_event_id() -> str:
    """Time-ordered (milliseconds first) and unique across processes: it is also the
    webhook-id receivers deduplicate on, so it is made before the transaction runs rather
    than taken from the stream entry id."""
    return f"evt_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


class CommentEvent(BaseModel):
    event_id: str = Field(default_factory=new_event_id)
    type: EventType
    comment_id: str
    article_id: str
    author_id: str
    revision: int
    status_before: Status | None
    status_after: Status
    decided_by: str | None = None
    actor: str | None = None  # the API key id of the person who acted
    at: str
    reason: str | None = None
    note: str | None = None
    notify: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    rule_ids: list[str] = Field(default_factory=list)
    labels: list[str] = Field(default_factory=list)
    # The Redis stream entry id; set when read back from the stream.
    stream_id: str = ""

    def to_fields(self) -> dict[str, str]:
        """Flat string fields for XADD (the stream id is the entry's own)."""
        return {"event": self.model_dump_json(exclude={"stream_id"})}

    @classmethod
    def from_fields(cls, stream_id: str, fields: dict[str, str]) -> CommentEvent:
        return cls.model_validate({**json.loads(fields["event"]), "stream_id": stream_id})

    @classmethod
    def of_verdict(
        cls,
        type: EventType,
        *,
        comment_id: str,
        article_id: str,
        author_id: str,
        revision: int,
        status_before: Status | None,
        verdict: Verdict,
    ) -> CommentEvent:
        decision = verdict.decision
        return cls(
            type=type,
            comment_id=comment_id,
            article_id=article_id,
            author_id=author_id,
            revision=revision,
            status_before=status_before,
            status_after=verdict.status,
            decided_by=verdict.decided_by.value,
            actor=decision.actor if decision else None,
            at=verdict.decided_at,
            reason=decision.reason if decision else None,
            note=decision.note if decision else None,
            notify=verdict.notify,
            tags=verdict.tags,
            rule_ids=verdict.rule_ids(),
            labels=verdict.labels_over_threshold(),
        )
