"""/docs: Swagger UI over the service's own OpenAPI document, from local assets only (the
context fixture fails the test on any request off 127.0.0.1)."""

from __future__ import annotations

from e2e_support import REPORTS
from playwright.sync_api import Page


def test_try_it_page_renders_every_operation(page: Page, live_server: str) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/docs")
    page.wait_for_selector(".opblock", timeout=20_000)
    spec = page.request.get(f"{live_server}/openapi.json").json()
    operations = sum(len(methods) for methods in spec["paths"].values())
    assert page.locator(".opblock").count() == operations
    # Swagger UI's element id: tag, then the operationId.
    post = page.locator("#operations-comments-post_v1_comments")
    post.locator(".opblock-summary").click()
    # The example request body from the OpenAPI document is what "try it" starts from.
    post.get_by_text("turkey-recalls-ambassador").first.wait_for()
    page.screenshot(path=str(REPORTS / "docs.png"), full_page=False)
    assert errors == []
