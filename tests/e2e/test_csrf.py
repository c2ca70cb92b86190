"""Requests from the signed-in browser that lack this session's CSRF token are refused and
change nothing."""

from __future__ import annotations

import pytest
from e2e_support import Seeder, open_queue
from playwright.sync_api import Page, expect


@pytest.mark.parametrize("token", [None, "", "0" * 64], ids=["no-token", "empty", "wrong"])
def test_a_decision_without_the_token_is_refused(
    moderator: Page, seeder: Seeder, token: str | None
) -> None:
    comment = seeder.flagged("You people are all the same.")
    open_queue(moderator, article=comment.article_id)
    form = {"decision": "reject", "reason": "Insult or personal attack", "revision": "1"}
    if token is not None:
        form["csrf_token"] = token
    # The browser's own cookies go along, as with a forged cross-site form.
    resp = moderator.request.post(f"/moderate/items/{comment.id}/decision", form=form)
    assert resp.status == 403
    assert seeder.status(comment.id) == "flagged"
    headers = {"X-CSRF-Token": token} if token else {}
    resp = moderator.request.post(
        "/moderate/bulk", form={"ids": comment.id, "decision": "reject"}, headers=headers
    )
    assert resp.status == 403
    assert seeder.status(comment.id) == "flagged"


def test_sign_out_without_the_token_keeps_the_session(moderator: Page) -> None:
    resp = moderator.request.post("/moderate/sign-out", form={})
    assert resp.status == 403
    moderator.goto("/moderate/")
    expect(moderator.locator(".topbar .who")).to_contain_text("Signed in as")


def test_the_page_token_works_and_is_bound_to_the_session(moderator: Page, seeder: Seeder) -> None:
    comment = seeder.flagged("Go back to where you came from.")
    open_queue(moderator, article=comment.article_id)
    token = moderator.locator('meta[name="csrf-token"]').get_attribute("content")
    assert token
    resp = moderator.request.post(
        f"/moderate/items/{comment.id}/decision",
        form={"decision": "reject", "reason": "Hate", "revision": "1", "csrf_token": token},
        headers={"X-Requested-With": "fetch"},
    )
    assert resp.status == 200
    assert resp.json()["status"] == "rejected"
    assert seeder.status(comment.id) == "rejected"
