"""Visit reminders in a real browser: a coordinator reads a participant's reminders and sends one now (a reason
is asked for next to the field), the log filters by status, an administrator reads the delivery page."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from reminders.models import Reminder
from reminders.services import reminder_deliver
from tests.randomization.factories import list_in_use
from tests.visits.test_schedule import randomised_on
from trial_site.roles import Role

pytestmark = pytest.mark.e2e


@pytest.fixture
def reminded(site: Any, user_with_role: Any, settings: Any, tmp_path: Any) -> Any:
    settings.SMS_OUTBOX_PATH = tmp_path / "sms.jsonl"
    coordinator = user_with_role(Role.COORDINATOR, username="rahima")
    investigator = user_with_role(Role.INVESTIGATOR, username="farhana")
    list_in_use(user_with_role(Role.STATISTICIAN, username="kamal"))
    participant = randomised_on(timezone.localdate(), site, coordinator, investigator)
    first = Reminder.objects.filter(participant=participant).order_by("due_at").first()
    # As a sweep claims it; delivered at noon site time, whatever the hour the test runs (no quiet hours).
    Reminder.objects.filter(pk=first.pk).update(status="sending", claimed_at=timezone.now())
    noon = timezone.localtime(timezone.now()).replace(hour=12, minute=0)
    reminder_deliver(reminder_id=first.pk, now=noon)
    return participant


def test_coordinator_sends_a_reminder_now_with_a_reason(
    page: Page, live_server: Any, log_in: Any, reminded: Any
) -> None:
    log_in(page, "rahima")
    page.goto(f"{live_server.url}/visits/participants/{reminded.screening_number}/")
    page.get_by_role("link", name="Reminders", exact=True).last.click()

    table = page.get_by_test_id("participant-reminders")
    expect(table.locator('[data-status="sent"]')).to_have_count(1)
    expect(table.locator('[data-status="planned"]')).to_have_count(13)
    table.get_by_text("Message").first.click()
    expect(table).to_contain_text("স্মরণ করিয়ে দিচ্ছি")

    row = table.locator("tr", has=page.locator('[data-status="planned"]')).first
    row.get_by_role("button", name="Send now").click()
    expect(page.locator(".invalid-feedback, .text-danger").first).to_contain_text("required")

    row = page.get_by_test_id("participant-reminders").locator("tr", has=page.locator('[data-status="planned"]')).first
    row.get_by_role("textbox").fill("the participant lost the first message")
    row.get_by_role("button", name="Send now").click()
    expect(page.locator(".alert-success")).to_contain_text("next sweep")
    expect(page.get_by_test_id("participant-reminders")).to_contain_text("send now by rahima", ignore_case=True)

    page.goto(f"{live_server.url}/reminders/?status=sent")
    expect(page.get_by_test_id("reminder-log").locator("tbody tr")).to_have_count(1)


def test_administrator_sees_the_backends_and_the_outbox(
    page: Page, live_server: Any, log_in: Any, reminded: Any, user_with_role: Any
) -> None:
    user_with_role(Role.ADMINISTRATOR, username="admin")
    log_in(page, "admin")
    page.goto(f"{live_server.url}/reminders/")
    page.get_by_role("link", name="Delivery backends and outbox").click()
    expect(page.locator('[data-backend="sms-file"]')).to_be_visible()
    expect(page.get_by_test_id("outbox")).to_contain_text("স্মরণ করিয়ে দিচ্ছি")
    expect(page.get_by_test_id("outbox")).not_to_contain_text(reminded.mobile_phone)


def test_the_reminders_of_a_participant_read_in_bangla(
    page: Page, live_server: Any, log_in: Any, reminded: Any
) -> None:
    log_in(page, "rahima")
    switcher = page.get_by_test_id("language-switcher")
    switcher.get_by_label("Language").select_option("bn")
    switcher.get_by_role("button").click()
    expect(page.locator("html")).to_have_attribute("lang", "bn")

    page.goto(f"{live_server.url}/reminders/participants/{reminded.screening_number}/")
    table = page.get_by_test_id("participant-reminders")
    expect(table.locator('[data-status="sent"]')).to_have_text("পাঠানো হয়েছে")
    expect(table.locator('[data-status="planned"]').first).to_have_text("পরিকল্পিত")
    expect(page.get_by_test_id("reminder-choice")).to_contain_text("বাংলা")
