"""Helpers of the browser tests: seeding flagged comments through the real API and the
store's machine-verdict write, signing in, and what the page exposes to assertions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from playwright.sync_api import Page, expect
from support import ADMIN_KEY, MODERATOR_KEY, ROOT

from moderation.domain.comment import iso, utcnow
from moderation.domain.verdict import Verdict
from moderation.services import Services
from moderation.store.comments import VerdictWrite

CHROMIUM = "/usr/bin/chromium"
REPORTS = ROOT / "reports"


@dataclass(frozen=True)
class Seeded:
    id: str
    article_id: str
    author_id: str
    text: str


def flag_verdict(
    text: str,
    *,
    scores: dict[str, float] | None = None,
    model_spans: Sequence[tuple[int, int]] = (),
    rule_spans: Sequence[tuple[int, int]] = (),
    rule_id: str = "e2e.watched-words",
) -> Verdict:
    """A machine verdict of the kind the pipeline writes: a model reason over the toxicity
    threshold and a rule that flags, each with character spans into the text."""
    scores = scores or {"toxicity": 0.91, "insult": 0.72, "threat": 0.12, "identity_attack": 0.05}
    return Verdict.model_validate(
        {
            "status": "flagged",
            "scores": scores,
            "reasons": [
                {
                    "source": "model",
                    "message": f"toxicity {scores.get('toxicity', 0.0):.2f} is over the "
                    "threshold 0.80",
                    "label": "toxicity",
                    "score": scores.get("toxicity", 0.0),
                    "threshold": 0.8,
                    "action": "flag",
                    "spans": [
                        {"start": s, "end": e, "label": "toxicity", "weight": 0.8}
                        for s, e in model_spans
                    ],
                },
                {
                    "source": "rule",
                    "message": "matched a watched word",
                    "rule_id": rule_id,
                    "action": "flag",
                    "spans": [{"start": s, "end": e} for s, e in rule_spans],
                },
            ],
            "model": {"name": "e2e-model", "version": "1"},
            "ruleset": {"version": "e2e"},
            "decided_by": "rules",
            "decided_at": iso(utcnow()),
            "revision": 1,
        }
    )


class Seeder:
    """Posts comments as the site does (POST /v1/comments over HTTP), then stores the
    machine verdict the way a worker does."""

    def __init__(self, api: httpx.Client, svc: Services) -> None:
        self.api = api
        self.svc = svc
        self.moderator_api = httpx.Client(
            base_url=str(api.base_url), headers={"Authorization": f"Bearer {MODERATOR_KEY}"}
        )
        self.admin_api = httpx.Client(
            base_url=str(api.base_url), headers={"Authorization": f"Bearer {ADMIN_KEY}"}
        )

    def close(self) -> None:
        self.moderator_api.close()
        self.admin_api.close()

    def flagged(
        self,
        text: str,
        *,
        article_id: str | None = None,
        author_id: str = "reader-1",
        verdict: Verdict | None = None,
        **verdict_args: Any,
    ) -> Seeded:
        cid = f"e2e-{uuid.uuid4().hex[:12]}"
        article_id = article_id or f"article-{uuid.uuid4().hex[:8]}"
        resp = self.api.post(
            "/v1/comments",
            json={"id": cid, "article_id": article_id, "author_id": author_id, "text": text},
        )
        assert resp.status_code == 202, resp.text
        written = self.svc.comments.write_machine_verdict(
            cid, 1, verdict or flag_verdict(text, **verdict_args)
        )
        assert written is VerdictWrite.WRITTEN
        return Seeded(cid, article_id, author_id, text)

    def status(self, comment_id: str) -> str:
        """The comment's status as the site reads it through the JSON API."""
        resp = self.api.get(f"/v1/comments/{comment_id}")
        assert resp.status_code == 200, resp.text
        status: str = resp.json()["status"]
        return status


def sign_in(page: Page, key: str = MODERATOR_KEY) -> None:
    page.goto("/moderate/")
    page.fill("#key", key)
    page.click("#signin-form button[type=submit]")
    expect(page.locator(".topbar .who")).to_contain_text("Signed in as")
    wait_ready(page)


def wait_ready(page: Page) -> None:
    """The page's script has bound its keys."""
    page.wait_for_selector("body[data-ready='1']", state="attached")


def open_queue(page: Page, **params: str) -> None:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    page.goto(f"/moderate/?{query}")
    wait_ready(page)


def current_item_id(page: Page) -> str:
    value = page.locator("#item").get_attribute("data-id")
    assert value is not None
    return value
