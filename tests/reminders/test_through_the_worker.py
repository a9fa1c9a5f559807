"""Reminders end to end: a real Redis broker, a real Celery worker (another process, on the same PostgreSQL
database), a real SMTP server and a real HTTP SMS gateway stand-in on loopback. Two sweeps race on the same due
rows; every message arrives once, a failed send is retried by the worker without a second message."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from reminders import services
from reminders.models import Reminder
from screening import services as screening_services
from tests.concurrency.threads import run_together
from tests.processes import worker_database_url
from tests.randomization.factories import list_in_use
from tests.trial_site.test_celery import celery_process, service_env
from tests.visits.test_schedule import randomised_on, site_today
from trial_site.celery import app

WAIT_SECONDS = 90
PARTICIPANTS = 4


def wait_until_settled(pks: list[int], log: Path) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while Reminder.objects.filter(pk__in=pks, status__in=["planned", "sending"]).exists():
        assert time.monotonic() < deadline, "reminders still pending:\n" + log.read_text()
        time.sleep(0.5)


def worker_env(tmp_path: Path, smtp: Any, settings: Any, gateway: Any) -> dict[str, str]:
    return service_env(
        tmp_path,
        redis_url=os.environ["REDIS_URL"],
        DATABASE_URL=worker_database_url(),
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(settings.EMAIL_PORT),
        EMAIL_USE_TLS="false",
        SMS_BACKEND="http",
        SMS_GATEWAY_URL=gateway.url,
        SMS_GATEWAY_TOKEN=gateway.token,
        REMINDER_RETRY_BASE_SECONDS="1",
    )


@pytest.mark.needs_postgres
@pytest.mark.needs_redis
@pytest.mark.django_db(transaction=True)
def test_racing_sweeps_deliver_each_reminder_once_by_sms_and_email_through_the_worker(
    tmp_path: Path, smtp_inbox: Any, settings: Any, http_sms_settings: Any, daytime_site: Any,
    coordinator: Any, investigator: Any, statistician: Any,
) -> None:  # fmt: skip
    gateway = http_sms_settings
    list_in_use(statistician)
    due = []
    for n in range(PARTICIPANTS):
        participant = randomised_on(site_today(daytime_site), daytime_site, coordinator, investigator)
        participant.reminder_channel, participant.email = "both", f"participant{n}@example.org"
        participant.preferred_language = "en" if n % 2 else "bn"
        screening_services.participant_details_change(participant=participant, by=coordinator, reason="both")
        for channel in ("sms", "email"):
            due.append(
                Reminder.objects.filter(participant=participant, channel=channel, status="planned")
                .order_by("due_at")
                .values_list("pk", flat=True)
                .first()
            )
    Reminder.objects.filter(pk__in=due).update(due_at=timezone.now() - timedelta(minutes=1))
    gateway.fail_next(2, status=503)  # the first two SMS fail: the worker retries them with backoff
    smtp_inbox.messages.clear()
    app.conf.update(task_always_eager=False)  # this test queues through Redis, to the worker
    try:
        app.control.purge()
        with celery_process("worker", worker_env(tmp_path, smtp_inbox, settings, gateway), tmp_path / "worker.log"):
            results, errors = run_together([services.reminders_sweep, services.reminders_sweep])
            assert errors == []
            wait_until_settled(due, tmp_path / "worker.log")
    finally:
        app.conf.update(task_always_eager=True)

    first, second = (set(claimed) for claimed in results)
    assert first.isdisjoint(second) and first | second == set(due)
    assert set(Reminder.objects.filter(pk__in=due).values_list("status", flat=True)) == {"sent"}

    sms_keys = sorted(message["key"] for message in gateway.delivered)
    assert sms_keys == sorted(f"reminder-{pk}" for pk in due if Reminder.objects.get(pk=pk).channel == "sms")
    assert gateway.requests == PARTICIPANTS + 2  # the two retried sends, and nothing more

    message_ids = sorted(message["Message-ID"] for message in smtp_inbox.messages)
    assert len(message_ids) == PARTICIPANTS == len(set(message_ids))
    recipients = sorted(message["X-Envelope-To"] for message in smtp_inbox.messages)
    assert recipients == [f"participant{n}@example.org" for n in range(PARTICIPANTS)]
    subjects = {message["Subject"] for message in smtp_inbox.messages}
    assert any(subject.startswith("Reminder of your clinic visit") for subject in subjects)
    assert any("ভিজিট" in subject for subject in subjects)
