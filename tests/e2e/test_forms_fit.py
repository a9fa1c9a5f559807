"""Forms that fit the question, in the browser at desktop (1280 × 800) and phone (390 × 844) widths: the study drug
form shows the reason for a dose change only once "dose changed" is Yes, and hides it again on No; a temperature
typed in Fahrenheit is refused next to the field with the range and its unit; the "unusual values confirmed" box
appears only for an unusual value, and ticking it saves the form. With ``SCREENSHOTS_DIR`` set the branching form
is saved for the guide (``crf-branching``)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.e2e.screenshots import Camera, screenshots_dir
from tests.randomization.factories import list_in_use
from tests.visits.test_schedule import randomised_on
from trial_site.roles import Role
from visits import services
from visits.crfs import VitalSigns

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture
def visits(site: Any, user_with_role: Any) -> dict[str, Any]:
    coordinator = user_with_role(Role.COORDINATOR, username="rahima")
    investigator = user_with_role(Role.INVESTIGATOR, username="farhana")
    list_in_use(user_with_role(Role.STATISTICIAN, username="kamal"))
    participant = randomised_on(timezone.localdate() - timedelta(days=90), site, coordinator, investigator)
    done = {}
    for code in ("D1", "W4"):
        visit = participant.visits.get(code=code)
        done[code] = services.visit_record_done(visit=visit, by=coordinator, done_on=visit.target_date)
    return done


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_form_shows_what_applies_and_names_what_is_wrong(
    page: Page, live_server: Any, log_in: Any, visits: dict[str, Any], viewport: dict[str, int]
) -> None:
    page.set_viewport_size(viewport)
    camera = Camera(screenshots_dir())
    log_in(page, "rahima")

    page.goto(f"{live_server.url}/visits/{visits['W4'].pk}/forms/drug/")
    changed = page.get_by_label("Dose changed since the previous visit")
    reason = page.get_by_label("Reason for the dose change")
    expect(reason).to_be_hidden()
    expect(page.get_by_label("Interrupted from")).to_be_hidden()
    changed.select_option(label="Yes")
    expect(reason).to_be_visible()
    reason.fill("eGFR 52")
    page.get_by_label("Study drug interrupted during the period").select_option(label="Yes")
    expect(page.get_by_label("Interrupted from")).to_be_visible()
    expect(page.get_by_label("Reason for the interruption")).to_be_visible()
    if viewport == DESKTOP:
        camera.shoot(page, "crf-branching")
    changed.select_option(label="No")
    expect(reason).to_be_hidden()
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]

    page.goto(f"{live_server.url}/visits/{visits['D1'].pk}/forms/vitals/")
    confirm = page.get_by_label("Unusual values confirmed")
    expect(confirm).to_have_count(0)
    for label, value in (("Weight", "130"), ("Height", "160"), ("Temperature", "98.6")):
        page.get_by_label(label).fill(value)
    page.get_by_role("button", name="Save as draft").click()
    temperature = page.locator("#div_id_temperature_c")
    expect(temperature.locator(".invalid-feedback")).to_have_text("Temperature: 98.6 is outside 30–43 °C.")
    weight = page.locator("#div_id_weight_kg")
    expect(weight.locator(".invalid-feedback")).to_have_text(
        "Weight: 130 is unusual (usually 30–120 kg). Check it, then confirm it below."
    )
    expect(confirm).to_be_visible()
    expect(page.locator("#div_id_height_cm .invalid-feedback")).to_have_count(0)  # a usual value: no word on it
    assert not VitalSigns.objects.exists()

    page.get_by_label("Temperature").fill("37.1")
    confirm.check()
    page.get_by_role("button", name="Save as draft").click()
    expect(page).not_to_have_url(re.compile(r"/forms/vitals/"))
    vitals = VitalSigns.objects.get()
    assert (vitals.weight_kg, vitals.temperature_c, vitals.unusual_values_confirmed) == (130.0, 37.1, True)
    assert camera.taken == ([] if viewport == PHONE else ["crf-branching"])
