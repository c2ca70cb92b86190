"""Rules administration: read the active ruleset, validate a candidate, activate one
through the API (picked up by running workers within a second), revert to the files on
disk, and the audit trail of who changed what."""

from __future__ import annotations

import threading
from typing import Any

import structlog
from flask import Blueprint, Response, current_app, request
from pydantic import BaseModel, ConfigDict, Field
from werkzeug.exceptions import RequestEntityTooLarge

from moderation.api.auth import Caller, services
from moderation.api.framework import operation
from moderation.api.schemas_rules import (
    MAX_RULES_REQUEST_BYTES,
    Activation,
    ActivationOut,
    ActiveRulesetOut,
    AuditEntryOut,
    AuditList,
    AuditQuery,
    IssueOut,
    RuleDetail,
    RuleSummary,
    ThresholdOut,
    ValidationReport,
)
from moderation.errors import Problem, ProblemError, problem_response
from moderation.ruleset import RulesetError
from moderation.ruleset.active import ActiveRuleset, check_bundle
from moderation.ruleset.engine import CompiledRule
from moderation.ruleset.reload import RulesetHolder
from moderation.store.rulesets import RulesetStore

bp = Blueprint("rules", __name__, url_prefix="/v1")
log = structlog.get_logger(__name__)
_build_lock = threading.Lock()
_EXTENSION = "moderation.rules"


@bp.before_request
def _allow_rule_bundles() -> None:
    # A ruleset with its word lists outgrows the limit meant for comments; raise the limit
    # for these endpoints only. The body is read after authentication, so an anonymous
    # client still cannot make the API read a large body.
    request.max_content_length = MAX_RULES_REQUEST_BYTES


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(exc: RequestEntityTooLarge) -> Response:
    return problem_response(
        Problem(
            type="urn:moderation:problem:payload-too-large",
            title="Content Too Large",
            status=413,
            detail=f"request body is larger than {MAX_RULES_REQUEST_BYTES} bytes",
        )
    )


def rule_store() -> RulesetStore:
    svc = services()
    return RulesetStore(svc.redis, svc.keys)


def active_rules() -> ActiveRuleset:
    """One per API process, built on first use so that create_app stays free of I/O."""
    found: ActiveRuleset | None = current_app.extensions.get(_EXTENSION)
    if found is not None:
        return found
    with _build_lock:
        found = current_app.extensions.get(_EXTENSION)
        if found is None:
            settings = services().settings
            try:
                holder = RulesetHolder(settings.rules_dirs)
            except RulesetError as exc:
                raise ProblemError(
                    503,
                    "rules-unavailable",
                    "Service Unavailable",
                    f"the rule files on disk do not load: {exc}",
                ) from exc
            found = ActiveRuleset(holder, rule_store())
            current_app.extensions[_EXTENSION] = found
        return found


def _fresh() -> ActiveRuleset:
    active = active_rules()
    # Answer with what is active now, not up to a second ago (a PUT just before, say).
    active.check()
    return active


def _summary(active: ActiveRuleset, compiled: CompiledRule) -> dict[str, Any]:
    rule = compiled.rule
    return {
        "id": rule.id,
        "description": rule.description,
        "action": rule.action,
        "priority": rule.priority,
        "mode": rule.mode,
        "tags": list(rule.tags),
        "notify": list(rule.notify),
        "message": rule.message,
        "file": active.display_name(compiled.where.file),
        "line": compiled.where.line,
    }


def _not_found(rule_id: str) -> ProblemError:
    return ProblemError(
        404, "not-found", "Not Found", f"no rule with id {rule_id!r} in the active ruleset"
    )


@bp.get("/rules")
@operation(
    "The active ruleset: version, source, rules and thresholds",
    roles=("moderator",),
    responses={200: ActiveRulesetOut, 503: Problem},
    tags=("rules",),
)
def list_rules(*, caller: Caller) -> Any:
    active = _fresh()
    ruleset = active.current()
    stored = rule_store().active() if active.source == "api" else None
    if stored is not None and stored.version != active.bundle_version:
        stored = None  # replaced meanwhile; do not attribute this ruleset to that activation
    return ActiveRulesetOut(
        version=ruleset.version,
        source=active.source,
        last_error=active.last_error,
        activated_by=stored.activated_by if stored else None,
        activated_at=stored.activated_at if stored else None,
        comment=stored.comment if stored else None,
        rules=[RuleSummary(**_summary(active, r)) for r in ruleset.rules],
        thresholds=[
            ThresholdOut(
                label=t.label,
                flag=t.flag,
                reject=t.reject,
                file=active.display_name(t.where.file),
                line=t.where.line,
            )
            for t in ruleset.thresholds
        ],
    )


