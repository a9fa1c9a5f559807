"""Delivery: the sweep hands out due reminders, each is delivered once, retried with backoff when the gateway
fails, held in quiet hours and by the daily cap, and failures are visible."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from reminders import services
from reminders.models import DeliveryAttempt, Reminder
from reminders.sms import outbox_messages
from reminders.tasks import send_reminder
from screening import services as screening_services
from screening.models.consent import ConsentWithdrawal, WithdrawalScope
from visits import services as visit_services

DHAKA = ZoneInfo("Asia/Dhaka")


def first_reminders(participant: Any, n: int = 1, *, channel: str = "sms") -> list[Reminder]:
    """The participant's n earliest planned reminders of the channel, made due a minute ago."""
    reminders = list(
        Reminder.objects.filter(participant=participant, status="planned", channel=channel).order_by("due_at")[:n]
    )
    Reminder.objects.filter(pk__in=[r.pk for r in reminders]).update(due_at=timezone.now() - timedelta(minutes=1))
    return reminders


def sweep(capture: Any) -> list[int]:
    """One sweep; its delivery tasks run (eagerly, in this process) once it commits."""
    with capture(execute=True):
        return services.reminders_sweep()


def test_a_due_reminder_is_sent_once_in_bangla_to_the_outbox(
    daytime_site: Any, participant: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    [reminder] = first_reminders(participant)
    assert sweep(django_capture_on_commit_callbacks) == [reminder.pk]

    reminder.refresh_from_db()
    assert reminder.status == "sent" and reminder.sent_at is not None and reminder.attempts == 1
    [message] = outbox_messages(settings.SMS_OUTBOX_PATH)
    assert message["to"] == participant.mobile_phone and message["key"] == f"reminder-{reminder.pk}"
    assert message["text"].startswith("স্মরণ করিয়ে দিচ্ছি")  # Bangla, the participant's language
    assert reminder.message_text == message["text"] and reminder.provider_message_id == message["message_id"]
    assert DeliveryAttempt.objects.get(reminder=reminder).succeeded

    # Nothing goes twice: another sweep finds nothing, and a stray second task does nothing.
    assert sweep(django_capture_on_commit_callbacks) == []
    assert send_reminder.delay(reminder.pk).get() == "skipped"
    assert len(outbox_messages(settings.SMS_OUTBOX_PATH)) == 1


def test_an_email_reminder_in_english_carries_the_reminder_as_its_message_id(
    daytime_site: Any, participant: Any, coordinator: Any, django_capture_on_commit_callbacks: Any
) -> None:
    participant.reminder_channel, participant.email, participant.preferred_language = "email", "p@example.org", "en"
    screening_services.participant_details_change(participant=participant, by=coordinator, reason="prefers e-mail")
    mail.outbox.clear()
    [reminder] = first_reminders(participant, channel="email")
    sweep(django_capture_on_commit_callbacks)
    [message] = mail.outbox
    assert message.to == ["p@example.org"]
    assert message.subject.startswith("Reminder of your clinic visit on ")
    assert message.extra_headers["Message-ID"].startswith(f"<reminder-{reminder.pk}@")
    assert "BSMMU" in message.body or participant.site.name in message.body


def test_quiet_hours_hold_a_message_until_8_in_the_morning(participant: Any) -> None:
    [reminder] = first_reminders(participant)
    Reminder.objects.filter(pk=reminder.pk).update(status="sending", claimed_at=timezone.now())
    night = datetime(2026, 12, 1, 21, 0, tzinfo=DHAKA)
    assert services.reminder_deliver(reminder_id=reminder.pk, now=night) == "held"
    reminder.refresh_from_db()
    assert reminder.status == "planned" and reminder.due_at == datetime(2026, 12, 2, 8, 0, tzinfo=DHAKA)

    Reminder.objects.filter(pk=reminder.pk).update(status="sending")
    evening = datetime(2026, 12, 1, 20, 59, 59, tzinfo=DHAKA)
    assert services.reminder_deliver(reminder_id=reminder.pk, now=evening) == "sent"


def test_at_most_one_message_per_participant_per_channel_per_day(participant: Any) -> None:
    first, second = first_reminders(participant, 2)
    Reminder.objects.filter(pk__in=[first.pk, second.pk]).update(status="sending", claimed_at=timezone.now())
    morning = timezone.localtime(timezone.now(), DHAKA).replace(hour=10, minute=0, second=0, microsecond=0)
    assert services.reminder_deliver(reminder_id=first.pk, now=morning) == "sent"
    assert services.reminder_deliver(reminder_id=second.pk, now=morning + timedelta(hours=1)) == "held"
    second.refresh_from_db()
    assert second.status == "planned"
    assert second.due_at == datetime.combine(morning.date() + timedelta(days=1), time(9, 0), tzinfo=DHAKA)


@pytest.mark.parametrize(("failure", "error"), [("http-500", "HTTP 500"), ("timeout", "did not answer within 1 s")])
def test_gateway_down_retries_with_backoff_then_fails_visibly_and_data_entry_goes_on(
    daytime_site: Any, participant: Any, coordinator: Any, http_sms_settings: Any, settings: Any,
    django_capture_on_commit_callbacks: Any, user_with_role: Any, failure: str, error: str, caplog: Any,
) -> None:  # fmt: skip
    gateway = http_sms_settings
    caplog.set_level("WARNING", logger="reminders.tasks")
    if failure == "timeout":
        settings.SMS_GATEWAY_TIMEOUT_SECONDS = 1
        gateway.hang_next(100, seconds=2)
    else:
        gateway.fail_next(100, status=500)
    [reminder] = first_reminders(participant)
    sweep(django_capture_on_commit_callbacks)

    reminder.refresh_from_db()
    assert reminder.status == "failed" and error in reminder.last_error
    assert reminder.attempts == settings.REMINDER_MAX_RETRIES + 1 == gateway.requests
    assert gateway.delivered == []
    assert DeliveryAttempt.objects.filter(reminder=reminder, succeeded=False).count() == reminder.attempts
    # Each retry waits twice as long as the one before, with jitter: between half and all of base × 2^k.
    delays = [float(m) for m in re.findall(r"retry \d+ in ([\d.]+) s", caplog.text)]
    assert len(delays) == settings.REMINDER_MAX_RETRIES
    base = settings.REMINDER_RETRY_BASE_SECONDS
    for k, delay in enumerate(delays):
        assert base * 2**k / 2 - 0.5 <= delay <= base * 2**k + 0.5, (k, delays)

    # The site sees it on the participant's page; the administrator on the delivery page.
    client = Client()
    client.force_login(coordinator)
    page = client.get(f"/reminders/participants/{participant.screening_number}/").content.decode()
    assert 'data-status="failed"' in page and error in page
    client.force_login(user_with_role("administrator"))
    delivery = client.get("/reminders/delivery/").content.decode()
    assert 'data-backend="sms-http"' in delivery and error in delivery

    # Data entry is not affected by the gateway: a visit is rescheduled and saved as usual.
    w4 = participant.visits.get(code="W4")
    visit_services.visit_reschedule(visit=w4, by=coordinator, planned_date=w4.latest, reason="patient asked")
    w4.refresh_from_db()
    assert w4.planned_date == w4.latest


def test_a_send_accepted_but_unanswered_is_retried_without_a_second_message(
    daytime_site: Any, participant: Any, http_sms_settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    gateway = http_sms_settings
    gateway.accept_then_fail_next(1)  # the gateway takes the message, then answers 500
    [reminder] = first_reminders(participant)
    sweep(django_capture_on_commit_callbacks)

    reminder.refresh_from_db()
    assert gateway.requests == 2 and len(gateway.delivered) == 1
    assert reminder.status == "sent" and reminder.attempts == 2
    assert reminder.provider_message_id == gateway.delivered[0]["message_id"]


def test_a_gateway_that_times_out_after_delivering_is_not_asked_to_deliver_twice(
    daytime_site: Any, participant: Any, http_sms_settings: Any, settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:  # fmt: skip
    gateway = http_sms_settings
    settings.SMS_GATEWAY_TIMEOUT_SECONDS = 1
    gateway.stall_next(1, seconds=2)
    [reminder] = first_reminders(participant)
    sweep(django_capture_on_commit_callbacks)
    reminder.refresh_from_db()
    assert "did not answer" in DeliveryAttempt.objects.filter(reminder=reminder, succeeded=False).get().error
    assert reminder.status == "sent" and len(gateway.delivered) == 1


def test_a_refused_message_fails_at_once_without_retries(
    daytime_site: Any, participant: Any, http_sms_settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    http_sms_settings.fail_next(1, status=400)
    [reminder] = first_reminders(participant)
    sweep(django_capture_on_commit_callbacks)
    reminder.refresh_from_db()
    assert reminder.status == "failed" and reminder.attempts == 1 and http_sms_settings.requests == 1


def test_a_reminder_withdrawn_between_sweep_and_delivery_is_not_sent(
    participant: Any, coordinator: Any, settings: Any
) -> None:
    [reminder] = first_reminders(participant)
    assert services.reminders_sweep() == [reminder.pk]  # claimed; its task has not run yet
    withdrawal = ConsentWithdrawal(
        participant=participant, withdrawn_on=timezone.localdate(), scope=WithdrawalScope.FOLLOW_UP
    )
    screening_services.consent_withdraw(withdrawal=withdrawal, by=coordinator)
    noon = timezone.localtime(timezone.now(), DHAKA).replace(hour=12)
    assert services.reminder_deliver(reminder_id=reminder.pk, now=noon) == "skipped"
    reminder.refresh_from_db()
    assert reminder.status == "cancelled" and outbox_messages(settings.SMS_OUTBOX_PATH) == []


def test_a_reminder_stuck_in_sending_is_handed_out_again_after_the_timeout(participant: Any, settings: Any) -> None:
    [reminder] = first_reminders(participant)
    now = timezone.now()
    Reminder.objects.filter(pk=reminder.pk).update(
        status="sending", claimed_at=now - timedelta(minutes=settings.REMINDER_STUCK_MINUTES - 1)
    )
    assert services.reminders_sweep(now=now) == []  # its worker may still be at it
    Reminder.objects.filter(pk=reminder.pk).update(
        claimed_at=now - timedelta(minutes=settings.REMINDER_STUCK_MINUTES + 1)
    )
    assert services.reminders_sweep(now=now) == [reminder.pk]


def test_send_now_needs_a_reason_and_the_permission(
    participant: Any, coordinator: Any, assessor: Any, user_with_role: Any, django_capture_on_commit_callbacks: Any
) -> None:
    reminder = Reminder.objects.filter(participant=participant, status="planned").order_by("-due_at").first()
    url = f"/reminders/{reminder.pk}/send-now/"
    client = Client()
    client.force_login(coordinator)
    refused = client.post(url, {"reason": "  "})
    assert refused.status_code == 400 and "This field is required" in refused.content.decode()
    reminder.refresh_from_db()
    assert reminder.send_now_at is None

    with django_capture_on_commit_callbacks(execute=False):
        assert client.post(url, {"reason": "patient lost the first message"}).status_code == 302
    reminder.refresh_from_db()
    assert reminder.send_now_by == coordinator and reminder.send_now_reason == "patient lost the first message"
    assert reminder.due_at <= timezone.now() and reminder.status == "planned"

    for outsider in (assessor, user_with_role("monitor")):
        client.force_login(outsider)
        assert client.post(url, {"reason": "x"}).status_code == 403
