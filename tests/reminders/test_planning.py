"""Reminders are planned from the schedule and the participant's choices, and follow every change to them."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from reminders.models import Reminder
from reminders.services import reminders_plan
from screening import services as screening_services
from screening.models.consent import ConsentWithdrawal, WithdrawalScope
from visits import services as visit_services

DHAKA = ZoneInfo("Asia/Dhaka")


def live(participant: Any) -> list[Reminder]:
    return list(
        Reminder.objects.filter(participant=participant, status__in=["planned", "sending"]).select_related("visit")
    )


def test_randomisation_plans_sms_reminders_3_and_1_days_before_each_visit_at_9_site_time(participant: Any) -> None:
    reminders = live(participant)
    visits_ahead = participant.visits.filter(planned_date__gt=timezone.localdate()).exclude(code="D1")
    assert {r.visit.code for r in reminders} == {v.code for v in visits_ahead} == {
        "W2", "W4", "W8", "W12", "W16", "W20", "W24",
    }  # fmt: skip
    assert len(reminders) == 2 * visits_ahead.count()
    for reminder in reminders:
        assert reminder.channel == "sms" and reminder.status == "planned"
        local = timezone.localtime(reminder.due_at, DHAKA)
        assert local.time() == time(9, 0)
        assert (reminder.visit_date - local.date()).days == reminder.offset_days
        assert reminder.visit_date == reminder.visit.planned_date


def test_planning_again_changes_nothing(participant: Any) -> None:
    before = sorted((r.pk, r.due_at) for r in live(participant))
    result = reminders_plan(participant_id=participant.pk)
    assert (result.created, result.cancelled) == (0, 0)
    assert sorted((r.pk, r.due_at) for r in live(participant)) == before


def test_rescheduling_cancels_the_old_reminders_and_plans_new_ones(participant: Any, coordinator: Any) -> None:
    w4 = participant.visits.get(code="W4")
    old = {r.pk for r in live(participant) if r.visit_id == w4.pk}
    new_date = w4.planned_date + timedelta(days=2)
    visit_services.visit_reschedule(visit=w4, by=coordinator, planned_date=new_date, reason="patient travels")

    cancelled = Reminder.objects.filter(pk__in=old)
    assert {r.status for r in cancelled} == {"cancelled"}
    assert {r.cancel_reason for r in cancelled} == {"visit rescheduled"}
    moved = [r for r in live(participant) if r.visit_id == w4.pk]
    assert sorted(r.offset_days for r in moved) == [1, 3]
    assert {r.visit_date for r in moved} == {new_date}
    assert {timezone.localtime(r.due_at, DHAKA).date() for r in moved} == {
        new_date - timedelta(days=3), new_date - timedelta(days=1),
    }  # fmt: skip

    # Back to the original date: new live reminders again (the cancelled rows stay, as history).
    visit_services.visit_reschedule(visit=w4, by=coordinator, planned_date=w4.target_date, reason="back again")
    assert {r.visit_date for r in live(participant) if r.visit_id == w4.pk} == {w4.target_date}
    assert Reminder.objects.filter(visit=w4).count() == 6


def test_a_visit_done_or_missed_early_has_its_pending_reminders_cancelled(participant: Any, coordinator: Any) -> None:
    w2 = participant.visits.get(code="W2")
    # W2 (day 15, window ±3) cannot be done today; make it missed, which is allowed any time.
    visit_services.visit_record_missed(visit=w2, by=coordinator, reason="admitted to another hospital")
    assert {r.cancel_reason for r in Reminder.objects.filter(visit=w2)} == {"visit missed"}
    assert all(r.visit_id != w2.pk for r in live(participant))


def test_withdrawal_of_follow_up_cancels_every_pending_reminder(participant: Any, coordinator: Any) -> None:
    withdrawal = ConsentWithdrawal(
        participant=participant, withdrawn_on=timezone.localdate(), scope=WithdrawalScope.FOLLOW_UP
    )
    screening_services.consent_withdraw(withdrawal=withdrawal, by=coordinator)
    assert live(participant) == []
    assert set(Reminder.objects.filter(participant=participant).values_list("cancel_reason", flat=True)) == {
        "consent withdrawn"
    }


def test_withdrawal_of_treatment_only_keeps_the_reminders(participant: Any, coordinator: Any) -> None:
    count = len(live(participant))
    withdrawal = ConsentWithdrawal(
        participant=participant, withdrawn_on=timezone.localdate(), scope=WithdrawalScope.TREATMENT
    )
    screening_services.consent_withdraw(withdrawal=withdrawal, by=coordinator)
    assert len(live(participant)) == count


def test_end_of_study_cancels_pending_reminders(participant: Any, coordinator: Any) -> None:
    visit_services.end_of_study_record(
        participant=participant, by=coordinator, ended_on=timezone.localdate(), reason="lost", details="moved away"
    )
    assert live(participant) == []


def change_choices(participant: Any, by: Any, **choices: Any) -> None:
    for name, value in choices.items():
        setattr(participant, name, value)
    screening_services.participant_details_change(participant=participant, by=by, reason="asked at the clinic")


def test_opting_out_cancels_pending_reminders_and_opting_in_plans_them(participant: Any, coordinator: Any) -> None:
    change_choices(participant, coordinator, reminder_channel="none")
    assert live(participant) == []
    assert set(Reminder.objects.values_list("cancel_reason", flat=True)) == {"reminder choice changed"}
    history = participant.history.first()
    assert history.reminder_channel == "none" and history.history_change_reason == "asked at the clinic"

    change_choices(participant, coordinator, reminder_channel="both", email="patient@example.org")
    channels = sorted(r.channel for r in live(participant))
    assert channels.count("sms") == channels.count("email") == 14


def test_consent_to_reminders_withdrawn_cancels_them(participant: Any, coordinator: Any) -> None:
    change_choices(participant, coordinator, reminder_consent=False)
    assert live(participant) == []


def test_a_visit_tomorrow_whose_reminders_are_due_already_gets_one_late_reminder_now(
    participant: Any, coordinator: Any
) -> None:
    w2 = participant.visits.get(code="W2")
    now = datetime.combine(w2.earliest - timedelta(days=1), time(10, 0), tzinfo=DHAKA)
    visit_services.visit_reschedule(visit=w2, by=coordinator, planned_date=w2.earliest, reason="earlier")
    Reminder.objects.filter(visit=w2, status="planned").update(status="cancelled")  # start from nothing
    reminders_plan(participant_id=participant.pk, now=now)
    [late] = [r for r in live(participant) if r.visit_id == w2.pk]
    assert late.offset_days == 1 and late.due_at == now


def test_the_database_refuses_a_second_live_reminder_of_one_visit_offset_and_channel(participant: Any) -> None:
    first = live(participant)[0]
    duplicate = Reminder(
        site=first.site, participant=participant, visit=first.visit, visit_date=first.visit_date,
        offset_days=first.offset_days, channel=first.channel, due_at=first.due_at,
    )  # fmt: skip
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()
