"""The header's search and the visit calendar in a real browser, at a desktop's and a phone's width: a part of a
number lists the matches, an exact number opens the participant; the calendar shows a visit on its day and opens it;
at 390 px the page never scrolls sideways."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.e2e.screenshots import Camera, screenshots_dir
from tests.randomization.factories import list_in_use
from tests.screening.factories import register
from tests.visits.test_schedule import randomised_on
from trial_site.roles import Role
from visits import services

pytestmark = pytest.mark.e2e

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def no_sideways_scroll(page: Page) -> None:
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_header_search_lists_partial_matches_and_opens_an_exact_number(
    page: Page, live_server: Any, log_in: Any, site: Any, coordinator: Any, viewport: dict[str, int]
) -> None:
    for initials in ("MRK", "SBA", "TKH"):
        register(site, coordinator, initials=initials)
    page.set_viewport_size(viewport)
    log_in(page, "rahima")
    box = page.get_by_test_id("nav-search").get_by_role("searchbox", name="Find a participant")
    box.fill("s-000")
    box.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/search/?q=s-000")
    results = page.get_by_test_id("search-hit")
    expect(results).to_have_count(3)
    expect(results.nth(1)).to_contain_text("DHK-S-0002")
    expect(results.nth(1)).to_contain_text("Consented")
    no_sideways_scroll(page)
    if viewport == DESKTOP:
        Camera(screenshots_dir()).shoot(page, "search-results")
    results.nth(1).click()
    expect(page).to_have_url(f"{live_server.url}/screening/DHK-S-0002/")

    box = page.get_by_test_id("nav-search").get_by_role("searchbox", name="Find a participant")
    box.fill("dhk-s-0003")
    box.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/screening/DHK-S-0003/")
    expect(page.get_by_role("heading", name="DHK-S-0003", level=1)).to_be_visible()

    box = page.get_by_test_id("nav-search").get_by_role("searchbox", name="Find a participant")
    box.fill("x")
    box.press("Enter")
    expect(page.get_by_test_id("search-message")).to_contain_text("Type at least 2 characters")
    no_sideways_scroll(page)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_calendar_shows_a_visit_on_its_day_and_opens_it(
    page: Page,
    live_server: Any,
    log_in: Any,
    site: Any,
    coordinator: Any,
    user_with_role: Any,
    viewport: dict[str, int],
) -> None:
    investigator = user_with_role(Role.INVESTIGATOR, username="farhana")
    list_in_use(user_with_role(Role.STATISTICIAN, username="kamal"))
    today = timezone.localdate()
    first_of_month = today.replace(day=1)
    earlier = [max(first_of_month, today - timedelta(days=days)) for days in (4, 2)]
    for day1 in earlier:
        participant = randomised_on(day1, site, coordinator, investigator)
        d1 = participant.visits.get(code="D1")
        services.visit_record_done(visit=d1, by=coordinator, done_on=day1)
    today_participant = randomised_on(today, site, coordinator, investigator)
    visit = today_participant.visits.get(code="D1")

    page.set_viewport_size(viewport)
    log_in(page, "rahima")
    page.goto(f"{live_server.url}/visits/")
    page.get_by_test_id("calendar-link").click()
    expect(page).to_have_url(f"{live_server.url}/visits/calendar/")
    expect(page.get_by_test_id("calendar-month")).to_contain_text(today.strftime("%B %Y"))
    today_cell = page.locator(f'section[data-date="{today:%Y-%m-%d}"]')
    expect(today_cell).to_have_attribute("aria-current", "date")
    entry = today_cell.get_by_test_id("calendar-visit").filter(has_text=today_participant.screening_number)
    expect(entry).to_be_visible()
    expect(entry).to_contain_text("D1")
    no_sideways_scroll(page)
    Camera(screenshots_dir()).shoot(page, "calendar" if viewport == DESKTOP else "calendar-phone")
    if viewport == PHONE:  # a list of days: the empty days and the weekday heads are not shown
        expect(page.locator(".visit-calendar-head")).to_be_hidden()
    entry.click()
    expect(page).to_have_url(f"{live_server.url}/visits/{visit.pk}/")

    page.goto(f"{live_server.url}/visits/calendar/")
    page.get_by_test_id("calendar-next").click()
    month_after = (first_of_month + timedelta(days=32)).replace(day=1)
    expect(page.get_by_test_id("calendar-month")).to_contain_text(month_after.strftime("%B %Y"))
    no_sideways_scroll(page)
