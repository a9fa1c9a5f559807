"""Irreversible steps and words that cannot be misread, in the browser at desktop (1280 × 800) and phone
(390 × 844) widths: the eligibility criteria read "inclusion met" and "exclusion absent" (green, in favour), and
confirming goes through a page that says what it permits; randomising goes through a page that shows the stratum
(never the arm) and that it cannot be undone. With ``SCREENSHOTS_DIR`` set the guides' pictures are saved
(``eligibility-words``, ``randomise-confirm``; at desktop width)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from randomization.models import Allocation
from screening.models import EligibilityConfirmation
from tests.e2e.screenshots import Camera, screenshots_dir
from tests.randomization.factories import confirmed_participant, list_in_use
from tests.screening.factories import register, screen_eligible
from trial_site.protocol import PROTOCOL
from trial_site.roles import Role

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture
def investigator(user_with_role: Any) -> Any:
    return user_with_role(Role.INVESTIGATOR, username="farhana")


def no_sideways_scroll(page: Page, viewport: dict[str, int]) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_criteria_read_as_they_mean_and_confirming_goes_through_its_page(
    page: Page, live_server: Any, log_in: Any, site: Any, coordinator: Any, investigator: Any,
    viewport: dict[str, int],
) -> None:  # fmt: skip
    participant = screen_eligible(register(site, coordinator), coordinator)
    number = participant.screening_number
    page.set_viewport_size(viewport)
    camera = Camera(screenshots_dir())
    log_in(page, "farhana")
    page.goto(f"{live_server.url}/screening/{number}/")

    criteria = page.get_by_test_id("criteria")
    e5 = criteria.locator('tr[data-code="E5"] .badge')
    expect(e5).to_have_text("exclusion absent")
    expect(e5).to_have_class(re.compile(r"text-bg-success"))
    expect(criteria.locator('tr[data-code="I1"] .badge')).to_have_text("inclusion met")
    expect(criteria.get_by_text("exclusion absent", exact=True)).to_have_count(17)
    expect(criteria.get_by_text("met", exact=True)).to_have_count(0)  # never a bare "met"
    no_sideways_scroll(page, viewport)

    page.get_by_test_id("confirm").click()
    expect(page).to_have_url(re.compile(rf"/screening/{number}/confirm/$"))
    expect(page.get_by_test_id("confirm-participant")).to_contain_text(number)
    expect(page.get_by_test_id("confirm-decision")).to_contain_text("Eligible")
    expect(page.get_by_test_id("what-it-permits")).to_contain_text("It permits randomisation (Day 1) from")
    expect(page.get_by_test_id("criteria").locator('tr[data-code="E17"] .badge')).to_have_text("exclusion absent")
    assert not EligibilityConfirmation.objects.exists()  # seeing the page confirms nothing
    no_sideways_scroll(page, viewport)
    if viewport == DESKTOP:
        camera.shoot(page, "eligibility-words")  # the whole page: the decision and all 21 criteria

    page.get_by_test_id("confirm-eligibility").click()
    expect(page).to_have_url(re.compile(rf"/screening/{number}/$"))
    expect(page.get_by_role("alert")).to_contain_text("Eligibility confirmed.")
    assert EligibilityConfirmation.objects.filter(participant=participant).count() == 1
    assert camera.taken == (["eligibility-words"] if viewport == DESKTOP else [])


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_randomising_goes_through_a_page_that_shows_the_stratum_and_not_the_arm(
    page: Page, live_server: Any, log_in: Any, site: Any, coordinator: Any, investigator: Any,
    user_with_role: Any, viewport: dict[str, int],
) -> None:  # fmt: skip
    in_use = list_in_use(user_with_role(Role.STATISTICIAN, username="kamal"))
    participant = confirmed_participant(site, coordinator, investigator, duration_days=900)  # 29 months: late
    number = participant.screening_number
    page.set_viewport_size(viewport)
    camera = Camera(screenshots_dir())
    log_in(page, "farhana")
    page.goto(f"{live_server.url}/randomization/participants/{number}/")

    page.get_by_test_id("randomise").click()
    expect(page).to_have_url(re.compile(rf"/randomization/participants/{number}/randomise/$"))
    facts = page.get_by_test_id("randomise-facts")
    expect(facts).to_contain_text(number)
    expect(page.get_by_test_id("stratum")).to_have_text("DHK/late")
    expect(facts).to_contain_text("late: more than 18 months")
    expect(page.get_by_test_id("allocation-list")).to_have_text(in_use.name)
    expect(page.get_by_test_id("cannot-be-undone")).to_contain_text("It cannot be undone")
    for arm in PROTOCOL.arms:
        expect(page.locator("main")).not_to_contain_text(arm.drug)
    assert not Allocation.objects.exists()
    no_sideways_scroll(page, viewport)
    if viewport == DESKTOP:
        camera.shoot(page, "randomise-confirm", full_page=False)

    page.get_by_test_id("randomise-confirm").click()
    expect(page).to_have_url(re.compile(rf"/randomization/participants/{number}/$"))
    expect(page.get_by_role("alert")).to_contain_text("Randomised: DHK-R-001.")
    allocation = Allocation.objects.get()
    assert (allocation.participant_id, allocation.stratum) == (participant.pk, "DHK/late")
    assert camera.taken == (["randomise-confirm"] if viewport == DESKTOP else [])
