"""A backlog larger than one claim is handed out by one sweep call, as messages of a batch of reminders each, and a
real worker (another process, through a real Redis broker) delivers every reminder once (issue #21, item 4)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from reminders import services
from reminders.models import DeliveryAttempt, Reminder
from tests.processes import worker_database_url
from tests.reminders.test_racing_sweeps import due_reminders
from tests.reminders.test_through_the_worker import wait_until_settled
from tests.trial_site.test_celery import celery_process, service_env
from trial_site.celery import app

PARTICIPANTS = 7
CLAIM = 3  # a claim of 3: the backlog of 7 takes three claims (3, 3, 1) in the one sweep call


@pytest.mark.needs_postgres
@pytest.mark.needs_redis
@pytest.mark.django_db(transaction=True)
def test_one_sweep_call_hands_out_a_backlog_larger_than_a_claim_and_the_worker_sends_each_once(
    tmp_path: Path, settings: Any, http_sms_settings: Any, daytime_site: Any,
    coordinator: Any, investigator: Any, statistician: Any,
) -> None:  # fmt: skip
    gateway = http_sms_settings
    due = due_reminders(daytime_site, coordinator, investigator, statistician, PARTICIPANTS)
    env = service_env(
        tmp_path, redis_url=os.environ["REDIS_URL"], DATABASE_URL=worker_database_url(),
        SMS_BACKEND="http", SMS_GATEWAY_URL=gateway.url, SMS_GATEWAY_TOKEN=gateway.token,
    )  # fmt: skip
    log = tmp_path / "worker.log"
    app.conf.update(task_always_eager=False)  # through Redis, to the worker
    try:
        app.control.purge()
        with celery_process("worker", env, log):
            handed_out = services.reminders_sweep(batch=CLAIM)
            assert sorted(handed_out) == sorted(due)  # all of them, in one call
            assert services.reminders_sweep(batch=CLAIM) == []  # nothing left for the next beat run
            wait_until_settled(due, log)
    finally:
        app.conf.update(task_always_eager=True)

    assert set(Reminder.objects.filter(pk__in=due).values_list("status", flat=True)) == {"sent"}
    assert sorted(m["key"] for m in gateway.delivered) == sorted(f"reminder-{pk}" for pk in due)
    assert gateway.requests == PARTICIPANTS == DeliveryAttempt.objects.count()
    # One broker message per claim's batch (3, 3 and 1 reminders), not one per reminder.
    messages = re.findall(r"Task reminders\.tasks\.send_reminders\[[-\w]+\] received", log.read_text())
    assert len(messages) == 3


def test_a_backlog_inside_a_transaction_is_claimed_in_batches_and_each_delivered_once(
    daytime_site: Any, coordinator: Any, investigator: Any, statistician: Any,
    django_capture_on_commit_callbacks: Any, http_sms_settings: Any,
) -> None:  # fmt: skip
    due = due_reminders(daytime_site, coordinator, investigator, statistician, 5)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:  # the tasks run eagerly after "commit"
        assert sorted(services.reminders_sweep(batch=2)) == sorted(due)
    assert len(callbacks) == 3  # one hand-off per claim: 2, 2 and 1
    assert set(Reminder.objects.filter(pk__in=due).values_list("status", flat=True)) == {"sent"}
    assert http_sms_settings.requests == 5 == len(http_sms_settings.delivered)
