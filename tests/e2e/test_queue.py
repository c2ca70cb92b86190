"""A moderator works the queue in the browser; the site sees each decision through the API."""

from __future__ import annotations

import uuid

from e2e_support import REPORTS, Seeder, current_item_id, open_queue, wait_ready
from playwright.sync_api import Page, expect


def _article() -> str:
    return f"article-{uuid.uuid4().hex[:8]}"


def test_filters_narrow_the_queue_and_counts_follow(moderator: Page, seeder: Seeder) -> None:
    article = _article()
    mine = [
        seeder.flagged(f"comment {i} by the one to watch", article_id=article, author_id="watched")
        for i in range(3)
    ]
    others = [
        seeder.flagged(f"comment {i} by someone else", article_id=article, author_id="other")
        for i in range(2)
    ]
    open_queue(moderator, article=article)
    expect(moderator.locator("#rows > li.row")).to_have_count(5)
    expect(moderator.locator("#f-article option:checked")).to_have_text(f"{article} (5)")

    moderator.fill("#f-author", "watched")
    moderator.click("#apply-filters")
    wait_ready(moderator)
    rows = moderator.locator("#rows > li.row")
    expect(rows).to_have_count(3)
    assert {rows.nth(i).get_attribute("data-id") for i in range(3)} == {c.id for c in mine}
    expect(moderator.locator("#total")).to_have_text("3 flagged comments matching the filters")

    moderator.select_option("#f-sort", "age")
    moderator.click("#apply-filters")
    wait_ready(moderator)
    assert [rows.nth(i).get_attribute("data-id") for i in range(3)] == [c.id for c in mine]

    open_queue(moderator, article=article, min_score="0.95")
    expect(moderator.locator("#empty")).to_contain_text("Nothing here")
    assert others  # still flagged, just filtered out


def test_keyboard_approve_reject_and_undo_reach_the_api(moderator: Page, seeder: Seeder) -> None:
    article = _article()
    first, second, third = (
        seeder.flagged(text, article_id=article, author_id=f"reader-{i}")
        for i, text in enumerate(
            ["Fine, if blunt.", "You are an idiot and a liar.", "People like you should leave."]
        )
    )
    open_queue(moderator, article=article, sort="age")
    assert current_item_id(moderator) == first.id

    moderator.keyboard.press("a")
    expect(moderator.locator(f"li.row[data-id='{first.id}'] .badge.status")).to_have_text(
        "approved"
    )
    # The next undecided comment loads in place, with no page load.
    expect(moderator.locator("#item")).to_have_attribute("data-id", second.id)
    assert seeder.status(first.id) == "approved"

    moderator.keyboard.press("2")  # second common reason
    moderator.keyboard.press("r")
    expect(moderator.locator("#item")).to_have_attribute("data-id", third.id)
    assert seeder.status(second.id) == "rejected"
    reason = seeder.api.get(f"/v1/comments/{second.id}").json()["verdict"]["decision"]["reason"]
    assert reason == "Threat of violence"

    moderator.keyboard.press("u")
    expect(moderator.locator("#item")).to_have_attribute("data-id", second.id)
    expect(moderator.locator(f"li.row[data-id='{second.id}'] .badge.status")).to_have_text(
        "flagged"
    )
    assert seeder.status(second.id) == "flagged"

    moderator.keyboard.press("j")
    expect(moderator.locator("#item")).to_have_attribute("data-id", third.id)
    moderator.keyboard.press("k")
    expect(moderator.locator("#item")).to_have_attribute("data-id", second.id)
    moderator.reload()
    wait_ready(moderator)
    # What was decided has left the flagged queue; the undone one is back in it.
    ids = moderator.locator("#rows > li.row").evaluate_all("rows => rows.map(r => r.dataset.id)")
    assert ids == [second.id, third.id]


def test_bulk_reject_decides_what_was_picked_only(moderator: Page, seeder: Seeder) -> None:
    article = _article()
    spam = [
        seeder.flagged(f"Buy now http://spam.example/{i}", article_id=article, author_id="spammer")
        for i in range(4)
    ]
    keep = seeder.flagged("A fair point about the ambassador.", article_id=article)
    open_queue(moderator, article=article, sort="age")
    for c in spam:
        moderator.check(f"li.row[data-id='{c.id}'] input.pick")
    expect(moderator.locator("#selected-count")).to_have_text("4 selected")
    moderator.select_option("#bulk-reason", "Spam or advertising")
    moderator.click("#bulk-reject")
    wait_ready(moderator)
    expect(moderator.locator("#notice")).to_have_text("rejected 4, skipped 0")
    assert [seeder.status(c.id) for c in spam] == ["rejected"] * 4
    assert seeder.status(keep.id) == "flagged"
    expect(moderator.locator("#rows > li.row")).to_have_count(1)


