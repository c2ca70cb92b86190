"""Signing (checked with the standardwebhooks package a receiver uses), timestamp
tolerance, secret rotation, the retry schedule and which events reach which subscription."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from moderation.domain.events import CommentEvent, EventType
from moderation.domain.verdict import Status
from moderation.store.webhooks import Subscription
from moderation.webhooks.dispatcher import plan
from moderation.webhooks.payload import RULE_NOTIFY, delivery_id, event_body
from moderation.webhooks.schedule import max_attempts, retry_delay
from moderation.webhooks.signing import new_secret, signed_headers


def event(type_: EventType = EventType.REJECTED, **over: object) -> CommentEvent:
    values: dict[str, object] = {
        "type": type_,
        "comment_id": "c1",
        "article_id": "a1",
        "author_id": "u1",
        "revision": 1,
        "status_before": Status.PENDING,
        "status_after": Status.REJECTED,
        "decided_by": "rules",
        "at": "2030-01-01T00:00:00.000Z",
        "notify": ["moderators"],
        "tags": ["words", "hate"],
        "rule_ids": ["blocked-words"],
    }
    values.update(over)
    return CommentEvent.model_validate(values)


def sub(**over: object) -> Subscription:
    values: dict[str, object] = {
        "id": "wh_1",
        "url": "https://example.com/",
        "events": ["comment.rejected"],
        "created_at": "2029-01-01T00:00:00.000Z",
        "updated_at": "2029-01-01T00:00:00.000Z",
        "created_by": "k",
        "secret": new_secret(),
    }
    values.update(over)
    return Subscription.model_validate(values)


def test_signature_verifies_with_standardwebhooks() -> None:
    secret = new_secret()
    body = event_body("comment.rejected", event(), None)
    headers = signed_headers("msg_1", datetime.now(UTC), body, [secret])
    payload = Webhook(secret).verify(body, headers)
    assert payload["type"] == "comment.rejected"
    assert payload["data"]["comment"]["status"] == "rejected"
    assert "text" not in payload["data"]["comment"]
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("rejected", "approved"), headers)


def test_timestamp_outside_the_tolerance_is_refused() -> None:
    secret = new_secret()
    body = "{}"
    for skew, ok in ((timedelta(minutes=4), True), (timedelta(minutes=6), False)):
        for sign in (1, -1):
            headers = signed_headers("msg_1", datetime.now(UTC) + sign * skew, body, [secret])
            if ok:
                Webhook(secret).verify(body, headers)
            else:
                with pytest.raises(WebhookVerificationError, match=r"too (old|new)"):
                    Webhook(secret).verify(body, headers)


def test_rotation_signs_with_both_secrets_during_the_grace_period() -> None:
    old, new = new_secret(), new_secret()
    s = sub(secret=new, previous_secret=old, previous_secret_expires_ms=2_000)
    assert s.signing_secrets(1_000) == [new, old]
    assert s.signing_secrets(2_000) == [new]
    headers = signed_headers("msg_1", datetime.now(UTC), "{}", s.signing_secrets(1_000))
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify("{}", headers)
    Webhook(new).verify("{}", headers)
    after = signed_headers("msg_1", datetime.now(UTC), "{}", s.signing_secrets(3_000))
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify("{}", after)


def test_retry_schedule_backs_off_with_bounded_jitter() -> None:
    delays = [5.0, 300.0, 1800.0]
    assert max_attempts(delays) == 4
    assert retry_delay(delays, 1, 0.0) == 5.0
    assert retry_delay(delays, 3, 0.0) == 1800.0
    assert retry_delay(delays, 4, 0.0) is None
    assert retry_delay(delays, 2, 0.2, rand=lambda: 0.0) == pytest.approx(240.0)
    assert retry_delay(delays, 2, 0.2, rand=lambda: 1.0) == pytest.approx(360.0)


def test_default_schedule_is_about_eight_attempts_over_a_day() -> None:
    from moderation.config import Settings

    delays = Settings().webhook_retry_delays()
    assert max_attempts(delays) == 8
    assert 20 * 3600 < sum(delays) < 30 * 3600


def test_plan_filters_by_type_article_tag_and_creation_time() -> None:
    e = event()
    assert [t for _, t in plan(e, [sub()])] == ["comment.rejected"]
    assert [t for _, t in plan(e, [sub(events=["*"])])] == ["comment.rejected"]
    assert [t for _, t in plan(e, [sub(events=["*", RULE_NOTIFY])])] == [
        "comment.rejected",
        RULE_NOTIFY,
    ]
    assert plan(e, [sub(events=["comment.approved"])]) == []
    assert plan(e, [sub(article_ids=["other"])]) == []
    assert len(plan(e, [sub(article_ids=["a1"])])) == 1
    assert plan(e, [sub(rule_tags=["spam"])]) == []
    assert len(plan(e, [sub(rule_tags=["spam", "hate"])])) == 1
    assert plan(e, [sub(active=False)]) == []
    assert plan(e, [sub(created_at="2031-01-01T00:00:00.000Z")]) == []
    # rule.notify only for machine verdicts with notify targets
    assert plan(event(notify=[]), [sub(events=[RULE_NOTIFY])]) == []
    decided = event(EventType.DECIDED, decided_by="moderator")
    assert plan(decided, [sub(events=[RULE_NOTIFY])]) == []


def test_delivery_id_is_stable_per_event_endpoint_and_type() -> None:
    assert delivery_id("wh_1", "evt_1", "comment.rejected") == delivery_id(
        "wh_1", "evt_1", "comment.rejected"
    )
    assert (
        len(
            {
                delivery_id("wh_1", "evt_1", "comment.rejected"),
                delivery_id("wh_2", "evt_1", "comment.rejected"),
                delivery_id("wh_1", "evt_2", "comment.rejected"),
                delivery_id("wh_1", "evt_1", RULE_NOTIFY),
            }
        )
        == 4
    )


def test_text_only_where_asked() -> None:
    body = json.loads(event_body("comment.rejected", event(), "the text"))
    assert body["data"]["comment"]["text"] == "the text"
    assert body["data"]["event_id"].startswith("evt_")
    assert body["timestamp"] == "2030-01-01T00:00:00.000Z"
