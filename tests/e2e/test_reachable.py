"""Only reachable links (#20 item 8), in the browser at desktop (1280 × 800) and phone (390 × 844) widths: the
blinded assessor's participant pages link to nothing they would be refused; the raise-query page names the
participant, the form, the field and its value now; the fields verified are ticked as checkboxes. With
``SCREENSHOTS_DIR`` set the guides' picture ``query-raise`` is saved (at desktop width)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from monitoring.models import SourceVerification
from tests.e2e.screenshots import Camera, screenshots_dir
from tests.randomization.factories import list_in_use
from tests.visits.test_schedule import randomised_on
from trial_site.roles import Role
from visits import services as visit_services
from visits.crf_services import visit_form_save
from visits.crfs import VitalSigns

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
VIEWPORTS = pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])


@pytest.fixture
def vitals(site: Any, user_with_role: Any, coordinator: Any) -> VitalSigns:
    """A participant randomised 40 days ago, Day 1 done with its vital signs entered."""
    investigator = user_with_role(Role.INVESTIGATOR, username="farhana")
    list_in_use(user_with_role(Role.STATISTICIAN, username="selim"))
    participant = randomised_on(timezone.localdate() - timedelta(days=40), site, coordinator, investigator)
    d1 = participant.visits.get(code="D1")
    d1 = visit_services.visit_record_done(visit=d1, by=coordinator, done_on=d1.target_date)
    record = VitalSigns(visit=d1, weight_kg=55.0, height_cm=158.0, systolic_bp=120, diastolic_bp=80, heart_rate=72,
                        temperature_c=36.8)  # fmt: skip
    visit_form_save(record=record, by=coordinator, complete=True)
    return record


def links_refused(page: Page) -> list[str]:
    """The links of the page (same site) that answer 403 to the person looking at it."""
    hrefs = page.eval_on_selector_all(
        "main a[href]", "links => links.map(a => a.href).filter(h => h.startsWith(location.origin))"
    )
    return [href for href in dict.fromkeys(hrefs) if page.request.get(href, max_redirects=0).status == 403]


@VIEWPORTS
def test_the_blinded_assessors_participant_pages_link_only_to_what_they_may_open(
    page: Page, live_server: Any, log_in: Any, user_with_role: Any, vitals: VitalSigns, viewport: dict[str, int]
) -> None:
    user_with_role(Role.BLINDED_ASSESSOR, username="nasrin")
    number = vitals.visit.participant.screening_number
    page.set_viewport_size(viewport)
    log_in(page, "nasrin")
    for path in (f"/visits/participants/{number}/", f"/screening/{number}/", f"/visits/{vitals.visit_id}/"):
        page.goto(f"{live_server.url}{path}")
        expect(page.locator("main")).to_contain_text(number)
        assert not links_refused(page), path
        expect(page.locator(f'main a[href$="/forms/{"vitals"}/"]')).to_have_count(0)


@VIEWPORTS
def test_the_raise_query_page_names_what_the_query_is_about_and_raises_it(
    page: Page, live_server: Any, log_in: Any, monitor: Any, vitals: VitalSigns, viewport: dict[str, int]
) -> None:
    number = vitals.visit.participant.screening_number
    page.set_viewport_size(viewport)
    camera = Camera(screenshots_dir())
    log_in(page, "tanvir")
    page.goto(f"{live_server.url}/monitoring/queries/raise/?form=visits.vitalsigns&object={vitals.pk}&field=weight_kg")
    expect(page.get_by_test_id("query-participant")).to_contain_text(number)
    expect(page.get_by_test_id("query-form")).to_have_text("Vital signs, D1")
    expect(page.get_by_test_id("query-field")).to_contain_text("Weight")
    expect(page.get_by_test_id("query-current-value")).to_have_text("55.0")
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    if viewport == DESKTOP:
        camera.shoot(page, "query-raise", full_page=False)
    page.get_by_label("Question").fill("Weight is 57 kg in the clinic notes.")
    page.get_by_role("button", name="Raise the query").click()
    expect(page).to_have_url(re.compile(r"/monitoring/queries/\d+/$"))
    expect(page.locator("main")).to_contain_text("Weight is 57 kg in the clinic notes.")
    assert camera.taken == (["query-raise"] if viewport == DESKTOP else [])


@VIEWPORTS
def test_the_fields_verified_are_ticked_as_checkboxes(
    page: Page, live_server: Any, log_in: Any, monitor: Any, vitals: VitalSigns, viewport: dict[str, int]
) -> None:
    page.set_viewport_size(viewport)
    log_in(page, "tanvir")
    page.goto(f"{live_server.url}/monitoring/verification/mark/?form=visits.vitalsigns&object={vitals.pk}")
    form = page.get_by_test_id("verification-mark-form")
    expect(form.locator("select")).to_have_count(0)
    expect(form.get_by_label("All fields (the whole form)")).not_to_be_checked()
    form.get_by_label("Weight", exact=False).first.check()
    form.get_by_label("Heart rate", exact=False).check()
    form.get_by_role("button", name="Mark verified").click()
    expect(page.get_by_test_id("verification-state").first).to_contain_text("Verified by")
    verification = SourceVerification.objects.get()
    assert sorted(verification.fields) == ["heart_rate", "weight_kg"]
