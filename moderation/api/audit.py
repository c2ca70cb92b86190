"""The audit trail of what people did (admins read all of it, moderators per comment and
per author), and how often moderators agreed with the machine (`/v1/stats`)."""

from __future__ import annotations

from typing import Annotated, Any

from flask import Blueprint
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from moderation.api.auth import Caller, services
from moderation.api.framework import operation
from moderation.errors import Problem
from moderation.store.agreement import Agreement, AgreementReport
from moderation.store.audit import AuditEntry

bp = Blueprint("audit", __name__, url_prefix="/v1")

# Bounded so that every id matching it is one Redis accepts (64-bit parts).
StreamId = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{1,15}-[0-9]{1,19}$"),
    AfterValidator(lambda v: "-".join(str(int(part)) for part in v.split("-"))),  # 00-0 is 0-0
]
FIRST_ID = "0-0"  # nothing is older: Redis refuses an interval ending before it


class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=50, ge=1, le=500)
    before: StreamId | None = Field(
        default=None, description="The `next_before` of the previous page: older entries."
    )


class AuditEntryOut(BaseModel):
    id: str = Field(description="Time-ordered; pass the last one as `before` for older ones.")
    action: str
    target_type: str
    target_id: str
    actor: str = Field(description="The API key id ('system' for the service itself).")
    actor_name: str
    role: str
    at: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None
    also: list[tuple[str, str]]

    @classmethod
    def of(cls, e: AuditEntry) -> AuditEntryOut:
        return cls(**e.model_dump())


class AuditPage(BaseModel):
    items: list[AuditEntryOut] = Field(description="Newest first.")
    next_before: str | None = Field(description="Pass as `before` for the next page.")


def _page(entries: list[AuditEntry], limit: int) -> AuditPage:
    return AuditPage(
        items=[AuditEntryOut.of(e) for e in entries],
        next_before=entries[-1].id if len(entries) == limit else None,
    )


@bp.get("/audit")
@operation(
    "The whole audit log, newest first",
    roles=("admin",),
    query=AuditQuery,
    responses={200: AuditPage, 422: Problem},
    tags=("audit",),
    description="Every decision, undo, bulk action, appeal, ban, rule activation and key "
    "creation: who (key id and name), when, what, before -> after, why. Append-only.",
)
def audit_log(*, caller: Caller, query: AuditQuery) -> Any:
    if query.before == FIRST_ID:
        return _page([], query.limit)
    return _page(services().audit.latest(query.limit, query.before), query.limit)


@bp.get("/comments/<comment_id>/audit")
@operation(
    "What people did to one comment, newest first",
    roles=("moderator",),
    query=AuditQuery,
    responses={200: AuditPage, 422: Problem},
    tags=("audit",),
)
def comment_audit(comment_id: str, *, caller: Caller, query: AuditQuery) -> Any:
    if query.before == FIRST_ID:
        return _page([], query.limit)
    entries = services().audit.about("comment", comment_id, query.limit, query.before)
    return _page(entries, query.limit)


@bp.get("/authors/<author_id>/audit")
@operation(
    "What people did to one author and their comments, newest first",
    roles=("moderator",),
    query=AuditQuery,
    responses={200: AuditPage, 422: Problem},
    tags=("audit",),
)
def author_audit(author_id: str, *, caller: Caller, query: AuditQuery) -> Any:
    if query.before == FIRST_ID:
        return _page([], query.limit)
    entries = services().audit.about("author", author_id, query.limit, query.before)
    return _page(entries, query.limit)


@bp.get("/stats")
@operation(
    "How often moderators agreed with the machine, per label and per rule",
    roles=("moderator",),
    responses={200: AgreementReport},
    tags=("audit",),
    description="Counts the decisions in force (an undone decision is taken back; a "
    "decision on appeal replaces the one appealed): machine flags confirmed (rejected) or "
    "overturned (approved), machine rejections confirmed or overturned, approvals a "
    "moderator overturned, appeals granted or denied. `flag_precision` is the share of "
    "ruled-on flags that moderators confirmed: tune a label's threshold from it.",
)
def agreement_stats(*, caller: Caller) -> Any:
    svc = services()
    return Agreement(svc.redis, svc.keys).report()
