"""Screening in a real browser: registering with consent, the summary's decision, confirming and voiding, the log."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from screening import services
from screening.models import Participant, ScreeningLabs
from tests.screening.factories import register, screen_eligible
from trial_site.roles import Role

pytestmark = pytest.mark.e2e

CRITERIA_CODES = [f"I{n}" for n in range(1, 5)] + [f"E{n}" for n in range(1, 18)]


def at_path(live_server: Any, path: str, *, query: bool = False) -> re.Pattern[str]:
    """A URL pattern for ``path`` on the live server, optionally followed by a query string."""
    tail = r"(\?.*)?" if query else ""
    return re.compile(re.escape(f"{live_server.url}{path}") + tail + "$")


@pytest.fixture
def investigator(user_with_role: Any) -> Any:
    return user_with_role(Role.INVESTIGATOR, username="farhana")


def fill_registration(page: Page, *, mobile: str) -> None:
    """Fill every field of the registration form as the coordinator would, for a 35-year-old woman."""
    today = timezone.localdate()
    consented_at = timezone.localtime() - timedelta(minutes=30)

    participant = page.get_by_role("group", name="Participant")
    participant.get_by_label("Screening date").fill(today.isoformat())
    participant.get_by_label("Initials").fill("nak")
    participant.get_by_label("Date of birth").fill(today.replace(year=today.year - 35).isoformat())
    participant.get_by_label("Sex").select_option(label="Female")
    participant.get_by_label("Mobile phone").fill(mobile)
    participant.get_by_label("Preferred language").select_option(label="Bangla")
    participant.get_by_label("Visit reminders by").select_option(label="SMS")
    participant.get_by_label("Agrees to receive visit reminders").check()

    consent = page.get_by_role("group", name="Informed consent")
    consent.get_by_label("Consent form version").select_option(index=1)
    consent.get_by_label("Date and time of consent").fill(consented_at.strftime("%Y-%m-%dT%H:%M"))
    consent.get_by_label("Consent obtained by").select_option(label="Rahima")
    consent.get_by_label("Signed by").select_option(label="Thumbprint, with an impartial witness")
    consent.get_by_label("Impartial witness").fill("Abdul Karim")
    consent.get_by_label("A signed copy was given to the participant").check()


def test_coordinator_registers_a_participant_with_consent_and_finds_them_in_the_log(
    page: Page, live_server: Any, log_in: Callable[..., None], coordinator: Any
) -> None:
    log_in(page, coordinator.username)
    page.goto(f"{live_server.url}/screening/")
    expect(page.get_by_test_id("screening-log")).to_contain_text("No participants.")

    page.get_by_test_id("register-DHK").click()
    expect(page).to_have_url(at_path(live_server, "/screening/register/DHK/"))
    expect(page.get_by_role("heading", name="Register a participant at BSMMU Dhaka")).to_be_visible()

    fill_registration(page, mobile="01812 345678")
    page.get_by_role("button", name="Register with consent").click()

    expect(page).to_have_url(at_path(live_server, "/screening/DHK-S-0001/"))
    expect(page.get_by_role("alert")).to_contain_text("DHK-S-0001 registered with consent.")
    expect(page.get_by_role("heading", name="DHK-S-0001", level=1)).to_contain_text("NAK")
    expect(page.locator("h1 + span[data-status]")).to_have_attribute("data-status", "consented")
    decision = page.get_by_test_id("decision")
    expect(decision.locator("strong")).to_have_text("Incomplete")
    criteria = page.get_by_test_id("criteria")
    expect(criteria.locator("tbody tr")).to_have_count(21)
    for code in CRITERIA_CODES:
        expect(criteria.locator(f'tr[data-code="{code}"]')).to_have_count(1)
    forms = page.get_by_test_id("forms")
    expect(forms.get_by_role("link", name="Enter")).to_have_count(5)
    expect(page.get_by_test_id("confirm")).to_have_count(0)

    participant = Participant.objects.get()
    assert participant.mobile_phone == "+8801812345678"
    assert participant.consent.signature_method == "thumbprint"
    assert participant.consent.witness_name == "Abdul Karim"

    page.get_by_role("navigation", name="breadcrumb").get_by_role("link", name="Screening log").click()

    expect(page).to_have_url(at_path(live_server, "/screening/"))
    rows = page.get_by_test_id("screening-log").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.get_by_role("link", name="DHK-S-0001")).to_be_visible()
    expect(rows.first).to_contain_text("NAK")
    expect(rows.first.locator("span[data-status]")).to_have_attribute("data-status", "consented")
    expect(rows.first.locator("span[data-status]")).to_have_text("Consented")
    expect(rows.first).to_contain_text("0/5")


def test_a_mobile_number_that_is_not_one_is_shown_under_the_field_and_nothing_is_registered(
    page: Page, live_server: Any, log_in: Callable[..., None], coordinator: Any
) -> None:
    log_in(page, coordinator.username)
    page.goto(f"{live_server.url}/screening/register/DHK/")

    fill_registration(page, mobile="12345")
    page.get_by_role("button", name="Register with consent").click()

    expect(page).to_have_url(at_path(live_server, "/screening/register/DHK/"))
    phone = page.get_by_label("Mobile phone")
    expect(phone).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(phone).to_have_value("12345")
    phone_feedback = page.locator(".mb-3", has=phone).locator(".invalid-feedback")
    expect(phone_feedback).to_be_visible()
    expect(phone_feedback).to_contain_text("Enter a mobile phone number, for example 01712 345678")
    expect(page.locator(".invalid-feedback")).to_have_count(1)  # only the phone is wrong
    # What was typed elsewhere is kept, so only the phone needs correcting.
    expect(page.get_by_label("Initials")).to_have_value("nak")
    expect(page.get_by_label("Impartial witness")).to_have_value("Abdul Karim")
    assert not Participant.objects.exists()

    # The log is still empty (a second tab, so the screenshot keeps the form with its message).
    log_tab = page.context.new_page()
    log_tab.goto(f"{live_server.url}/screening/")
    expect(log_tab.get_by_test_id("screening-log")).to_contain_text("No participants.")
    expect(log_tab.get_by_test_id("screening-log").get_by_role("link")).to_have_count(0)
    log_tab.close()


def test_investigator_confirms_and_a_later_lab_correction_voids_the_confirmation(
    page: Page,
    live_server: Any,
    log_in: Callable[..., None],
    site: Any,
    coordinator: Any,
    investigator: Any,
) -> None:
    participant = screen_eligible(register(site, coordinator), coordinator)
    number = participant.screening_number
    summary_url = f"{live_server.url}/screening/{number}/"

    log_in(page, investigator.username)
    page.goto(summary_url)
    decision = page.get_by_test_id("decision")
    expect(decision.locator("strong")).to_have_text("Eligible")
    expect(page.get_by_test_id("criteria").locator("tbody tr")).to_have_count(21)
    expect(page.get_by_test_id("criteria").locator('[data-in-favour="no"]')).to_have_count(0)
    expect(page.get_by_test_id("forms").get_by_role("link", name="Edit")).to_have_count(5)

    page.get_by_test_id("confirm").click()  # the confirmation page: the decision and what confirming permits
    expect(page).to_have_url(at_path(live_server, f"/screening/{number}/confirm/"))
    expect(page.get_by_test_id("what-it-permits")).to_contain_text("It permits randomisation")
    page.get_by_test_id("confirm-eligibility").click()

    expect(page).to_have_url(at_path(live_server, f"/screening/{number}/"))
    expect(page.get_by_role("alert")).to_contain_text("Eligibility confirmed.")
    expect(page.get_by_test_id("confirmation")).to_contain_text("Eligibility confirmed by Farhana")
    expect(page.locator("h1 + span[data-status]")).to_have_attribute("data-status", "confirmed")
    expect(page.get_by_test_id("confirm")).to_have_count(0)

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(at_path(live_server, "/accounts/login/"))
    log_in(page, coordinator.username)
    expect(page).to_have_url(at_path(live_server, "/"))
    page.goto(summary_url)
    labs_item = page.get_by_test_id("forms").locator("li", has_text="Screening laboratory values")
    labs_item.get_by_role("link", name="Edit").click()

    expect(page).to_have_url(at_path(live_server, f"/screening/{number}/forms/labs/"))
    expect(page.get_by_role("heading", name="Screening laboratory values", level=1)).to_be_visible()
    haemoglobin = page.get_by_label("Haemoglobin")
    expect(haemoglobin).to_have_value("12.1")
    haemoglobin.fill("7.9")
    page.get_by_role("button", name="Save").click()

    # Without a reason nothing is saved: the page says why, next to the reason field.
    expect(page).to_have_url(at_path(live_server, f"/screening/{number}/forms/labs/"))
    reason = page.get_by_label("Reason for change")
    expect(reason).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(page.locator(".invalid-feedback", has_text="Give the reason for changing saved data.")).to_be_visible()
    expect(page.get_by_label("Haemoglobin")).to_have_value("7.9")
    assert ScreeningLabs.objects.get().hb_g_dl == 12.1
    assert participant.confirmations.filter(voided_at=None).count() == 1

    reason.fill("repeat sample")
    page.get_by_role("button", name="Save").click()

    expect(page).to_have_url(at_path(live_server, f"/screening/{number}/"))
    expect(page.get_by_role("alert")).to_contain_text("saved.")
    expect(decision.locator("strong")).to_have_text("Not eligible")
    expect(decision).to_contain_text("Against eligibility: E17")
    e17 = page.get_by_test_id("criteria").locator('tr[data-code="E17"]')
    expect(e17).to_contain_text("exclusion present")
    expect(e17).to_contain_text("7.9")
    expect(page.get_by_test_id("confirmation")).to_have_count(0)
    voided = page.get_by_test_id("voided-confirmation")
    expect(voided).to_have_count(1)
    expect(voided).to_contain_text("Farhana")
    expect(voided).to_contain_text("repeat sample")
    expect(page.get_by_test_id("screen-fail")).to_be_visible()
    expect(page.get_by_test_id("confirm")).to_have_count(0)
    assert ScreeningLabs.objects.get().hb_g_dl == 7.9


def test_the_log_filters_by_status_and_counts_screen_failures_by_criterion(
    page: Page,
    live_server: Any,
    log_in: Callable[..., None],
    site: Any,
    coordinator: Any,
    investigator: Any,
) -> None:
    confirmed = screen_eligible(register(site, coordinator, initials="ELG"), coordinator)
    services.eligibility_confirm(participant=confirmed, by=investigator)
    failed = screen_eligible(register(site, coordinator, initials="FLD"), coordinator, mrss_per_area=0)
    services.screen_failure_record(participant=failed, by=coordinator)
    consented = register(site, coordinator, initials="NEW")

    log_in(page, coordinator.username)
    page.goto(f"{live_server.url}/screening/")

    log = page.get_by_test_id("screening-log")
    rows = log.locator("tbody tr")
    expect(rows).to_have_count(3)
    expected = {confirmed: "confirmed", failed: "screen_failed", consented: "consented"}
    for participant, status in expected.items():
        row = rows.filter(has=page.get_by_role("link", name=participant.screening_number, exact=True))
        expect(row).to_have_count(1)
        expect(row.locator("span[data-status]")).to_have_attribute("data-status", status)
    failures = page.get_by_test_id("failures-by-code")
    expect(failures).to_be_visible()
    expect(failures.locator("li")).to_have_count(1)
    expect(failures.locator("li")).to_contain_text("I4")
    expect(failures.locator("li")).to_contain_text("1")

    page.get_by_label("Status", exact=True).select_option(label="Screen failed (1)")
    page.get_by_role("button", name="Filter").click()

    expect(page).to_have_url(
        re.compile(re.escape(f"{live_server.url}/screening/?") + r"(.*&)?status=screen_failed(&|$)")
    )
    expect(rows).to_have_count(1)
    expect(rows.first.get_by_role("link", name=failed.screening_number, exact=True)).to_be_visible()
    expect(rows.first).to_contain_text("FLD")
    expect(rows.first.locator("span[data-status]")).to_have_text("Screen failed")
    expect(rows.first).to_contain_text("I4")
    expect(log).not_to_contain_text(confirmed.screening_number)
    expect(log).not_to_contain_text(consented.screening_number)
    expect(page.get_by_label("Status", exact=True)).to_have_value("screen_failed")
