"""The comment event stream: appended by the comment store inside the MULTI of each state
change, read by consumers (webhook deliveries) through a consumer group.

Retention: the stream is capped at `maxlen` entries (approximately, as Redis trims whole
nodes) on every append, and `trim_older_than` drops entries past an age; the beat's sweep
calls it. A consumer that falls further behind than that loses the oldest events, which the
`moderation_event_stream_lag` metric shows first. Each comment's own history list is
capped at HISTORY_MAXLEN events."""

from __future__ import annotations

from typing import Any

import redis

from moderation.domain.events import CommentEvent
from moderation.store.keys import Keys

DEFAULT_MAXLEN = 1_000_000
HISTORY_MAXLEN = 500


class EventLog:
    def __init__(self, client: redis.Redis, keys: Keys, *, maxlen: int = DEFAULT_MAXLEN) -> None:
        self.r: Any = client
        self.keys = keys
        self.maxlen = maxlen

    # -- writing (inside the caller's MULTI) ---------------------------------------------

    def append(self, pipe: Any, event: CommentEvent) -> None:
        pipe.xadd(self.keys.events(), event.to_fields(), maxlen=self.maxlen, approximate=True)
        history = self.keys.comment_events(event.comment_id)
        pipe.rpush(history, event.model_dump_json(exclude={"stream_id"}))
        pipe.ltrim(history, -HISTORY_MAXLEN, -1)

    def trim_older_than(self, cutoff_ms: int) -> int:
        trimmed: int = self.r.xtrim(self.keys.events(), minid=f"{cutoff_ms}-0", approximate=True)
        return trimmed

    # -- reading -------------------------------------------------------------------------

    def for_comment(self, comment_id: str) -> list[CommentEvent]:
        raw = self.r.lrange(self.keys.comment_events(comment_id), 0, -1)
        return [CommentEvent.model_validate_json(item) for item in raw]

    def range(
        self, start: str = "-", end: str = "+", count: int | None = None
    ) -> list[CommentEvent]:
        entries = self.r.xrange(self.keys.events(), start, end, count=count)
        return [CommentEvent.from_fields(sid, fields) for sid, fields in entries]

    def length(self) -> int:
        return int(self.r.xlen(self.keys.events()))

    # -- consumer groups -----------------------------------------------------------------

    def ensure_group(self, group: str, start_id: str = "$") -> None:
        """Create the group (and the stream) once; `$` = only events from now on."""
        try:
            self.r.xgroup_create(self.keys.events(), group, id=start_id, mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read_group(
        self, group: str, consumer: str, *, count: int = 100, block_ms: int | None = None
    ) -> list[CommentEvent]:
        """New events for this consumer; they stay pending until acked."""
        reply = self.r.xreadgroup(
            group, consumer, {self.keys.events(): ">"}, count=count, block=block_ms
        )
        return [
            CommentEvent.from_fields(sid, fields)
            for _stream, entries in (reply or [])
            for sid, fields in entries
            if fields  # an entry trimmed while pending comes back empty
        ]

    def ack(self, group: str, stream_ids: list[str]) -> int:
        if not stream_ids:
            return 0
        return int(self.r.xack(self.keys.events(), group, *stream_ids))

    def autoclaim(
        self, group: str, consumer: str, *, min_idle_ms: int, count: int = 100
    ) -> list[CommentEvent]:
        """Take over events another consumer read but never acked (it died)."""
        reply = self.r.xautoclaim(
            self.keys.events(), group, consumer, min_idle_time=min_idle_ms, count=count
        )
        entries = reply[1] if reply else []
        return [CommentEvent.from_fields(sid, fields) for sid, fields in entries if fields]

    def lag(self, group: str) -> int | None:
        """Entries not yet delivered to the group (None if the group does not exist)."""
        try:
            groups = self.r.xinfo_groups(self.keys.events())
        except redis.ResponseError:
            return None
        for info in groups:
            if info.get("name") == group:
                lag = info.get("lag")
                return int(lag) if lag is not None else None
        return None
