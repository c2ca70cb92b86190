"""The comment event stream is bounded by age (the sweep trims it) and by length."""

from __future__ import annotations

import uuid

from support import make_settings

from moderation.domain.comment import iso, utcnow
from moderation.domain.events import CommentEvent, EventType
from moderation.domain.verdict import Status
from moderation.services import Services
from moderation.store.events import EventLog
from workers.tasks import trim_events


def event(i: int) -> CommentEvent:
    return CommentEvent(
        type=EventType.STORED,
        comment_id=f"c{i}",
        article_id="a",
        author_id="u",
        revision=1,
        status_before=None,
        status_after=Status.PENDING,
        at=iso(utcnow()),
    )


def append(log: EventLog, events: list[CommentEvent]) -> None:
    pipe = log.r.pipeline(transaction=True)
    for e in events:
        log.append(pipe, e)
    pipe.execute()


def test_trim_drops_old_events_and_keeps_new_ones(redis_url: str) -> None:
    settings = make_settings(redis_url, f"test-retention-{uuid.uuid4().hex[:8]}:")
    svc = Services.from_settings(settings)
    try:
        append(svc.events, [event(i) for i in range(600)])
        first_new = len(svc.events.range())
        append(svc.events, [event(1000 + i) for i in range(10)])
        new_ids = [e.event_id for e in svc.events.range()[first_new:]]
        cutoff_ms = int(svc.events.range()[first_new].stream_id.split("-")[0])
        assert trim_events(svc) == 0  # all younger than the 30-day retention
        trimmed = svc.events.trim_older_than(cutoff_ms)
        left = svc.events.range()
        # Redis trims whole stream nodes (about 100 entries each): most, not all, go.
        assert trimmed >= 400 and len(left) == 610 - trimmed
        assert [e.event_id for e in left][-10:] == new_ids
        assert len(svc.events.for_comment("c1")) == 1  # a comment's history stays with it

        capped = EventLog(svc.redis, svc.keys, maxlen=100)
        append(capped, [event(i) for i in range(1000)])
        assert capped.length() < 400  # approximately capped on every append
    finally:
        for key in svc.redis.scan_iter(match=f"{settings.key_prefix}*", count=1000):
            svc.redis.delete(key)