@bp.get("/rules/<rule_id>")
@operation(
    "One rule of the active ruleset, with its condition and examples",
    roles=("moderator",),
    responses={200: RuleDetail, 404: Problem},
    tags=("rules",),
)
def get_rule(rule_id: str, *, caller: Caller) -> Any:
    active = _fresh()
    compiled = active.current().rule(rule_id)
    if compiled is None:
        raise _not_found(rule_id)
    rule = compiled.rule
    return RuleDetail(
        **_summary(active, compiled),
        condition=rule.condition.model_dump(mode="json", by_alias=True, exclude_none=True),
        examples=rule.examples.model_dump(mode="json", by_alias=True, exclude_none=True),
    )


@bp.post("/rules/validate")
@operation(
    "Validate a candidate ruleset without activating it",
    roles=("admin",),
    body=Activation,
    responses={200: ValidationReport, 413: Problem, 415: Problem, 422: Problem},
    tags=("rules",),
    description="Runs what `moderation rules check` and `moderation rules test` run: schema, "
    "unknown fields, duplicate ids, unknown lists, invalid patterns, unreachable rules and "
    "every rule's examples. An invalid candidate is still a 200 with `valid: false`. "
    "Takes the body of PUT /v1/ruleset (`comment` is ignored here).",
)
def validate_rules(*, caller: Caller, body: Activation) -> Any:
    report = check_bundle(body.files)
    return ValidationReport(
        valid=report.valid,
        version=report.version,
        rule_count=report.rule_count,
        issues=[IssueOut.of(i) for i in report.issues],
    )


@bp.put("/ruleset")
@operation(
    "Activate a ruleset: every worker uses it within about a second",
    roles=("admin",),
    body=Activation,
    responses={200: ActivationOut, 413: Problem, 415: Problem, 422: Problem, 503: Problem},
    tags=("rules",),
    description="The bundle is checked as by /v1/rules/validate; an invalid one is a 422 "
    "listing file, line and reason in `errors`, and nothing changes. A valid one replaces "
    "every rules directory (it is not layered over them) until DELETE /v1/ruleset.",
)
def activate_ruleset(*, caller: Caller, body: Activation) -> Any:
    report = check_bundle(body.files)
    if not report.valid:
        errors = report.errors
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ProblemError(
            422,
            "invalid-ruleset",
            "Unprocessable Content",
            f"ruleset refused, nothing changed: {errors[0]}{more}",
            errors=[IssueOut.of(i).model_dump() for i in errors],
        )
    assert report.version is not None  # valid
    active = active_rules()
    change = rule_store().activate(
        report.version,
        body.files,
        actor=caller.key_id,
        role=caller.role,
        comment=body.comment,
        files_version=active.files.version,
        actor_name=caller.name,
    )
    active.check()
    log.info(
        "rules.activated",
        ruleset_version=report.version,
        previous_version=change.old_version,
        actor=caller.key_id,
    )
    return ActivationOut(
        version=report.version,
        source="api",
        previous_version=change.old_version,
        previous_source=change.old_source,
        changed=True,
        at=change.at,
        warnings=[IssueOut.of(i) for i in report.issues if i.severity == "warning"],
    )


class RevertQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str = Field(default="", max_length=1000, description="Why; kept in the audit.")


@bp.delete("/ruleset")
@operation(
    "Revert to the rule files on disk",
    roles=("admin",),
    query=RevertQuery,
    responses={200: ActivationOut, 422: Problem, 503: Problem},
    tags=("rules",),
    description="Audited. Safe to repeat: when no ruleset is active through the API, "
    "nothing changes and `changed` is false.",
)
def revert_ruleset(*, caller: Caller, query: RevertQuery) -> Any:
    active = active_rules()
    files = active.files.current()
    change = rule_store().revert(
        actor=caller.key_id,
        role=caller.role,
        comment=query.comment,
        files_version=files.version,
        actor_name=caller.name,
    )
    active.check()
    if change.changed:
        log.info(
            "rules.reverted",
            ruleset_version=files.version,
            previous_version=change.old_version,
            actor=caller.key_id,
        )
    return ActivationOut(
        version=files.version,
        source="files",
        previous_version=change.old_version,
        previous_source=change.old_source,
        changed=change.changed,
        at=change.at,
    )


@bp.get("/ruleset/audit")
@operation(
    "Who activated or reverted which ruleset, newest first",
    roles=("moderator",),
    query=AuditQuery,
    responses={200: AuditList, 422: Problem},
    tags=("rules",),
)
def ruleset_audit(*, caller: Caller, query: AuditQuery) -> Any:
    return AuditList(items=[AuditEntryOut(**vars(e)) for e in rule_store().audit(query.limit)])
