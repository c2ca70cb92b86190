"""Signing in and out of the moderator page, and what protects the session."""

from __future__ import annotations

from playwright.sync_api import BrowserContext, Page, expect
from support import ADMIN_KEY, MODERATOR_KEY, SITE_KEY


def test_the_queue_asks_for_a_key_first(page: Page) -> None:
    page.goto("/moderate/?status=rejected")
    expect(page).to_have_url("/moderate/sign-in?next=/moderate/?status%3Drejected")
    expect(page.locator("h1")).to_have_text("Sign in to moderate")


def test_a_site_key_cannot_sign_in(page: Page, context: BrowserContext) -> None:
    page.goto("/moderate/sign-in")
    page.fill("#key", SITE_KEY)
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#signin-error")).to_have_text(
        "A site key cannot sign in here: moderating needs a moderator or admin key."
    )
    assert not [c for c in context.cookies() if c["name"] == "mod_session"]
    page.goto("/moderate/")
    expect(page.locator("h1")).to_have_text("Sign in to moderate")


def test_an_unknown_key_cannot_sign_in(page: Page) -> None:
    page.goto("/moderate/sign-in")
    page.fill("#key", "not-a-key-at-all")
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#signin-error")).to_have_text("That key is not valid.")


def test_a_moderator_signs_in_lands_where_they_were_going_and_signs_out(
    page: Page, context: BrowserContext
) -> None:
    page.goto("/moderate/?status=approved")
    page.fill("#key", ADMIN_KEY)
    page.click("#signin-form button[type=submit]")
    expect(page.locator(".status-tabs .tab.current")).to_contain_text("Approved")
    expect(page.locator(".topbar .who")).to_contain_text("(admin)")

    (cookie,) = [c for c in context.cookies() if c["name"] == "mod_session"]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/moderate"
    assert cookie["secure"] is False  # plain http on 127.0.0.1; Secure behind TLS

    page.click("#sign-out")
    expect(page.locator("h1")).to_have_text("Sign in to moderate")
    # The old cookie is dead on the server too, not only forgotten by this browser.
    context.add_cookies([{**cookie}])
    page.goto("/moderate/")
    expect(page.locator("h1")).to_have_text("Sign in to moderate")


def test_sign_in_does_not_redirect_off_the_page(page: Page) -> None:
    page.goto("/moderate/sign-in?next=https://evil.example/")
    page.fill("#key", MODERATOR_KEY)
    page.click("#signin-form button[type=submit]")
    expect(page).to_have_url("/moderate/")
    expect(page.locator(".status-tabs .tab.current")).to_contain_text("Flagged")


def test_pages_forbid_framing_and_inline_script(moderator: Page) -> None:
    response = moderator.goto("/moderate/")
    assert response is not None
    headers = response.headers
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["x-frame-options"] == "DENY"
    assert headers["cache-control"] == "no-store"
    inline = moderator.evaluate(
        "Array.from(document.scripts).filter(s => !s.src || s.textContent.trim()).length"
    )
    assert inline == 0
