"""Browser fixtures for the end-to-end tests: one headless Chromium per session, one fresh context per test.

Every test's final page is saved as a full-page screenshot under ``var/screenshots/<test name>.png``
(``var/`` is git-ignored), so a failure can be looked at, and a passing run can be checked by eye.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from trial_site.roles import Role

# Playwright's sync API runs an event loop in this thread; Django's ORM would otherwise refuse to be called
# from the test (fixtures creating users and sites).
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "var" / "screenshots"

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    """Keep each phase's report on the test item, so the ``page`` fixture knows whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        playwright.selectors.set_test_id_attribute("data-testid")
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    new_page = context.new_page()
    try:
        yield new_page
    finally:
        report = getattr(request.node, "report_call", None)
        failed = report is None or report.failed
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        try:
            # Web fonts (the Bengali one) load lazily; the picture should show the page as a person sees it.
            new_page.evaluate("document.fonts.ready.then(() => true)")
            new_page.screenshot(path=SCREENSHOT_DIR / f"{name}.png", full_page=True)
        except Exception:  # a crashed page must not hide the test's own failure
            if not failed:
                raise
        finally:
            context.close()


@pytest.fixture
def log_in(live_server: Any, password: str) -> Callable[..., None]:
    """Log in through the login form, as a person would; the browser ends on the page after login."""

    def submit(page: Page, username: str, *, secret: str | None = None) -> None:
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password if secret is None else secret)
        page.get_by_role("button", name="Log in").click()

    return submit


@pytest.fixture
def coordinator(user_with_role: Any) -> Any:
    return user_with_role(Role.COORDINATOR, username="rahima")


@pytest.fixture
def monitor(user_with_role: Any) -> Any:
    return user_with_role(Role.MONITOR, username="tanvir")
