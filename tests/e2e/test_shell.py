"""The application shell in a real browser: login, menu per role, access log, lockout, language, logout."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import ConsoleMessage, Page, Request, expect

pytestmark = pytest.mark.e2e

LOGIN_PATH = "/accounts/login/"


def at_path(live_server: Any, path: str, *, query: bool = False) -> re.Pattern[str]:
    """A URL pattern for ``path`` on the live server, optionally followed by a query string."""
    tail = r"(\?.*)?" if query else ""
    return re.compile(re.escape(f"{live_server.url}{path}") + tail + "$")


def test_coordinator_logs_in_and_sees_the_menu_of_the_role(
    page: Page, live_server: Any, log_in: Callable[..., None], coordinator: Any
) -> None:
    log_in(page, coordinator.username)

    expect(page).to_have_url(at_path(live_server, "/"))
    expect(page.get_by_role("heading", name="Welcome, Rahima")).to_be_visible()
    expect(page.get_by_test_id("nav-user")).to_contain_text("Rahima")
    expect(page.get_by_test_id("nav-user")).to_contain_text("Coordinator")
    expect(page.get_by_test_id("role-duties")).to_contain_text("Coordinator")

    menu = page.get_by_test_id("nav-sections")
    for label in ("Screening", "Visits", "Safety"):
        expect(menu.get_by_role("link", name=label, exact=True)).to_be_visible()
    for label in ("Exports", "Access log"):
        expect(menu.get_by_role("link", name=label, exact=True)).to_have_count(0)
    expect(page.get_by_test_id("home-section-exports")).to_have_count(0)
    expect(page.get_by_test_id("home-section-access_log")).to_have_count(0)

    page.get_by_test_id("home-section-screening").click()

    expect(page).to_have_url(at_path(live_server, "/screening/"))
    expect(page.get_by_role("heading", name="Screening", level=1)).to_be_visible()
    expect(menu.get_by_role("link", name="Screening", exact=True)).to_have_attribute("aria-current", "page")


def test_monitor_finds_their_own_login_in_the_access_log(
    page: Page, live_server: Any, log_in: Callable[..., None], monitor: Any
) -> None:
    log_in(page, monitor.username)
    expect(page).to_have_url(at_path(live_server, "/"))

    page.get_by_test_id("nav-sections").get_by_role("link", name="Access log", exact=True).click()

    expect(page).to_have_url(at_path(live_server, "/access-log/"))
    expect(page.get_by_role("heading", name="Access log", level=1)).to_be_visible()
    own_login = (
        page.get_by_role("row")
        .filter(has=page.get_by_role("cell", name="Login", exact=True))
        .filter(has=page.get_by_role("cell", name=monitor.username, exact=True))
    )
    expect(own_login).to_have_count(1)
    expect(own_login).to_contain_text(LOGIN_PATH)


def test_wrong_password_shows_an_error_and_five_failures_lock_the_account(
    page: Page, live_server: Any, log_in: Callable[..., None], coordinator: Any
) -> None:
    log_in(page, coordinator.username, secret="not-the-right-password")

    expect(page).to_have_url(at_path(live_server, LOGIN_PATH))
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    error = page.locator("form").get_by_text("That username and password do not match")
    expect(error).to_be_visible()
    expect(page.get_by_label("Username")).to_have_value(coordinator.username)

    for _attempt in range(4):
        log_in(page, coordinator.username, secret="not-the-right-password")

    log_in(page, coordinator.username)  # the right password, too late

    expect(page.get_by_role("heading", name="Account locked")).to_be_visible()
    expect(page.get_by_text("Too many failed logins")).to_be_visible()
    expect(page.get_by_test_id("nav-user")).to_have_count(0)
    # Not logged in behind the lockout page either (a second tab, so the screenshot keeps the lockout page).
    other_tab = page.context.new_page()
    other_tab.goto(f"{live_server.url}/")
    expect(other_tab).to_have_url(at_path(live_server, LOGIN_PATH, query=True))
    other_tab.close()


def test_language_switcher_switches_the_page_to_bangla(
    page: Page, live_server: Any, log_in: Callable[..., None], coordinator: Any
) -> None:
    log_in(page, coordinator.username)
    expect(page).to_have_url(at_path(live_server, "/"))
    expect(page.locator("html")).to_have_attribute("lang", "en")

    switcher = page.get_by_test_id("language-switcher")
    switcher.get_by_label("Language").select_option("bn")
    switcher.get_by_role("button").click()

    expect(page.locator("html")).to_have_attribute("lang", "bn")
    expect(page).to_have_url(at_path(live_server, "/"))
    expect(page.get_by_test_id("nav-sections").get_by_role("link")).to_have_count(10)  # "Protocol", "Record status" too
    expect(page.get_by_test_id("home-section-screening")).to_be_visible()
    expect(page.get_by_test_id("language-switcher").locator("select")).to_have_value("bn")


def test_pages_load_nothing_from_elsewhere_and_break_no_content_security_policy(
    page: Page, live_server: Any, log_in: Callable[..., None], coordinator: Any
) -> None:
    requested: list[str] = []
    console_errors: list[str] = []

    def on_request(request: Request) -> None:
        requested.append(request.url)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            console_errors.append(message.text)

    page.on("request", on_request)
    page.on("console", on_console)

    log_in(page, coordinator.username)
    expect(page).to_have_url(at_path(live_server, "/"))
    expect(page.get_by_test_id("home-section-screening")).to_be_visible()
    page.wait_for_load_state("load")

    assert any(url.endswith(".css") for url in requested), requested  # the stylesheets were loaded
    foreign = [url for url in requested if not (url.startswith(live_server.url) or url.startswith("data:"))]
    assert foreign == []
    csp_violations = [text for text in console_errors if "Content Security Policy" in text]
    assert csp_violations == []


def test_log_out_returns_to_the_login_page_and_the_home_page_needs_login_again(
    page: Page, live_server: Any, log_in: Callable[..., None], coordinator: Any
) -> None:
    log_in(page, coordinator.username)
    expect(page).to_have_url(at_path(live_server, "/"))

    page.get_by_role("button", name="Log out").click()

    expect(page).to_have_url(at_path(live_server, LOGIN_PATH))
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    expect(page.get_by_test_id("nav-user")).to_have_count(0)

    page.goto(f"{live_server.url}/")

    expect(page).to_have_url(at_path(live_server, LOGIN_PATH, query=True))
    assert "next=/" in page.url or "next=%2F" in page.url
    expect(page.get_by_label("Username")).to_be_visible()
