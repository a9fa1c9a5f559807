"""Demo reminders for ``seed_demo``: the reminders are planned by the schedule itself; here three are asked to go
now (so the demo's worker sends them to the outbox at its first sweep), one participant has replied STOP, and
one gets e-mail reminders too."""

from __future__ import annotations

from typing import Any

from reminders import services
from reminders.models import Reminder
from screening import services as screening_services
from trial_site.models import Site

SEND_NOW = 3


def seed_reminders_demo(*, site: Site, coordinator: Any) -> int:
    """Returns the number of reminders asked to go now (0 when the demo has them already)."""
    if Reminder.objects.filter(site=site).exclude(send_now_at=None).exists():
        return 0
    participants = []
    for reminder in Reminder.objects.filter(site=site, status=Reminder.Status.PLANNED).order_by("due_at"):
        if reminder.participant_id not in {p.pk for p in participants}:
            participants.append(reminder.participant)
    if len(participants) < SEND_NOW + 2:
        return 0
    for participant in participants[:SEND_NOW]:
        first = participant.reminders.filter(status=Reminder.Status.PLANNED, channel="sms").order_by("due_at").first()
        services.reminder_send_now(reminder=first, by=coordinator, reason="demo: the participant asked for it")
    both = participants[SEND_NOW]
    both.reminder_channel, both.email = "both", "participant.demo@example.org"
    screening_services.participant_details_change(participant=both, by=coordinator, reason="demo: e-mail as well")
    services.sms_stop_record(phone=participants[SEND_NOW + 1].mobile_phone)
    return SEND_NOW
