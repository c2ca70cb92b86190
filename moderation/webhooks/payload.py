"""What a receiver gets: which subscriptions an event goes to, and the message body.

The body follows the Standard Webhooks shape: `type`, `timestamp` and `data`. `data` holds
the comment's state after the change (the text only where the subscription asks for it),
why it changed, and the event id and revision by which a receiver orders what it hears.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from moderation.domain.events import CommentEvent, EventType

RULE_NOTIFY = "rule.notify"
PING = "webhook.ping"
ALL = "*"
MACHINE_VERDICTS = (EventType.APPROVED, EventType.FLAGGED, EventType.REJECTED)
SUBSCRIBABLE: tuple[str, ...] = (*(t.value for t in EventType), RULE_NOTIFY, ALL)


def message_types(
    events: list[str], article_ids: list[str], rule_tags: list[str], event: CommentEvent
) -> list[str]:
    """The messages one event makes for one subscription: its own type where subscribed
    (`*` means every comment event), and `rule.notify` where a rule that fired asks to
    notify and the subscription names `rule.notify` explicitly."""
    if article_ids and event.article_id not in article_ids:
        return []
    if rule_tags and not set(rule_tags) & set(event.tags):
        return []
    found: list[str] = []
    if ALL in events or event.type.value in events:
        found.append(event.type.value)
    if RULE_NOTIFY in events and event.notify and event.type in MACHINE_VERDICTS:
        found.append(RULE_NOTIFY)
    return found


def delivery_id(webhook_id: str, event_id: str, message_type: str) -> str:
    """The webhook-id: the same for every attempt of one message to one endpoint."""
    digest = hashlib.sha256(f"{webhook_id}|{event_id}|{message_type}".encode()).hexdigest()
    return f"msg_{digest[:26]}"


def event_body(message_type: str, event: CommentEvent, text: str | None) -> str:
    comment: dict[str, Any] = {
        "id": event.comment_id,
        "article_id": event.article_id,
        "author_id": event.author_id,
        "revision": event.revision,
        "status": event.status_after.value,
        "status_before": event.status_before.value if event.status_before else None,
    }
    if text is not None:
        comment["text"] = text
    data: dict[str, Any] = {
        "event_id": event.event_id,
        "event_type": event.type.value,
        "comment": comment,
        "decided_by": event.decided_by,
        "actor": event.actor,
        "reason": event.reason,
        "note": event.note,
        "rule_ids": event.rule_ids,
        "tags": event.tags,
        "labels": event.labels,
        "notify": event.notify,
    }
    return _dump({"type": message_type, "timestamp": event.at, "data": data})


def ping_body(webhook_id: str, at: str) -> str:
    return _dump(
        {
            "type": PING,
            "timestamp": at,
            "data": {"webhook_id": webhook_id, "message": "a test delivery; nothing happened"},
        }
    )


def _dump(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
