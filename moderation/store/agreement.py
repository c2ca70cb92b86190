"""How often moderators agree with the machine, per label and per rule: counters kept in
the decision's own transaction, so `GET /v1/stats` reads one hash instead of scanning
comments.

A decision is compared with the machine verdict it judged (flagged -> approved is an
overturned flag, flagged -> rejected a confirmed one, rejected -> approved an overturned
rejection, on appeal or not). Each comment records which counters its decision added
(field `agreement`), so that a later decision on the same revision (a decision on appeal,
a change of mind) replaces its contribution and an undo takes it back: the counters always
describe the decisions in force, one per decided revision."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import redis
from pydantic import BaseModel

from moderation.domain.verdict import DecidedBy, Status, Verdict
from moderation.store.keys import Keys

OUTCOMES = {
    (Status.FLAGGED, Status.APPROVED): "flag_overturned",
    (Status.FLAGGED, Status.REJECTED): "flag_confirmed",
    (Status.REJECTED, Status.APPROVED): "rejection_overturned",
    (Status.REJECTED, Status.REJECTED): "rejection_confirmed",
    (Status.APPROVED, Status.APPROVED): "approval_confirmed",
    (Status.APPROVED, Status.REJECTED): "approval_overturned",
}
APPEAL_OUTCOMES = {Status.APPROVED: "appeal_granted", Status.REJECTED: "appeal_denied"}
_MACHINE = (DecidedBy.MODEL, DecidedBy.RULES)


class Outcomes(BaseModel):
    flag_confirmed: int = 0
    flag_overturned: int = 0
    rejection_confirmed: int = 0
    rejection_overturned: int = 0
    approval_confirmed: int = 0
    approval_overturned: int = 0
    appeal_granted: int = 0
    appeal_denied: int = 0
    flag_precision: float | None = None
    rejection_precision: float | None = None

    def finish(self) -> Outcomes:
        """Precision: of the machine's flags (rejections) a moderator ruled on, the share
        they confirmed; None before any was ruled on."""
        flags = self.flag_confirmed + self.flag_overturned
        rejections = self.rejection_confirmed + self.rejection_overturned
        return self.model_copy(
            update={
                "flag_precision": round(self.flag_confirmed / flags, 4) if flags else None,
                "rejection_precision": (
                    round(self.rejection_confirmed / rejections, 4) if rejections else None
                ),
            }
        )


class AgreementReport(BaseModel):
    overall: Outcomes
    labels: dict[str, Outcomes]
    rules: dict[str, Outcomes]


def _fields(machine: str, labels: list[str], rules: list[str], outcome: str) -> list[str]:
    del machine  # part of the record, not of the counter names
    return [
        f"all||{outcome}",
        *(f"label|{name}|{outcome}" for name in labels),
        *(f"rule|{name}|{outcome}" for name in rules),
    ]


class Agreement:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.r: Any = client
        self.keys = keys

    # -- inside the comment store's MULTI ---------------------------------------------------

    def on_decide(
        self,
        pipe: Any,
        *,
        prior: str | None,
        status_before: Status,
        verdict: Verdict | None,
        revision: int,
        decision: Status,
    ) -> str:
        """Count a decision on `revision`; returns the record to keep on the comment."""
        old: dict[str, Any] | None = json.loads(prior) if prior else None
        if old is not None and old.get("revision") != revision:
            old = None  # an earlier revision's decision stands as it was counted
        if old is not None:
            self._add(pipe, old["fields"], -1)
        if verdict is not None and verdict.decided_by in _MACHINE:
            machine = verdict.status.value
            labels, rules = verdict.labels_over_threshold(), verdict.rule_ids()
        elif old is not None:
            machine, labels, rules = old["machine"], old["labels"], old["rules"]
        else:
            return ""  # nothing the machine said about this revision to compare with
        outcome = OUTCOMES.get((Status(machine), decision))
        if outcome is None:
            return ""
        fields = _fields(machine, labels, rules, outcome)
        if status_before is Status.APPEALED:
            fields.append(f"all||{APPEAL_OUTCOMES[decision]}")
            fields += [f"label|{n}|{APPEAL_OUTCOMES[decision]}" for n in labels]
            fields += [f"rule|{n}|{APPEAL_OUTCOMES[decision]}" for n in rules]
        self._add(pipe, fields, 1)
        record = {
            "revision": revision,
            "machine": machine,
            "labels": labels,
            "rules": rules,
            "fields": fields,
        }
        return json.dumps(record)

    def on_undo(self, pipe: Any, *, current: str | None, restored: str | None) -> str:
        """Take back the undone decision's counters and give back those it had replaced."""
        cur = json.loads(current) if current else None
        if cur is not None:
            self._add(pipe, cur["fields"], -1)
        old = json.loads(restored) if restored else None
        if old is not None and cur is not None and old.get("revision") == cur.get("revision"):
            self._add(pipe, old["fields"], 1)
            return restored or ""
        return ""

    def _add(self, pipe: Any, fields: list[str], delta: int) -> None:
        for field in fields:
            pipe.hincrby(self.keys.agreement_stats(), field, delta)

    # -- reading ----------------------------------------------------------------------------

    def report(self) -> AgreementReport:
        raw: dict[str, str] = self.r.hgetall(self.keys.agreement_stats())
        overall: dict[str, int] = {}
        labels: dict[str, dict[str, int]] = defaultdict(dict)
        rules: dict[str, dict[str, int]] = defaultdict(dict)
        for field, value in raw.items():
            scope, rest = field.split("|", 1)
            name, outcome = rest.rsplit("|", 1)
            if outcome not in Outcomes.model_fields:
                continue
            target = overall if scope == "all" else (labels if scope == "label" else rules)[name]
            target[outcome] = int(value)
        return AgreementReport(
            overall=Outcomes(**overall).finish(),
            labels={k: Outcomes(**v).finish() for k, v in sorted(labels.items())},
            rules={k: Outcomes(**v).finish() for k, v in sorted(rules.items())},
        )
