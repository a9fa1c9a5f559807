"""The record status dashboard in the browser, at desktop (1280 × 800) and phone (390 × 844) widths: the legend, a
draft visit told apart from an empty one by symbol, colour and words, the filter by state, one click into a visit,
and the grid scrolling inside its own box with the participant column fixed (on a phone the page itself does not
scroll sideways). With ``SCREENSHOTS_DIR`` set the pictures of the guide are saved (``record-status-dashboard``,
``record-status-dashboard-phone``)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.e2e.screenshots import Camera, screenshots_dir
from tests.randomization.factories import list_in_use
from tests.visits.test_crfs import save
from tests.visits.test_schedule import randomised_on
from trial_site.roles import Role
from visits import services
from visits.crfs import LabPanel

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture
def participants(site: Any, user_with_role: Any) -> dict[str, Any]:
    """Three participants: Day 1 done with a draft laboratory panel; Day 1 done with nothing entered; and one
    randomised today (Day 1 due)."""
    coordinator = user_with_role(Role.COORDINATOR, username="rahima")
    investigator = user_with_role(Role.INVESTIGATOR, username="farhana")
    list_in_use(user_with_role(Role.STATISTICIAN, username="kamal"))
    today = timezone.localdate()
    found = {}
    for name, days in (("draft", 40), ("empty", 30), ("due", 0)):
        participant = randomised_on(today - timedelta(days=days), site, coordinator, investigator)
        d1 = participant.visits.get(code="D1")
        if name != "due":
            d1 = services.visit_record_done(visit=d1, by=coordinator, done_on=d1.target_date)
        found[name] = d1
    save(LabPanel, found["draft"], coordinator, {"hb_g_dl": 12.5}, complete=False)
    return found


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_dashboard_shows_each_visits_state_and_opens_it(
    page: Page, live_server: Any, log_in: Any, participants: dict[str, Any], viewport: dict[str, int]
) -> None:
    page.set_viewport_size(viewport)
    camera = Camera(screenshots_dir())
    log_in(page, "rahima")
    page.goto(f"{live_server.url}/visits/dashboard/")
    legend = page.get_by_test_id("state-legend")
    expect(legend).to_contain_text("draft: partly entered")
    expect(legend).to_contain_text("empty: nothing entered")
    expect(legend).to_contain_text("open query")

    def d1_cell(name: str) -> Any:
        number = participants[name].participant.screening_number
        return page.locator(f'tr[data-participant="{number}"] td[data-visit="D1"]')

    draft, empty = d1_cell("draft"), d1_cell("empty")
    expect(draft).to_have_attribute("data-state", "draft")
    expect(empty).to_have_attribute("data-state", "empty")
    expect(d1_cell("due")).to_have_attribute("data-state", "due")
    expect(draft.locator(".visually-hidden")).to_have_text(re.compile(r"D1: draft: partly entered"))
    expect(empty.locator(".visually-hidden")).to_have_text(re.compile(r"D1: empty: nothing entered"))
    assert draft.inner_text().strip() != empty.inner_text().strip()  # a different symbol
    colour = "el => getComputedStyle(el).backgroundColor"
    assert draft.evaluate(colour) != empty.evaluate(colour)  # and a different colour

    # The grid scrolls inside its box; the participant column stays where it is; the page does not scroll sideways.
    box = page.get_by_test_id("dashboard-scroll")
    sticky = page.locator(f'tr[data-participant="{participants["draft"].participant.screening_number}"] th')
    before = sticky.bounding_box()
    box.evaluate("el => { el.scrollLeft = el.scrollWidth; }")
    if viewport == PHONE:
        assert box.evaluate("el => el.scrollLeft") > 0, "the grid is wider than a phone: it scrolls in its box"
    assert sticky.bounding_box()["x"] == pytest.approx(before["x"], abs=1)
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    box.evaluate("el => { el.scrollLeft = 0; }")
    camera.shoot(page, "record-status-dashboard" if viewport == DESKTOP else "record-status-dashboard-phone",
                 full_page=viewport == DESKTOP)  # fmt: skip

    page.get_by_label("Status", exact=True).select_option("draft")
    page.get_by_role("button", name="Show", exact=True).click()
    expect(page.locator("tr[data-participant]")).to_have_count(1)
    expect(page.get_by_test_id("dashboard-count")).to_have_text("1 participant")

    d1_cell("draft").get_by_role("link").click()
    expect(page).to_have_url(re.compile(rf"/visits/{participants['draft'].pk}/$"))
    assert camera.taken == (["record-status-dashboard"] if viewport == DESKTOP else ["record-status-dashboard-phone"])
