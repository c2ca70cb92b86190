"""Hostile comment texts, posted as a site posts them, shown to a moderator: every one reads
exactly as written, and not one line of it runs."""

from __future__ import annotations

import uuid

from e2e_support import REPORTS, Seeder, open_queue, sign_in, wait_ready
from playwright.sync_api import Dialog, Page, expect
from xss_payloads import payloads

from moderation.web.render import snippet

WATCH = """
window.__xss = 0;
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


def test_hostile_texts_render_as_text_and_never_run(page: Page, seeder: Seeder) -> None:
    texts = payloads()
    assert len(texts) >= 200
    article = f"xss-{uuid.uuid4().hex[:8]}"
    by_id: dict[str, str] = {}
    for text in texts:
        # Spans that start and end inside the markup: a highlighter that sliced escaped
        # HTML, or escaped after cutting, would break it open here.
        third = max(len(text) // 3, 1)
        seeded = seeder.flagged(
            text,
            article_id=article,
            model_spans=[(0, third * 2)],
            rule_spans=[(third, len(text))],
        )
        by_id[seeded.id] = text

    dialogs: list[str] = []
    console: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("console", lambda msg: console.append(msg.text))
    page.on("pageerror", lambda err: console.append(f"pageerror: {err}"))
    page.add_init_script(WATCH)
    sign_in(page)
    open_queue(page, article=article, sort="age")
    expect(page.locator("#total")).to_have_text(
        f"{len(texts)} flagged comments matching the filters"
    )

    seen: set[str] = set()
    pages = 0
    while True:
        pages += 1
        rows = page.locator("#rows > li.row")
        for i in range(rows.count()):
            row = rows.nth(i)
            cid = row.get_attribute("data-id")
            assert cid in by_id
            assert row.locator(".snippet").text_content() == snippet(by_id[cid])
            # Each item comes in through the script's partial load, as a moderator sees it.
            if i:
                page.keyboard.press("j")
            expect(page.locator("#item")).to_have_attribute("data-id", cid)
            assert page.locator("#item-text").text_content() == by_id[cid]
            assert page.locator("#item-text *").evaluate_all(
                "els => els.every(e => e.tagName === 'MARK')"
            )
            seen.add(cid)
        if pages == 1:
            page.screenshot(path=REPORTS / "xss-queue.png", full_page=False)
        next_link = page.locator("#next-page")
        if not next_link.count():
            break
        next_link.click()
        wait_ready(page)

    assert seen == set(by_id)
    assert page.evaluate("window.__xss") == 0
    assert page.evaluate("window.__csp") == []  # nothing even reached the CSP to be blocked
    assert dialogs == []
    assert [m for m in console if "xss" in m.lower() or "pageerror" in m] == []
