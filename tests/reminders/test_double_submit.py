""" "Send now" sent again and again with one submission key, over HTTP against gunicorn's worker processes on
PostgreSQL: the reminder goes out once, however many times the form arrives at once or after; every repeat goes
back to the participant's reminders; no 500."""

from __future__ import annotations

import json
from typing import Any

import pytest

from reminders.models import DeliveryAttempt, Reminder
from screening.models import Participant
from tests.http.conftest import live_gunicorn, start_gunicorn  # noqa: F401  (fixtures of the HTTP tests)
from tests.http.server import GunicornServer, form_fields, wait_for
from tests.monitoring.test_double_submit import BURSTS, locations, send_together, statuses
from tests.visits.test_schedule import randomised_on, site_today


def sms_sent(server: GunicornServer) -> list[dict[str, Any]]:
    """The SMS the server's file backend wrote (its outbox under the server's own VAR_DIR)."""
    outbox = server.var_dir / "outbox" / "sms.jsonl"
    if not outbox.exists():
        return []
    return [json.loads(line) for line in outbox.read_text().splitlines() if line.strip()]


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_send_now_sent_2_5_and_20_times_at_once_sends_the_reminder_once_and_every_repeat_goes_back(
    live_gunicorn: GunicornServer,  # noqa: F811
    daytime_site: Any,
    participant: Participant,
    coordinator: Any,
    investigator: Any,
) -> None:
    # One participant per burst: at most one reminder a day goes to a participant by one channel.
    people = [
        participant,
        *(randomised_on(site_today(daytime_site), daytime_site, coordinator, investigator) for _ in "ab"),
    ]
    session = live_gunicorn.login(coordinator)
    for n, someone in zip(BURSTS, people, strict=True):
        reminder = Reminder.objects.filter(participant=someone, status=Reminder.Status.PLANNED).earliest("due_at")
        page_url = f"/reminders/participants/{someone.screening_number}/"
        page = session.get(page_url)
        assert page.status_code == 200
        url = f"/reminders/{reminder.pk}/send-now/"
        data = {**form_fields(page.text, f"//form[@action='{url}']"), "reason": f"asked again by phone ({n})"}

        responses = send_together(session, url, data, n)

        assert statuses(responses) == [302] * (n + 1)
        assert locations(responses) == {page_url}
        wait_for(
            lambda reminder=reminder: Reminder.objects.get(pk=reminder.pk).status == Reminder.Status.SENT,
            f"reminder {reminder.pk} sent",
            log=live_gunicorn.log,
        )
        assert DeliveryAttempt.objects.filter(reminder=reminder).count() == 1
        assert Reminder.objects.get(pk=reminder.pk).send_now_reason == f"asked again by phone ({n})"
    assert len(sms_sent(live_gunicorn)) == len(BURSTS)
