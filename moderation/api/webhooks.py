"""Webhook subscriptions (role admin): create, list, change, delete, rotate the signing
secret, see deliveries and their attempts, redeliver, send a test ping. Every change is
audited in the same transaction; secrets are shown once and never listed."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from flask import Blueprint, Response, current_app
from flask.blueprints import BlueprintSetupState
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from moderation.api.auth import Caller, services
from moderation.api.framework import operation
from moderation.api.schemas import Identifier
from moderation.domain.comment import epoch_ms, iso, utcnow
from moderation.errors import Problem, ProblemError
from moderation.store.events import EventLog
from moderation.store.webhooks import Attempt, Delivery, Subscription, WebhookStore
from moderation.webhooks.dispatcher import deliver_sender, queue_delivery
from moderation.webhooks.metrics import WebhookCollector
from moderation.webhooks.payload import PING, delivery_id, ping_body
from moderation.webhooks.sender import guard_for
from moderation.webhooks.signing import new_secret
from moderation.webhooks.ssrf import DestinationRefused

bp = Blueprint("webhooks", __name__, url_prefix="/v1")

EventName = Literal[
    "comment.stored",
    "comment.approved",
    "comment.flagged",
    "comment.rejected",
    "comment.decided",
    "comment.decision_undone",
    "comment.appealed",
    "comment.error",
    "comment.retried",
    "comment.edited",
    "rule.notify",
    "*",
]
Url = Annotated[str, StringConstraints(min_length=8, max_length=2048)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
Description = Annotated[str, StringConstraints(max_length=500, pattern=r"^[^\x00]*$")]


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url = Field(description="https URL (http only where MODERATION_WEBHOOK_ALLOW_HTTP is set)")
    events: list[EventName] = Field(
        min_length=1,
        max_length=20,
        description="Event types; `*` is every comment event; `rule.notify` is sent for "
        "machine verdicts where a rule that fired has `notify`.",
    )
    article_ids: list[Identifier] = Field(
        default_factory=list, max_length=100, description="Only these articles (empty: all)."
    )
    rule_tags: list[Tag] = Field(
        default_factory=list,
        max_length=50,
        description="Only events where a rule with one of these tags fired (empty: all).",
    )
    active: bool = True
    description: Description = ""
    include_text: bool = Field(default=False, description="Put the comment's text in payloads.")


class WebhookPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url | None = None
    events: list[EventName] | None = Field(default=None, min_length=1, max_length=20)
    article_ids: list[Identifier] | None = Field(default=None, max_length=100)
    rule_tags: list[Tag] | None = Field(default=None, max_length=50)
    active: bool | None = Field(
        default=None, description="true re-enables a disabled endpoint (its failure count resets)."
    )
    description: Description | None = None
    include_text: bool | None = None


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[str]
    article_ids: list[str]
    rule_tags: list[str]
    active: bool
    description: str
    include_text: bool
    created_at: str
    updated_at: str
    created_by: str
    disabled_reason: str | None
    previous_secret_expires_at: str | None
    consecutive_failures: int

    @classmethod
    def of(cls, sub: Subscription, failures: int) -> WebhookOut:
        return cls(**sub.redacted(), consecutive_failures=failures)


class WebhookCreated(WebhookOut):
    secret: str = Field(description="The signing secret; shown only now.")


class WebhookList(BaseModel):
    items: list[WebhookOut]


class SecretRotated(BaseModel):
    id: str
    secret: str = Field(description="The new signing secret; shown only now.")
    previous_secret_expires_at: str | None = Field(
        description="Until then deliveries carry a signature with the old secret too."
    )


class RotateQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace_s: int | None = Field(
        default=None,
        ge=0,
        le=7 * 24 * 3600,
        description="How long the old secret keeps signing (default MODERATION_WEBHOOK_SECRET_GRACE_S).",
    )


class AttemptOut(BaseModel):
    number: int
    at: str
    status_code: int | None
    latency_ms: float
    error: str | None
    response_excerpt: str


class DeliveryOut(BaseModel):
    id: str = Field(description="The webhook-id header: the same on every attempt.")
    webhook_id: str
    type: str
    event_id: str
    comment_id: str | None
    status: str
    attempts: list[AttemptOut]
    created_at: str
    next_attempt_at: str | None
    delivered_at: str | None
    last_status_code: int | None
    last_error: str | None

    @classmethod
    def of(cls, d: Delivery, attempts: list[Attempt]) -> DeliveryOut:
        return cls(
            id=d.id,
            webhook_id=d.webhook_id,
            type=d.type,
            event_id=d.event_id,
            comment_id=d.comment_id,
            status=d.status,
            attempts=[AttemptOut(**a.model_dump()) for a in attempts],
            created_at=d.created_at,
            next_attempt_at=d.next_attempt_at,
            delivered_at=d.delivered_at,
            last_status_code=d.last_status_code,
            last_error=d.last_error,
        )


class DeliveryList(BaseModel):
    items: list[DeliveryOut]


class DeliveriesQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=50, ge=1, le=200)
    status: Literal["pending", "retrying", "delivered", "dead"] | None = None


class Queued(BaseModel):
    delivery_id: str
    status: str


@bp.record_once
def _install_metrics(state: BlueprintSetupState) -> None:
    registry = state.app.extensions.get("moderation.metrics")
    svc = state.app.extensions["moderation"]
    if registry is not None:
        registry.register(
            WebhookCollector(WebhookStore(svc.redis, svc.keys), EventLog(svc.redis, svc.keys))
        )


def store() -> WebhookStore:
    svc = services()
    return WebhookStore(svc.redis, svc.keys)


def _send() -> Any:
    return deliver_sender(current_app.extensions["moderation.celery"])


def _check_url(url: str) -> None:
    try:
        guard_for(services().settings).check(url)
    except DestinationRefused as exc:
        raise ProblemError(
            422,
            "webhook-destination-refused",
            "Unprocessable Content",
            f"url refused: {exc.reason}",
            errors=[{"field": "url", "message": exc.reason}],
        ) from exc


def _found(webhook_id: str) -> Subscription:
    sub = store().get(webhook_id)
    if sub is None:
        raise ProblemError(404, "not-found", "Not Found", f"no webhook with id {webhook_id!r}")
    return sub


def _dedupe(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


_COMMON = {401: Problem, 403: Problem}


@bp.post("/webhooks")
@operation(
    "Subscribe an endpoint; the signing secret is in the answer, and only there",
    roles=("admin",),
    body=WebhookIn,
    responses={201: WebhookCreated, 415: Problem, 422: Problem, **_COMMON},
    tags=("webhooks",),
    description="The URL is checked as deliveries will be: its host is resolved and every "
    "address must be public (not loopback, private, link-local, CGNAT, multicast, "
    "metadata...) unless MODERATION_WEBHOOK_ALLOW_NETS names it; a refusal is a 422 of "
    "type webhook-destination-refused naming the reason. Audited.",
)
def create_webhook(*, caller: Caller, body: WebhookIn) -> Any:
    _check_url(body.url)
    now = iso(utcnow())
    sub = Subscription(
        id=f"wh_{secrets.token_hex(8)}",
        url=body.url,
        events=_dedupe(list(body.events)),
        article_ids=_dedupe(body.article_ids),
        rule_tags=_dedupe(body.rule_tags),
        active=body.active,
        description=body.description,
        include_text=body.include_text,
        created_at=now,
        updated_at=now,
        created_by=caller.key_id,
        secret=new_secret(),
    )
    store().create(sub, actor=caller.key_id, role=caller.role)
    out = WebhookCreated(**WebhookOut.of(sub, 0).model_dump(), secret=sub.secret)
    return out, 201, {"Location": f"/v1/webhooks/{sub.id}"}


@bp.get("/webhooks")
@operation(
    "Every subscription (without secrets)",
    roles=("admin",),
    responses={200: WebhookList, **_COMMON},
    tags=("webhooks",),
)
def list_webhooks(*, caller: Caller) -> Any:
    st = store()
    return WebhookList(items=[WebhookOut.of(s, st.consecutive_failures(s.id)) for s in st.all()])


@bp.get("/webhooks/<webhook_id>")
@operation(
    "One subscription (without its secret)",
    roles=("admin",),
    responses={200: WebhookOut, 404: Problem, **_COMMON},
    tags=("webhooks",),
)
def get_webhook(webhook_id: str, *, caller: Caller) -> Any:
    return WebhookOut.of(_found(webhook_id), store().consecutive_failures(webhook_id))


@bp.patch("/webhooks/<webhook_id>")
@operation(
    "Change a subscription; `active: true` re-enables a disabled one",
    roles=("admin",),
    body=WebhookPatch,
    responses={200: WebhookOut, 404: Problem, 415: Problem, 422: Problem, **_COMMON},
    tags=("webhooks",),
    description="Only the fields given change. A new URL is checked as on creation. Audited.",
)
def patch_webhook(webhook_id: str, *, caller: Caller, body: WebhookPatch) -> Any:
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if "url" in changes:
        _check_url(changes["url"])
    for name in ("events", "article_ids", "rule_tags"):
        if name in changes:
            changes[name] = _dedupe(changes[name])
    reenable = changes.get("active") is True

    def change(old: Subscription) -> Subscription:
        update = {**changes, "updated_at": iso(utcnow())}
        if reenable:
            update["disabled_reason"] = None
        return old.model_copy(update=update)

    done = store().replace(
        webhook_id,
        change,
        action="webhook.update",
        actor=caller.key_id,
        role=caller.role,
        reset_failures=reenable,
    )
    if done is None:
        _found(webhook_id)
        raise AssertionError("unreachable")
    return WebhookOut.of(done[1], store().consecutive_failures(webhook_id))


@bp.delete("/webhooks/<webhook_id>")
@operation(
    "Delete a subscription; its unfinished deliveries are dropped",
    roles=("admin",),
    responses={204: None, 404: Problem, **_COMMON},
    tags=("webhooks",),
)
def delete_webhook(webhook_id: str, *, caller: Caller) -> Any:
    if store().delete(webhook_id, actor=caller.key_id, role=caller.role) is None:
        _found(webhook_id)
    return Response(status=204)


@bp.post("/webhooks/<webhook_id>/rotate-secret")
@operation(
    "New signing secret, shown once; the old one keeps signing for a grace period",
    roles=("admin",),
    query=RotateQuery,
    responses={200: SecretRotated, 404: Problem, 422: Problem, **_COMMON},
    tags=("webhooks",),
    description="During the grace period every delivery carries two signatures in "
    "webhook-signature (new and old), so the receiver can switch at its own pace. Audited.",
)
def rotate_secret(webhook_id: str, *, caller: Caller, query: RotateQuery) -> Any:
    grace = (
        query.grace_s if query.grace_s is not None else services().settings.webhook_secret_grace_s
    )
    fresh = new_secret()
    now = datetime.now(UTC)
    expires = now + timedelta(seconds=grace)

    def change(old: Subscription) -> Subscription:
        return old.model_copy(
            update={
                "secret": fresh,
                "previous_secret": old.secret if grace else None,
                "previous_secret_expires_at": iso(expires) if grace else None,
                "previous_secret_expires_ms": epoch_ms(expires) if grace else 0,
                "updated_at": iso(now),
            }
        )

    done = store().replace(
        webhook_id, change, action="webhook.rotate_secret", actor=caller.key_id, role=caller.role
    )
    if done is None:
        _found(webhook_id)
    return SecretRotated(
        id=webhook_id, secret=fresh, previous_secret_expires_at=iso(expires) if grace else None
    )


@bp.get("/webhooks/<webhook_id>/deliveries")
@operation(
    "Recent deliveries, newest first, with every attempt (time, status code, latency, error)",
    roles=("admin",),
    query=DeliveriesQuery,
    responses={200: DeliveryList, 404: Problem, 422: Problem, **_COMMON},
    tags=("webhooks",),
)
def list_deliveries(webhook_id: str, *, caller: Caller, query: DeliveriesQuery) -> Any:
    _found(webhook_id)
    found = store().deliveries(webhook_id, limit=query.limit, status=query.status)
    return DeliveryList(items=[DeliveryOut.of(d, a) for d, a in found])


@bp.post("/webhooks/<webhook_id>/deliveries/<delivery_id>/redeliver")
@operation(
    "Send a delivery again (a dead-lettered one, say), with the same webhook-id",
    roles=("admin",),
    responses={202: Queued, 404: Problem, 409: Problem, **_COMMON},
    tags=("webhooks",),
    description="Starts a new series of attempts on the retry schedule. Audited.",
)
def redeliver(webhook_id: str, delivery_id: str, *, caller: Caller) -> Any:
    sub = _found(webhook_id)
    st = store()
    current = st.get_delivery(delivery_id)
    if current is None or current.webhook_id != webhook_id:
        raise ProblemError(
            404, "not-found", "Not Found", f"no delivery {delivery_id!r} for webhook {webhook_id!r}"
        )
    if not sub.active:
        raise ProblemError(
            409,
            "webhook-disabled",
            "Conflict",
            'the endpoint is disabled; re-enable it with PATCH {"active": true} first',
        )
    lease_ms = int(services().settings.webhook_lease_s * 1000)
    done = st.redeliver(delivery_id, epoch_ms(utcnow()) + lease_ms)
    assert done is not None
    st.record_audit(
        "webhook.redeliver", webhook_id, actor=caller.key_id, role=caller.role, reason=delivery_id
    )
    _send()(delivery_id)
    return Queued(delivery_id=delivery_id, status="pending"), 202


@bp.post("/webhooks/<webhook_id>/test")
@operation(
    "Send a signed test event (`webhook.ping`) to the endpoint",
    roles=("admin",),
    responses={202: Queued, 404: Problem, **_COMMON},
    tags=("webhooks",),
    description="Delivered like any event, also to a disabled endpoint (to check it before "
    "re-enabling); follow it in the deliveries list.",
)
def test_webhook(webhook_id: str, *, caller: Caller) -> Any:
    sub = _found(webhook_id)
    now = utcnow()
    event_id = f"ping_{secrets.token_hex(8)}"
    delivery = Delivery(
        id=delivery_id(sub.id, event_id, PING),
        webhook_id=sub.id,
        type=PING,
        event_id=event_id,
        payload=ping_body(sub.id, iso(now)),
        created_at=iso(now),
        created_ms=epoch_ms(now),
    )
    queue_delivery(store(), services().settings, _send(), delivery)
    return Queued(delivery_id=delivery.id, status="pending"), 202
