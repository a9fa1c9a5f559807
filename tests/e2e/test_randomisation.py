"""Randomisation in a real browser: the statistician's list, randomising, blinding and emergency unblinding."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from randomization import services
from randomization.models import Allocation, AllocationList, AllocationSlot, Unblinding
from tests.randomization.factories import confirmed_participant, list_in_use
from trial_site.protocol import PROTOCOL
from trial_site.roles import Role

pytestmark = pytest.mark.e2e

UNBLINDING_REASON = "severe reaction: needs treatment decision"


def at_path(live_server: Any, path: str, *, query: bool = False) -> re.Pattern[str]:
    """A URL pattern for ``path`` on the live server, optionally followed by a query string."""
    tail = r"(\?.*)?" if query else ""
    return re.compile(re.escape(f"{live_server.url}{path}") + tail + "$")


def treatment_text(arm_code: str) -> str:
    """The treatment as the allocation page shows it to an unblinded user."""
    arm = PROTOCOL.arm(arm_code)
    return f"Arm {arm.code}: {arm.drug}, {arm.dose}, {arm.frequency}"


@pytest.fixture
def investigator(user_with_role: Any) -> Any:
    return user_with_role(Role.INVESTIGATOR, username="farhana")


@pytest.fixture
def statistician(user_with_role: Any) -> Any:
    return user_with_role(Role.STATISTICIAN, username="kamal")


@pytest.fixture
def assessor(user_with_role: Any) -> Any:
    return user_with_role(Role.BLINDED_ASSESSOR, username="nasrin")


def test_statistician_generates_a_list_and_puts_it_in_use(
    page: Page, live_server: Any, log_in: Callable[..., None], statistician: Any
) -> None:
    log_in(page, statistician.username)
    expect(page).to_have_url(at_path(live_server, "/"))
    page.goto(f"{live_server.url}/randomization/")
    page.get_by_role("link", name="Allocation lists").click()

    expect(page).to_have_url(at_path(live_server, "/randomization/lists/"))
    expect(page.get_by_test_id("lists")).to_contain_text("No list yet.")
    generate = page.locator("form", has=page.get_by_role("button", name="Generate"))
    generate.get_by_label("Name of the list").fill("main v1")
    generate.get_by_label("Slots per stratum").fill("24")
    generate.get_by_label("Block sizes").fill("2, 4")
    generate.get_by_role("button", name="Generate").click()

    expect(page).to_have_url(re.compile(re.escape(f"{live_server.url}/randomization/lists/") + r"\d+/$"))
    expect(page.get_by_role("alert")).to_contain_text("List main v1 stored.")
    heading = page.get_by_role("heading", name="main v1", level=1)
    expect(heading).to_be_visible()
    expect(heading.get_by_text("in use")).to_have_count(0)
    checksum = page.get_by_test_id("checksum")
    expect(checksum).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    usage_rows = page.get_by_test_id("usage").locator("tbody tr")
    expect(usage_rows).to_have_count(2)
    allocation_list = AllocationList.objects.get()
    assert allocation_list.name == "main v1"
    assert allocation_list.block_sizes == [2, 4]
    assert allocation_list.slots_per_stratum == 24
    assert not allocation_list.is_active
    expect(checksum).to_have_text(allocation_list.checksum)
    for stratum in ("DHK/early", "DHK/late"):
        # Whole blocks only: at least the 24 slots asked for, fewer than 24 + the largest block (4).
        slots = allocation_list.slots.filter(stratum=stratum).count()
        assert 24 <= slots < 28, (stratum, slots)
        row = usage_rows.filter(has=page.get_by_role("cell", name=stratum, exact=True))
        expect(row).to_have_count(1)
        expect(row.locator("td").nth(1)).to_have_text(str(slots))  # slots
        expect(row.locator("td").nth(2)).to_have_text("0")  # used

    page.get_by_role("button", name="Put in use").click()

    expect(page).to_have_url(at_path(live_server, f"/randomization/lists/{allocation_list.pk}/"))
    expect(page.get_by_role("alert")).to_contain_text("main v1 is now in use.")
    expect(heading.locator(".badge")).to_have_text("in use")
    expect(page.get_by_role("button", name="Put in use")).to_have_count(0)
    assert AllocationList.objects.get().is_active


def test_investigator_randomises_a_confirmed_participant_once(
    page: Page,
    live_server: Any,
    log_in: Callable[..., None],
    site: Any,
    coordinator: Any,
    investigator: Any,
    statistician: Any,
) -> None:
    list_in_use(statistician)
    participant = confirmed_participant(site, coordinator, investigator)
    number = participant.screening_number
    expected_arm = AllocationSlot.objects.get(stratum="DHK/early", sequence=1).arm
    other_arm = next(arm for arm in PROTOCOL.arms if arm.code != expected_arm)

    log_in(page, investigator.username)
    expect(page).to_have_url(at_path(live_server, "/"))
    page.goto(f"{live_server.url}/randomization/")
    awaiting = page.get_by_role("listitem").filter(has_text=number)
    expect(page.get_by_test_id("awaiting").locator("li")).to_have_count(1)
    expect(awaiting).to_contain_text(participant.initials)
    expect(page.get_by_test_id("randomised")).to_contain_text("No one is randomised yet.")

    awaiting.get_by_role("link", name="Open").click()

    expect(page).to_have_url(at_path(live_server, f"/randomization/participants/{number}/"))
    expect(page.get_by_role("heading", name=number, level=1)).to_be_visible()
    expect(page.get_by_test_id("refusal")).to_have_count(0)
    expect(page.get_by_test_id("allocation")).to_have_count(0)

    page.get_by_test_id("randomise").click()  # the confirmation page: the stratum, no arm yet
    expect(page).to_have_url(at_path(live_server, f"/randomization/participants/{number}/randomise/"))
    expect(page.get_by_test_id("stratum")).to_have_text("DHK/early")
    expect(page.get_by_test_id("randomise-facts")).not_to_contain_text(other_arm.drug)
    page.get_by_test_id("randomise-confirm").click()

    expect(page).to_have_url(at_path(live_server, f"/randomization/participants/{number}/"))
    expect(page.get_by_role("alert")).to_contain_text("Randomised: DHK-R-001.")
    allocation_card = page.get_by_test_id("allocation")
    expect(allocation_card).to_contain_text("DHK-R-001")
    expect(allocation_card).to_contain_text("by Farhana")
    treatment = page.get_by_test_id("treatment")
    expect(treatment).to_have_text(treatment_text(expected_arm))
    expect(treatment).not_to_contain_text(other_arm.drug)
    expect(page.get_by_test_id("randomise")).to_have_count(0)
    allocation = Allocation.objects.get()
    assert allocation.randomisation_number == "DHK-R-001"
    assert allocation.stratum == "DHK/early"
    assert allocation.arm == expected_arm
    assert allocation.slot.sequence == 1

    page.get_by_role("navigation", name="breadcrumb").get_by_role("link", name="Randomisation").click()

    expect(page).to_have_url(at_path(live_server, "/randomization/"))
    expect(page.get_by_test_id("awaiting")).to_contain_text("No one is waiting.")
    expect(page.get_by_test_id("awaiting").get_by_role("link")).to_have_count(0)
    rows = page.get_by_test_id("randomised").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(number)
    arm = PROTOCOL.arm(expected_arm)
    expect(rows.first).to_contain_text(f"Arm {arm.code}: {arm.drug}")

    rows.first.get_by_role("link", name="DHK-R-001").click()

    # Back on the allocation page, there is no way to randomise again.
    expect(page).to_have_url(at_path(live_server, f"/randomization/participants/{number}/"))
    expect(page.get_by_test_id("allocation")).to_contain_text("DHK-R-001")
    expect(page.get_by_test_id("randomise")).to_have_count(0)
    expect(page.get_by_role("button", name="Randomise")).to_have_count(0)
    assert Allocation.objects.count() == 1


def test_blinded_assessor_sees_no_arm_until_an_emergency_unblinding_that_is_logged(
    page: Page,
    browser: Browser,
    live_server: Any,
    log_in: Callable[..., None],
    site: Any,
    coordinator: Any,
    investigator: Any,
    statistician: Any,
    assessor: Any,
    monitor: Any,
    password: str,
) -> None:
    list_in_use(statistician)
    participant = confirmed_participant(site, coordinator, investigator)
    number = participant.screening_number
    allocation = services.participant_randomize(participant=participant, by=investigator)
    allocation_path = f"/randomization/participants/{number}/"
    unblind_path = f"{allocation_path}unblind/"

    log_in(page, assessor.username)
    expect(page).to_have_url(at_path(live_server, "/"))
    page.goto(f"{live_server.url}{allocation_path}")

    expect(page.get_by_test_id("allocation")).to_contain_text(allocation.randomisation_number)
    expect(page.get_by_test_id("treatment")).to_have_text("concealed: you are blinded to the allocation")
    body = page.locator("body")
    for arm in PROTOCOL.arms:
        expect(body).not_to_contain_text(re.compile(re.escape(arm.drug), re.IGNORECASE))
    expect(page.get_by_test_id("randomise")).to_have_count(0)

    page.get_by_role("link", name="Emergency unblinding").click()

    expect(page).to_have_url(at_path(live_server, unblind_path))
    expect(page.get_by_role("heading", name=f"Emergency unblinding: {number}", level=1)).to_be_visible()
    page.get_by_label("Reason").fill(UNBLINDING_REASON)
    page.get_by_label("Your password, again").fill("not-the-right-password")
    page.get_by_role("button", name="Unblind").click()

    # A wrong password: the same page, the error under the password field, nothing unblinded.
    expect(page).to_have_url(at_path(live_server, unblind_path))
    password_field = page.get_by_label("Your password, again")
    expect(password_field).to_have_class(re.compile(r"\bis-invalid\b"))
    password_feedback = page.locator(".mb-3", has=password_field).locator(".invalid-feedback")
    expect(password_feedback).to_be_visible()
    expect(password_feedback).to_have_text("The password is not right.")
    expect(page.locator(".invalid-feedback")).to_have_count(1)
    for arm in PROTOCOL.arms:
        expect(body).not_to_contain_text(re.compile(re.escape(arm.drug), re.IGNORECASE))
    assert not Unblinding.objects.exists()
    check_tab = page.context.new_page()  # a second tab, so the page keeps its state
    check_tab.goto(f"{live_server.url}{allocation_path}")
    expect(check_tab.get_by_test_id("treatment")).to_have_text("concealed: you are blinded to the allocation")
    check_tab.close()

    page.get_by_label("Reason").fill(UNBLINDING_REASON)
    password_field.fill(password)
    page.get_by_role("button", name="Unblind").click()

    expect(page).to_have_url(at_path(live_server, allocation_path))
    expect(page.get_by_role("alert")).to_contain_text("Unblinded.")
    expect(page.get_by_test_id("treatment")).to_have_text(treatment_text(allocation.arm))
    expect(page.get_by_role("link", name="Emergency unblinding")).to_have_count(0)
    unblinding = Unblinding.objects.get()
    assert unblinding.requested_by == assessor
    assert unblinding.reason == UNBLINDING_REASON

    # The monitor (in a browser context of their own, so the screenshot keeps the unblinded page) finds it.
    monitor_context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    try:
        monitor_page = monitor_context.new_page()
        log_in(monitor_page, monitor.username)
        expect(monitor_page).to_have_url(at_path(live_server, "/"))
        monitor_page.goto(f"{live_server.url}/access-log/")
        expect(monitor_page.get_by_role("heading", name="Access log", level=1)).to_be_visible()
        event = (
            monitor_page.get_by_role("row")
            .filter(has=monitor_page.get_by_role("cell", name="Emergency unblinding", exact=True))
            .filter(has=monitor_page.get_by_role("cell", name=assessor.username, exact=True))
        )
        expect(event).to_have_count(1)
        expect(event).to_contain_text(f"{allocation.randomisation_number}: {UNBLINDING_REASON}")
        expect(event).to_contain_text(unblind_path)
    finally:
        monitor_context.close()