def test_ban_asks_for_a_reason_and_shows_the_standing(moderator: Page, seeder: Seeder) -> None:
    article = _article()
    author = f"troll-{uuid.uuid4().hex[:6]}"
    seeder.flagged("I know where you live.", article_id=article, author_id=author)
    open_queue(moderator, article=article)
    moderator.keyboard.press("b")
    expect(moderator.locator("#ban-dialog")).to_be_visible()
    expect(moderator.locator("#ban-author")).to_have_text(author)
    moderator.fill("#ban-reason", "threats against other readers")
    moderator.click("#ban-confirm")
    expect(moderator.locator("#author-standing")).to_have_text("banned")
    profile = seeder.moderator_api.get(f"/v1/authors/{author}").json()
    assert profile["banned"] is True


def test_help_lists_the_keys(moderator: Page) -> None:
    moderator.keyboard.press("?")
    expect(moderator.locator("#help-dialog")).to_be_visible()
    expect(moderator.locator("#help-dialog")).to_contain_text("undo your last decision")
    moderator.keyboard.press("Escape")
    expect(moderator.locator("#help-dialog")).to_be_hidden()


def test_screenshots_of_the_queue_and_of_an_item(moderator: Page, seeder: Seeder) -> None:
    article = "news-2023-11-04-turkey-recalls-ambassador"
    samples = [
        (
            "reader-x17",
            "You are a complete idiot if you believe a word Netanyahu says, moron.",
            {"toxicity": 0.94, "insult": 0.88, "obscene": 0.31, "threat": 0.02},
        ),
        (
            "reader-k9",
            "People like you should be shot. I know where you live.",
            {"toxicity": 0.81, "threat": 0.77, "insult": 0.24, "severe_toxicity": 0.12},
        ),
        (
            "reader-zz",
            "They are animals, all of them, and should be wiped off the map.",
            {"toxicity": 0.86, "identity_attack": 0.69, "insult": 0.58, "threat": 0.35},
        ),
        (
            "reader-omar",
            "As a Muslim I want both Israeli and Palestinian civilians to be safe. Ceasefire now.",
            {"toxicity": 0.41, "identity_attack": 0.38, "insult": 0.03},
        ),
    ]
    for author, text, scores in samples:
        words = [
            w for w in ("idiot", "moron", "shot", "animals", "wiped off", "Muslim") if w in text
        ]
        spans = [(text.index(w), text.index(w) + len(w)) for w in words]
        seeder.flagged(
            text,
            article_id=article,
            author_id=author,
            scores=scores,
            model_spans=spans,
            rule_spans=spans[:1],
        )
    open_queue(moderator, article=article, sort="age")
    moderator.screenshot(path=REPORTS / "moderator-queue.png")
    moderator.locator("#detail").screenshot(path=REPORTS / "moderator-item.png")
    expect(moderator.locator("#item-text mark.hl-rule").first).to_have_text("idiot")


def test_a_comment_edited_meanwhile_is_not_decided_unseen(moderator: Page, seeder: Seeder) -> None:
    comment = seeder.flagged("You are a disgrace.", article_id=_article())
    open_queue(moderator, article=comment.article_id)
    edited = seeder.api.put(f"/v1/comments/{comment.id}", json={"text": "You are mistaken."})
    assert edited.status_code == 202
    moderator.keyboard.press("r")
    expect(moderator.locator("#toast")).to_contain_text("revision 1 is no longer current")
    body = seeder.api.get(f"/v1/comments/{comment.id}").json()
    assert (body["status"], body["revision"]) == ("pending", 2)


def test_a_comment_claimed_by_another_moderator_says_so(moderator: Page, seeder: Seeder) -> None:
    comment = seeder.flagged("Nobody asked you.", article_id=_article())
    other = seeder.admin_api.post(f"/v1/review/{comment.id}/claim")
    assert other.status_code == 200, other.text
    open_queue(moderator, article=comment.article_id)
    expect(moderator.locator("#item-claim")).to_contain_text("claimed by")
    moderator.keyboard.press("a")
    expect(moderator.locator("#toast")).to_contain_text("is claimed by")
    assert seeder.status(comment.id) == "flagged"
