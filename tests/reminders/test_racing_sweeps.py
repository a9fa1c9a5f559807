"""Two sweeps at the same moment, with real threads on PostgreSQL: every due reminder is handed out once and
delivered once (the gateway counts every request it gets, so a second send could not hide)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from reminders import services
from reminders.models import DeliveryAttempt, Reminder
from tests.concurrency.threads import run_together
from tests.randomization.factories import list_in_use
from tests.visits.test_schedule import randomised_on, site_today

PARTICIPANTS = 12


def due_reminders(site: Any, coordinator: Any, investigator: Any, statistician: Any, n: int) -> list[int]:
    """n participants, each with their first SMS reminder due now (one each: the daily cap is per person)."""
    list_in_use(statistician)
    due = []
    for _ in range(n):
        participant = randomised_on(site_today(site), site, coordinator, investigator)
        first = Reminder.objects.filter(participant=participant, channel="sms").order_by("due_at").first()
        due.append(first.pk)
    Reminder.objects.filter(pk__in=due).update(due_at=timezone.now() - timedelta(minutes=1))
    return due


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_two_racing_sweeps_hand_out_and_send_each_reminder_once(
    daytime_site: Any, coordinator: Any, investigator: Any, statistician: Any, http_sms_settings: Any
) -> None:
    gateway = http_sms_settings
    due = due_reminders(daytime_site, coordinator, investigator, statistician, PARTICIPANTS)

    # Each sweep's delivery tasks run in its own thread after its commit (eagerly), while the other sweeps.
    results, errors = run_together([services.reminders_sweep, services.reminders_sweep])

    assert errors == []
    first, second = (set(claimed) for claimed in results)
    assert first.isdisjoint(second) and first | second == set(due)
    assert set(Reminder.objects.filter(pk__in=due).values_list("status", flat=True)) == {"sent"}
    assert gateway.requests == PARTICIPANTS == len(gateway.delivered)
    assert sorted(m["key"] for m in gateway.delivered) == sorted(f"reminder-{pk}" for pk in due)
    assert DeliveryAttempt.objects.count() == PARTICIPANTS


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_two_tasks_for_one_reminder_send_it_once(
    daytime_site: Any, coordinator: Any, investigator: Any, statistician: Any, http_sms_settings: Any
) -> None:
    [pk] = due_reminders(daytime_site, coordinator, investigator, statistician, 1)
    Reminder.objects.filter(pk=pk).update(status="sending", claimed_at=timezone.now())

    results, errors = run_together([lambda: services.reminder_deliver(reminder_id=pk) for _ in range(4)])

    assert errors == []
    assert sorted(results) == ["sent", "skipped", "skipped", "skipped"]
    assert http_sms_settings.requests == 1
