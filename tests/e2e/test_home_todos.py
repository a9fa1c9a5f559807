"""The home page's to-do lists in the browser, at desktop (1280 × 800) and phone (390 × 844) widths: the
coordinator clicks a due visit and lands on it; the investigator sees the SAE clock; the monitor opens an answered
query from home and closes it. On a phone the page does not scroll sideways. With ``SCREENSHOTS_DIR`` set the home
pages are saved for the guides."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from monitoring.models import DataQuery
from monitoring.services import queries
from tests.bench.test_page_queries import busy_participant
from tests.e2e.screenshots import Camera, screenshots_dir
from tests.randomization.factories import list_in_use
from tests.screening.factories import register, screen_eligible
from trial_site.roles import Role

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture
def world(site: Any, coordinator: Any, investigator: Any, statistician: Any, user_with_role: Any) -> dict[str, Any]:
    """A participant randomised 30 days ago at DHK: W2 overdue, W4 in window, an SAE report overdue, and a query the
    coordinator has answered; another computed eligible, not yet confirmed."""
    monitor = user_with_role(Role.MONITOR, username="tanvir")
    list_in_use(statistician)
    participant = busy_participant(site, coordinator, investigator, monitor)
    query = DataQuery.objects.get(participant=participant)
    queries.query_answer(query=query, by=coordinator, text="Checked against the clinic notes.")
    screen_eligible(register(site, coordinator), coordinator)
    return {"participant": participant, "coordinator": coordinator, "investigator": investigator, "monitor": monitor}


@pytest.fixture
def open_as(browser: Browser, log_in: Callable[..., None]) -> Iterator[Callable[[str, dict[str, int]], Page]]:
    contexts = []

    def open_page(username: str, viewport: dict[str, int]) -> Page:
        context = browser.new_context(viewport=viewport, locale="en-US")
        contexts.append(context)
        page = context.new_page()
        log_in(page, username)
        expect(page.get_by_test_id("todo-lists")).to_be_visible()
        return page

    yield open_page
    for context in contexts:
        context.close()


def page_width(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_day_starts_from_the_home_page(
    open_as: Callable[[str, dict[str, int]], Page], world: dict[str, Any], viewport: dict[str, int]
) -> None:
    phone = viewport == PHONE
    camera = Camera(screenshots_dir())
    number = world["participant"].screening_number

    coordinator = open_as(world["coordinator"].username, viewport)
    due = coordinator.get_by_test_id("todo-visits_due")
    expect(due.get_by_test_id("todo-count")).to_have_text("2")  # W2 overdue, W4 in window
    assert page_width(coordinator) <= viewport["width"]
    if phone:
        camera.shoot(coordinator, "home-coordinator-phone")
    due.get_by_role("link", name=re.compile(f"{number} · W4")).click()
    expect(coordinator).to_have_url(re.compile(r"/visits/\d+/$"))
    expect(coordinator.get_by_role("heading", level=1)).to_contain_text("W4")

    investigator = open_as(world["investigator"].username, viewport)
    clock = investigator.get_by_test_id("todo-sae_clocks")
    expect(clock).to_contain_text(f"{number} · Pneumonia")
    expect(clock).to_contain_text("overdue by")
    assert page_width(investigator) <= viewport["width"]
    if not phone:
        camera.shoot(investigator, "home-investigator")

    monitor = open_as(world["monitor"].username, viewport)
    to_close = monitor.get_by_test_id("todo-queries_to_close")
    expect(to_close.get_by_test_id("todo-count")).to_have_text("1")
    assert page_width(monitor) <= viewport["width"]
    if not phone:
        camera.shoot(monitor, "home-monitor")
    to_close.get_by_role("link", name=re.compile(number)).click()
    expect(monitor.get_by_test_id("close-form")).to_be_visible()
    monitor.get_by_role("button", name="Close the query").click()
    monitor.goto(monitor.url.split("/monitoring/")[0] + "/")
    expect(monitor.get_by_test_id("todo-queries_to_close")).to_contain_text(
        "No answered query is waiting to be closed."
    )
    assert sorted(camera.taken) == (["home-coordinator-phone"] if phone else ["home-investigator", "home-monitor"])
