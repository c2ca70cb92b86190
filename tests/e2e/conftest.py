"""Browser tests: the real app in a real HTTP server on 127.0.0.1, driven by Debian's
Chromium through Playwright, against the real Redis.

The app here has its own key prefix (and so its own Celery queues): comments posted by these
tests wait for verdicts the tests write themselves, and no worker started by another test
classifies them meanwhile."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from e2e_support import CHROMIUM, REPORTS, Seeder, sign_in
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Route, sync_playwright
from support import SITE_KEY, make_settings, serve

from moderation import create_app
from moderation.config import Settings
from moderation.services import Services


@pytest.fixture(scope="session")
def e2e_settings(redis_url: str, session_prefix: str) -> Settings:
    return make_settings(redis_url, f"{session_prefix}e2e:")


@pytest.fixture(scope="session")
def e2e_app(e2e_settings: Settings) -> Flask:
    return create_app(e2e_settings)


@pytest.fixture(scope="session")
def live_server(e2e_app: Flask) -> Iterator[str]:
    with serve(e2e_app) as base:
        yield base


@pytest.fixture(scope="session")
def svc(e2e_settings: Settings) -> Services:
    return Services.from_settings(e2e_settings)


@pytest.fixture(scope="session")
def site_api(live_server: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=live_server, headers={"Authorization": f"Bearer {SITE_KEY}"}, timeout=10
    ) as client:
        yield client


@pytest.fixture(scope="session")
def seeder(site_api: httpx.Client, svc: Services) -> Iterator[Seeder]:
    seeder = Seeder(site_api, svc)
    yield seeder
    seeder.close()


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make install-test` installs Debian's chromium")
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM)
    yield browser
    browser.close()


@pytest.fixture
def context(browser: Browser, live_server: str) -> Iterator[BrowserContext]:
    """A fresh browser profile per test; any request off 127.0.0.1 is refused and fails
    the test (the page must not load third-party assets)."""
    ctx = browser.new_context(base_url=live_server, viewport={"width": 1440, "height": 900})
    ctx.set_default_timeout(10_000)
    elsewhere: list[str] = []

    def only_local(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).hostname == "127.0.0.1" or url.startswith("data:"):
            route.continue_()
        else:
            elsewhere.append(url)
            route.abort()

    ctx.route("**/*", only_local)
    yield ctx
    ctx.close()
    assert elsewhere == [], f"the page asked for off-host resources: {elsewhere}"


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def moderator(page: Page) -> Page:
    """A page signed in with the moderator key, showing the queue."""
    sign_in(page)
    return page


@pytest.fixture(scope="session", autouse=True)
def _reports_dir() -> None:
    REPORTS.mkdir(exist_ok=True)
