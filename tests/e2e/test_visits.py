"""The visits in a real browser: a blinded assessor scores the mRSS with a live total; the grid and chart follow."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from clinical.mrss import MRSS_AREAS
from tests.randomization.factories import list_in_use
from tests.visits.test_schedule import randomised_on
from trial_site.roles import Role
from visits import services

pytestmark = pytest.mark.e2e


def test_assessor_scores_the_mrss_with_a_live_total_and_the_grid_follows(
    page: Page, live_server: Any, log_in: Any, site: Any, user_with_role: Any
) -> None:
    coordinator = user_with_role(Role.COORDINATOR, username="rahima")
    investigator = user_with_role(Role.INVESTIGATOR, username="farhana")
    user_with_role(Role.BLINDED_ASSESSOR, username="nasrin")
    list_in_use(user_with_role(Role.STATISTICIAN, username="kamal"))
    participant = randomised_on(timezone.localdate() - timedelta(days=5), site, coordinator, investigator)
    d1 = participant.visits.get(code="D1")
    services.visit_record_done(visit=d1, by=coordinator, done_on=d1.target_date)

    log_in(page, "nasrin")
    page.goto(f"{live_server.url}/visits/participants/{participant.screening_number}/")
    expect(page.get_by_test_id("identity")).to_contain_text("treatment concealed")
    page.locator('td[data-form="mrss"] a').first.click()
    total = page.locator("[data-total]")
    expect(total).to_contain_text("17 areas to score")
    for code, _label in MRSS_AREAS:
        page.locator(f'select[name="{code}"]').select_option("2" if code.startswith("fingers") else "1")
    expect(total).to_have_text("19")
    page.get_by_role("button", name="Mark complete").click()

    expect(page).to_have_url(f"{live_server.url}/visits/{d1.pk}/")  # back to the visit page, then its participant
    page.get_by_role("navigation", name="breadcrumb").get_by_role("link", name=participant.screening_number).click()
    expect(page.locator('td[data-form="mrss"]').first).to_have_attribute("data-state", "complete")
    # Blinded by design: the assessor who scored sees no chart of the scores (earlier ones would show through).
    expect(page.get_by_test_id("mrss-chart")).to_have_count(0)
    content = page.content().lower()
    assert "baricitinib" not in content and "methotrexate" not in content
