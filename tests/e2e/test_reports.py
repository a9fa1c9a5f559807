"""Reports in a real browser: the CONSORT flow drawn live from the data, by arm for an unblinded user and pooled
for the blinded assessor."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.randomization.factories import list_in_use
from tests.screening.factories import register
from tests.visits.test_schedule import randomised_on
from trial_site.protocol import PROTOCOL
from trial_site.roles import Role

pytestmark = pytest.mark.e2e


@pytest.fixture
def trial(site: Any, user_with_role: Any) -> None:
    coordinator = user_with_role(Role.COORDINATOR, username="rahima")
    investigator = user_with_role(Role.INVESTIGATOR, username="farhana")
    user_with_role(Role.BLINDED_ASSESSOR, username="nasrin")
    list_in_use(user_with_role(Role.STATISTICIAN, username="kamal"))
    for days in (60, 40, 20, 5):
        randomised_on(timezone.localdate() - timedelta(days=days), site, coordinator, investigator)
    register(site, coordinator)  # still in screening


def test_the_consort_flow_by_arm_for_investigators_and_pooled_for_the_blinded(
    page: Page, live_server: Any, log_in: Any, trial: None
) -> None:
    log_in(page, "farhana")
    page.goto(f"{live_server.url}/exports/reports/consort/")
    diagram = page.get_by_test_id("consort-diagram").locator("svg")
    expect(diagram).to_contain_text("5")  # assessed
    expect(diagram).to_contain_text(PROTOCOL.arms[0].drug, ignore_case=True)
    page.get_by_role("button", name="Log out").click()

    log_in(page, "nasrin")
    page.goto(f"{live_server.url}/exports/reports/consort/")
    expect(page.get_by_test_id("consort-diagram").locator("svg")).to_be_visible()
    for arm in PROTOCOL.arms:
        expect(page.locator("body")).not_to_contain_text(arm.drug, ignore_case=True)
