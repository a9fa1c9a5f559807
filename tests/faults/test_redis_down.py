"""Redis stops under a running site, worker and beat: pages and saves (one that queues a task, too) still answer
and commit; when Redis is back, beat and the worker send the reminders that fell due meanwhile, each exactly once.

Already proven elsewhere, and not repeated here:
- ``tests/reminders/test_redis_down.py``: with nothing listening at REDIS_URL, every page of the project answers
  (none is a 5xx), a visit is recorded done and another rescheduled, a sweep leaves the due reminder "planned"
  (not lost, not stuck in "sending"), and once Redis and a worker are there the reminder is sent once.
- ``tests/trial_site/test_celery.py``: a worker and beat round-trip through Redis.

What this test adds: Redis is up first (the worker, beat and the site's connection pools are connected), then
stops, as a crash or a restart would, and comes back empty (no persistence). Meanwhile an investigator randomises
(the randomisation writes the investigators' e-mail as an outbox row in its own transaction: the randomisation
commits, the hand-off to the worker is logged as not queued), a coordinator presses "send now" on that
participant's first reminder (which queues a sweep), and another participant's reminder falls due. When Redis is
back the e-mail is delivered from the outbox once.
No test code sweeps: beat (every 2 s here) and the worker, which lived through the outage, catch up on their own.
The Redis is a real redis-server of the test's own on a free port; the shared one is left alone.
"""

from __future__ import annotations

import logging
import re
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from randomization.models import Allocation
from reminders.models import DeliveryAttempt, Reminder
from tests.faults.support import log_records, wait_for
from tests.processes import worker_database_url
from tests.randomization.factories import confirmed_participant, list_in_use
from tests.reminders.test_redis_down import broker_at, free_port, redis_server
from tests.trial_site.test_celery import celery_process, service_env
from tests.visits.test_schedule import randomised_on, site_today
from trial_site.models import OutboxMessage


def first_sms_reminder(participant: Any) -> Reminder:
    return Reminder.objects.filter(participant=participant, channel="sms").order_by("due_at").first()


def sweeps_done(worker_log: Path) -> int:
    """How many of beat's sweeps the worker has finished."""
    return len(re.findall(r"Task reminders\.tasks\.sweep\[[-\w]+\] succeeded", worker_log.read_text()))


def statuses(*reminders: Reminder) -> set[str]:
    return set(Reminder.objects.filter(pk__in=[r.pk for r in reminders]).values_list("status", flat=True))


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_redis_stopping_breaks_no_page_or_save_and_the_due_reminders_go_out_once_when_it_returns(
    tmp_path: Path, settings: Any, daytime_site: Any, sms_gateway: Any, coordinator: Any, investigator: Any,
    statistician: Any, smtp_inbox: Any,
) -> None:  # fmt: skip
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    env = service_env(
        tmp_path, redis_url=url, DATABASE_URL=worker_database_url(),
        SMS_BACKEND="http", SMS_GATEWAY_URL=sms_gateway.url, SMS_GATEWAY_TOKEN=sms_gateway.token,
        REMINDER_SWEEP_SECONDS="2", OUTBOX_SWEEP_SECONDS="2", EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(settings.EMAIL_PORT), EMAIL_USE_TLS="false",
    )  # fmt: skip
    worker_log, beat_log = tmp_path / "worker.log", tmp_path / "beat.log"

    # Two lives of one Redis on one port; the second outlives the worker and beat, so they stop without waiting
    # to reconnect.
    with ExitStack() as redis_back, ExitStack() as redis_first:
        redis_first.enter_context(redis_server(port, tmp_path))
        with celery_process("worker", env, worker_log), celery_process("beat", env, beat_log):
            # While they start: the trial's data, made in this process (its tasks run here, eagerly).
            list_in_use(statistician)
            falls_due = first_sms_reminder(
                randomised_on(site_today(daytime_site), daytime_site, coordinator, investigator)
            )
            to_randomise = confirmed_participant(daytime_site, coordinator, investigator, day1=site_today(daytime_site))
            number = to_randomise.screening_number
            settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}}
            coordinator_client, investigator_client = logged_in(coordinator), logged_in(investigator)
            pages = ["/", "/screening/", "/visits/missing-forms/", f"/reminders/participants/{number}/"]

            with broker_at(url):  # from here on, tasks go through Redis to the worker
                # Everything is connected: beat's sweeps reach the worker.
                wait_for(lambda: sweeps_done(worker_log) >= 1, "a sweep from beat run by the worker", log=worker_log)

                redis_first.close()
                # Redis is down. A reminder falls due; pages answer; an investigator randomises a participant and a
                # coordinator presses "send now" on that participant's first reminder.
                Reminder.objects.filter(pk=falls_due.pk).update(due_at=timezone.now() - timedelta(minutes=1))
                assert {path: coordinator_client.get(path).status_code for path in pages} == dict.fromkeys(pages, 200)
                with log_records("trial_site.queue", logging.ERROR) as not_queued:
                    randomise_url = f"/randomization/participants/{number}/randomise/"
                    randomised = investigator_client.post(randomise_url, {"confirmed": "yes"}, follow=True)
                    assert randomised.status_code == 200 and "Randomised:" in randomised.content.decode()
                    sent_now = first_sms_reminder(to_randomise)  # planned by the randomisation, in the same commit
                    send_now_url = f"/reminders/{sent_now.pk}/send-now/"
                    pressed = coordinator_client.post(send_now_url, {"reason": "asked by phone"})
                    assert pressed.status_code == 302
                allocation = Allocation.objects.get(participant=to_randomise)
                e_mail = OutboxMessage.objects.get(key=f"randomised:{allocation.pk}")
                assert [record.getMessage().split(" not queued")[0] for record in not_queued] == [
                    f"task trial_site.tasks.outbox_deliver({e_mail.pk},)",
                    "task reminders.tasks.sweep()",
                ]
                assert e_mail.status == "pending"
                assert sms_gateway.requests == 0  # nothing went out while Redis was down
                assert statuses(falls_due, sent_now) == {"planned"}

                # Redis is back (empty): beat's next sweep hands both reminders to the worker, which sends each once.
                redis_back.enter_context(redis_server(port, tmp_path))
                wait_for(lambda: statuses(falls_due, sent_now) == {"sent"}, "the reminders being sent", log=worker_log)
                wait_for(
                    lambda: OutboxMessage.objects.filter(pk=e_mail.pk, status="delivered").exists(),
                    "the randomisation e-mail delivered from the outbox",
                    log=worker_log,
                )

    keys = sorted(reminder.idempotency_key for reminder in (falls_due, sent_now))
    assert sorted(message["key"] for message in sms_gateway.delivered) == keys
    assert sms_gateway.requests == 2  # one request each: nothing sent twice, nothing retried
    assert DeliveryAttempt.objects.filter(reminder__in=[falls_due, sent_now]).count() == 2
    assert to_randomise.visits.count() > 0  # the randomisation committed with its schedule
    about_it = [m for m in smtp_inbox.messages if allocation.randomisation_number in m["Subject"]]
    assert len(about_it) == 1  # the investigators' e-mail, once
    sent_now.refresh_from_db()
    assert sent_now.send_now_by == coordinator and sent_now.send_now_reason == "asked by phone"
    assert "Sending due task visit-reminders-sweep" in beat_log.read_text()
