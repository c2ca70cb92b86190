"""Request and response models of the rules administration endpoints."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from moderation.domain.verdict import Action
from moderation.ruleset.active import (
    BUNDLE_NAME,
    MAX_BUNDLE_BYTES,
    MAX_BUNDLE_FILES,
    bundle_problems,
)
from moderation.ruleset.errors import Issue

# JSON escaping can make the request noticeably larger than the files it carries.
MAX_RULES_REQUEST_BYTES = 3 * MAX_BUNDLE_BYTES


class RuleBundle(BaseModel):
    """A complete ruleset, laid out like a rules directory."""

    model_config = ConfigDict(extra="forbid")

    files: dict[str, str] = Field(
        description="Relative name -> content: `NAME.yaml` / `NAME.yml` rule files and "
        f"`words/NAME.txt` word lists; at most {MAX_BUNDLE_FILES} files and "
        f"{MAX_BUNDLE_BYTES} bytes in all. Replaces every rules directory, not layered.",
        json_schema_extra={
            "propertyNames": {"pattern": BUNDLE_NAME.pattern},
            "maxProperties": MAX_BUNDLE_FILES,
        },
    )

    @field_validator("files")
    @classmethod
    def _safe(cls, files: dict[str, str]) -> dict[str, str]:
        problems = bundle_problems(files)
        if problems:
            # A custom error: pydantic would prefix a ValueError's message with "Value error, ".
            raise PydanticCustomError("bundle", "{problems}", {"problems": "; ".join(problems)})
        return files


class Activation(RuleBundle):
    comment: str = Field(default="", max_length=1000, description="Why; kept in the audit.")


class IssueOut(BaseModel):
    file: str
    line: int
    severity: Literal["error", "warning"]
    message: str

    @classmethod
    def of(cls, issue: Issue) -> IssueOut:
        return cls(file=issue.file, line=issue.line, severity=issue.severity, message=issue.message)


class ValidationReport(BaseModel):
    valid: bool
    version: str | None = Field(description="The version it would have; null when invalid.")
    rule_count: int
    issues: list[IssueOut]


class RuleSummary(BaseModel):
    id: str
    description: str
    action: Action
    priority: int
    mode: Literal["enforce", "shadow"]
    tags: list[str]
    notify: list[str]
    message: str | None
    file: str
    line: int


class RuleDetail(RuleSummary):
    condition: dict[str, Any]
    examples: dict[str, Any]


class ThresholdOut(BaseModel):
    label: str
    flag: float | None
    reject: float | None
    file: str
    line: int


class ActiveRulesetOut(BaseModel):
    version: str
    source: Literal["files", "api"]
    last_error: str | None = Field(
        description="Why the newest ruleset (edited files or an API bundle) was refused; "
        "the one shown stays active."
    )
    activated_by: str | None = None
    activated_at: str | None = None
    comment: str | None = None
    rules: list[RuleSummary]
    thresholds: list[ThresholdOut]


class ActivationOut(BaseModel):
    version: str
    source: Literal["files", "api"]
    previous_version: str
    previous_source: Literal["files", "api"]
    changed: bool
    at: str
    warnings: list[IssueOut] = Field(default_factory=list)


class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=50, ge=1, le=1000)


class AuditEntryOut(BaseModel):
    id: str
    at: str
    actor: str = Field(description="Id of the API key (a prefix of its hash).")
    role: str
    action: str = Field(description="`activate` or `revert`.")
    old_version: str
    old_source: str
    new_version: str
    comment: str


class AuditList(BaseModel):
    items: list[AuditEntryOut]
