"""The SAE notification end to end: a real Redis broker, a real Celery worker (another process, on the same
PostgreSQL database) and a real SMTP server on loopback. The message identifies no one."""

from __future__ import annotations

import os
import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from safety import services
from tests.processes import worker_database_url
from tests.randomization.factories import list_in_use
from tests.safety.test_safety import event_for
from tests.trial_site.test_celery import celery_process, service_env
from tests.visits.test_schedule import randomised_on
from trial_site.celery import app

WAIT_SECONDS = 90


@pytest.mark.needs_postgres
@pytest.mark.needs_redis
@pytest.mark.django_db(transaction=True)
def test_the_sae_report_reaches_the_safety_contacts_without_identifying_data(
    tmp_path: Path, smtp_inbox: Any, settings: Any, site: Any, coordinator: Any, investigator: Any,
    statistician: Any,
) -> None:  # fmt: skip
    list_in_use(statistician)
    participant = randomised_on(timezone.localdate() - timedelta(days=10), site, coordinator, investigator)
    env = service_env(
        tmp_path,
        redis_url=os.environ["REDIS_URL"],
        DATABASE_URL=worker_database_url(),
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(settings.EMAIL_PORT),
        EMAIL_USE_TLS="false",
        SAFETY_CONTACTS="safety-desk@sponsor.example",
    )
    app.conf.update(task_always_eager=False)  # this test sends through the broker, to the worker
    try:
        deliver_through_the_worker(env, tmp_path, smtp_inbox, participant, coordinator)
    finally:
        app.conf.update(task_always_eager=True)
    [message] = smtp_inbox.messages
    assert "SAE" in message["Subject"]

    recipients = message["X-Envelope-To"]
    assert "safety-desk@sponsor.example" in recipients and investigator.email in recipients
    body = message.get_content()
    assert participant.screening_number in body and "Herpes zoster" in body and "Report due by" in body
    phone, born = participant.mobile_phone, participant.date_of_birth
    for identifying in (phone, phone.replace("+880", "0"), born.isoformat(), born.strftime("%d/%m/%Y")):
        assert identifying not in body
    assert not re.search(rf"\b{participant.initials}\b", body)


def deliver_through_the_worker(env: dict[str, str], tmp_path: Path, inbox: Any, participant: Any, by: Any) -> None:
    inbox.messages.clear()  # the randomisation e-mail of the set-up came before
    app.control.purge()  # tasks an earlier, interrupted run may have left in this Redis database
    with celery_process("worker", env, tmp_path / "worker.log"):
        services.adverse_event_record(event=event_for(participant, serious_hospitalisation=True), by=by)
        deadline = time.monotonic() + WAIT_SECONDS
        while not inbox.messages:
            assert time.monotonic() < deadline, "no SAE e-mail arrived:\n" + (tmp_path / "worker.log").read_text()
            time.sleep(0.5)
