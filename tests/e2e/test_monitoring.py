"""Monitoring in a real browser: a monitor reads a form, raises a query on one field, the site answers with a
correction; the audit trail shows old → new; a data manager locks the casebook and the form says so."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from monitoring.services.locks import lock_data
from tests.randomization.factories import list_in_use
from tests.visits.test_schedule import randomised_on
from trial_site.roles import Role
from visits import services
from visits.crf_services import visit_form_save
from visits.crfs import VitalSigns

pytestmark = pytest.mark.e2e

VITALS = {"weight_kg": 61.0, "height_cm": 158.0, "systolic_bp": 118, "diastolic_bp": 76, "heart_rate": 72,
          "temperature_c": 36.8}  # fmt: skip


@pytest.fixture
def vitals(site: Any, user_with_role: Any) -> VitalSigns:
    coordinator = user_with_role(Role.COORDINATOR, username="rahima")
    investigator = user_with_role(Role.INVESTIGATOR, username="farhana")
    user_with_role(Role.MONITOR, username="mitra")
    user_with_role(Role.DATA_MANAGER, username="dana")
    list_in_use(user_with_role(Role.STATISTICIAN, username="kamal"))
    participant = randomised_on(timezone.localdate() - timedelta(days=3), site, coordinator, investigator)
    d1 = participant.visits.get(code="D1")
    services.visit_record_done(visit=d1, by=coordinator, done_on=d1.target_date)
    record = VitalSigns(visit=d1, **VITALS)
    visit_form_save(record=record, by=coordinator, complete=True)
    return record


def test_a_query_on_a_field_is_raised_answered_with_a_correction_and_shown_in_the_audit_trail(
    page: Page, live_server: Any, log_in: Any, vitals: VitalSigns
) -> None:
    form_url = f"{live_server.url}/visits/{vitals.visit_id}/forms/vitals/"
    log_in(page, "mitra")
    page.goto(form_url)
    expect(page.get_by_test_id("read-only")).to_be_visible()
    page.get_by_test_id("raise-query").click()
    page.get_by_label("Field").select_option("weight_kg")
    page.get_by_label("Question").fill("The source says 63 kg: please check.")
    page.get_by_role("button", name="Raise").click()
    expect(page.locator("body")).to_contain_text("The source says 63 kg")
    page.goto(form_url)
    expect(page.locator('[data-query-field="weight_kg"]')).to_be_visible()
    page.get_by_role("button", name="Log out").click()

    log_in(page, "rahima")
    page.goto(form_url)
    page.get_by_label("Weight (kg)").fill("63")
    page.get_by_label("Reason for change").fill("transcription error, corrected from the source")
    page.get_by_role("button", name="Mark complete").click()
    vitals.refresh_from_db()
    assert vitals.weight_kg == 63.0
    page.get_by_role("button", name="Log out").click()

    log_in(page, "mitra")
    page.goto(f"{live_server.url}/monitoring/audit/participants/{vitals.visit.participant.screening_number}/")
    newest = page.get_by_test_id("audit-entry").first
    expect(newest.get_by_test_id("reason")).to_have_text("transcription error, corrected from the source")
    weight = newest.get_by_test_id("change").filter(has_text="Weight")
    expect(weight.get_by_test_id("old")).to_have_text("61")
    expect(weight.get_by_test_id("new")).to_have_text("63")


def test_a_locked_casebook_shows_its_lock_on_the_form_and_refuses_a_change(
    page: Page, live_server: Any, log_in: Any, vitals: VitalSigns, django_user_model: Any
) -> None:
    dana = django_user_model.objects.get(username="dana")
    lock_data(scope="casebook", participant=vitals.visit.participant, by=dana, reason="database lock before analysis")
    log_in(page, "rahima")
    page.goto(f"{live_server.url}/visits/{vitals.visit_id}/forms/vitals/")
    expect(page.locator("body")).to_contain_text("database lock before analysis")
    page.get_by_label("Weight (kg)").fill("70")
    page.get_by_label("Reason for change").fill("try")
    page.get_by_role("button", name="Mark complete").click()
    expect(page.locator("body")).to_contain_text("is locked by")
    vitals.refresh_from_db()
    assert vitals.weight_kg == 61.0
