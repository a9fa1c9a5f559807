"""A Celery worker killed (SIGKILL) in the middle of a task: no reminder is lost and none is sent twice; an export
killed mid-run is written again, never left "running".

Real parts throughout: a redis-server of the test's own (so messages a killed worker leaves unacknowledged linger
nowhere else), real workers started as production starts them (``celery -A trial_site worker``), PostgreSQL, and
the HTTP SMS gateway stand-in, which here can hold a request unanswered until the test has killed the worker that
sent it and then deliver it: the worst moment, when the provider has the message and the database does not know.

What makes it safe (``docs/reminders.md``): the send and its record are one transaction, so a killed worker's
attempt leaves the reminder "sending"; ``send_reminder`` is ``acks_late`` with ``reject_on_worker_lost``, so a
killed pool process gives the message back at once; a whole worker killed leaves its message unacknowledged in
Redis (given back only after the broker's visibility timeout, an hour), and the sweep hands a reminder "sending"
for longer than ``REMINDER_STUCK_MINUTES`` to a worker again; every retry carries the same idempotency key, so the
gateway does not deliver twice. Races between sweeps and between two tasks for one reminder are proven in
``tests/reminders/test_racing_sweeps.py`` and ``test_through_the_worker.py``; here the worker dies.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import Counter
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from exports.models import ExportJob
from reminders import services
from reminders.models import DeliveryAttempt, Reminder
from screening.models import Participant
from tests.faults.support import (
    WAIT_SECONDS,
    WriteHold,
    backend_waiting_on,
    child_processes,
    is_gone,
    kill_hard,
    table_locked,
    wait_for,
)
from tests.processes import worker_database_url
from tests.randomization.factories import list_in_use
from tests.reminders.sms_gateway import SmsGatewayStandIn
from tests.reminders.test_redis_down import broker_at, free_port, redis_server
from tests.trial_site.test_celery import celery_process, service_env
from tests.visits.test_schedule import randomised_on, site_today
from trial_site.roles import Role


class HoldingGateway(SmsGatewayStandIn):
    """The stand-in, able to hold the next request unanswered until the test releases it (then it delivers and
    answers, to nobody if the sender died meanwhile); it counts the requests for each idempotency key."""

    def __init__(self) -> None:
        super().__init__()
        self._holds = 0
        self._holding = ""
        self._released = threading.Event()
        self._requests_by_key: Counter[str] = Counter()

    def hold_next(self) -> None:
        with self._lock:
            self._holds = 1
        self._released.clear()

    def holding(self) -> str:
        """The idempotency key of the request held now, or ''."""
        with self._lock:
            return self._holding

    def release(self) -> None:
        self._released.set()

    def requests_for(self, key: str) -> int:
        with self._lock:
            return self._requests_by_key[key]

    def delivered_once(self, key: str) -> bool:
        return [message["key"] for message in self.delivered].count(key) == 1

    def stop(self) -> None:
        self._released.set()
        super().stop()

    def _handle(self, request: Any) -> None:
        key = request.headers.get("Idempotency-Key", "")
        with self._lock:
            self._requests_by_key[key] += 1
            hold, self._holds = self._holds > 0, max(self._holds - 1, 0)
            if hold:
                self._holding = key
        if hold:
            self._released.wait(WAIT_SECONDS)
            with self._lock:
                self._holding = ""
        super()._handle(request)


def first_sms_reminder(participant: Any) -> Reminder:
    return Reminder.objects.filter(participant=participant, channel="sms").order_by("due_at").first()


def make_due(*reminders: Reminder) -> None:
    Reminder.objects.filter(pk__in=[r.pk for r in reminders]).update(due_at=timezone.now() - timedelta(minutes=1))


def statuses(*reminders: Reminder) -> set[str]:
    return set(Reminder.objects.filter(pk__in=[r.pk for r in reminders]).values_list("status", flat=True))


def kill_pool_process(worker: Any) -> None:
    """SIGKILL the worker's pool process (the one running the task); the worker's main process lives on."""
    [pool] = child_processes(worker.pid)
    kill_hard(pool)
    wait_for(lambda: is_gone(pool), "the pool process dying")


def kill_whole_worker(worker: Any) -> None:
    """SIGKILL the worker's main process, then its pool process: nothing of the worker can react."""
    pools = child_processes(worker.pid)
    kill_hard(worker.pid)
    worker.wait()
    for pool in pools:
        kill_hard(pool)
    wait_for(lambda: all(is_gone(pool) for pool in pools), "the pool process dying")


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_task_loses_no_reminder_sends_none_twice_and_leaves_no_export_running(
    tmp_path: Path, settings: Any, daytime_site: Any, coordinator: Any, investigator: Any, statistician: Any,
    user_with_role: Any,
) -> None:  # fmt: skip
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    first_log, second_log = tmp_path / "worker-1.log", tmp_path / "worker-2.log"

    with redis_server(port, tmp_path), HoldingGateway() as gateway, ExitStack() as through_redis:
        env = service_env(
            tmp_path, redis_url=url, DATABASE_URL=worker_database_url(),
            SMS_BACKEND="http", SMS_GATEWAY_URL=gateway.url, SMS_GATEWAY_TOKEN=gateway.token,
            SMS_GATEWAY_TIMEOUT_SECONDS="60",  # the held send waits for the kill, not for a timeout
        )  # fmt: skip
        with celery_process("worker", env, first_log) as worker:
            # While it starts: the trial's data, made in this process (its tasks run here, eagerly).
            list_in_use(statistician)
            first, second = (
                first_sms_reminder(randomised_on(site_today(daytime_site), daytime_site, coordinator, investigator))
                for _ in range(2)
            )
            settings.EXPORT_ROOT = tmp_path / "exports"  # where the workers (VAR_DIR=tmp_path) write
            data_manager = Client()
            data_manager.force_login(user_with_role(Role.DATA_MANAGER, username="dm"))
            through_redis.enter_context(broker_at(url))  # from here on, tasks go through Redis to the workers

            # 1. The pool process is killed while the gateway holds its send; the worker's main process lives:
            # the message goes back to the queue (reject_on_worker_lost) and is sent again, with the same key.
            make_due(first)
            gateway.hold_next()
            assert services.reminders_sweep() == [first.pk]
            assert wait_for(gateway.holding, "the send reaching the gateway", log=first_log) == first.idempotency_key
            kill_pool_process(worker)
            gateway.release()  # the provider now has the message; the worker that sent it never heard back
            wait_for(lambda: statuses(first) == {"sent"}, "the first reminder sent", log=first_log)
            assert "signal 9 (SIGKILL)" in first_log.read_text()

            # 2. The whole worker is killed while the gateway holds another participant's reminder.
            make_due(second)
            gateway.hold_next()
            assert services.reminders_sweep() == [second.pk]
            held = wait_for(gateway.holding, "the second send reaching the gateway", log=first_log)
            assert held == second.idempotency_key
            kill_whole_worker(worker)
            gateway.release()
            wait_for(lambda: gateway.delivered_once(second.idempotency_key), "the held message reaching the gateway")
        second.refresh_from_db()
        assert second.status == "sending" and not DeliveryAttempt.objects.filter(reminder=second).exists()
        assert services.reminders_sweep() == []  # not handed out again while its send may still be under way

        with celery_process("worker", env, second_log) as worker:
            # A new worker; the sweep after REMINDER_STUCK_MINUTES hands the reminder to it.
            later = timezone.now() + timedelta(minutes=django_settings.REMINDER_STUCK_MINUTES, seconds=1)
            assert services.reminders_sweep(now=later) == [second.pk]
            wait_for(lambda: statuses(second) == {"sent"}, "the second reminder sent", log=second_log)

            # 3. An export whose pool process is killed while it writes (the job shows "running"): the job is
            # written again from the start and ends ready, not "running" for ever. The test holds the job at its
            # start, locks the participants table, then lets the job commit "running" and reach that table.
            starting = "OLD.status = 'queued' AND NEW.status = 'running'"
            with WriteHold(ExportJob._meta.db_table, timing="BEFORE UPDATE", condition=starting) as start:
                start.close()
                asked = data_manager.post(
                    reverse("exports:index"),
                    {"kind": "csv", "identified": "deidentified", "date_mode": "shifted", "codes": "labels"},
                )
                assert asked.status_code == 302
                job = ExportJob.objects.get()
                status_url = reverse("exports:job_status", args=[job.pk])
                wait_for(start.waiting_backend, "the export starting", log=second_log)
                with table_locked(Participant._meta.db_table) as granted:
                    wait_for(lambda: granted.is_set() or backend_waiting_on("relation"), "the table lock queued")
                    start.open()
                    wait_for(granted.is_set, "the table lock")
                    wait_for(lambda: backend_waiting_on("relation"), "the export reading participants", log=second_log)
                    assert data_manager.get(status_url).json()["status"] == "running"
                    kill_pool_process(worker)
                wait_for(lambda: data_manager.get(status_url).json()["status"] == "done", "the export", log=second_log)
            runs = re.findall(r"Task exports\.tasks\.run_export\[[-\w]+\] received", second_log.read_text())
            assert len(runs) == 2  # taken by the killed process, then given back and run again

    # Every reminder reached the participant exactly once, and the database says so.
    keys = [first.idempotency_key, second.idempotency_key]
    assert sorted(message["key"] for message in gateway.delivered) == sorted(keys)
    # Each killed send was asked again, with the same idempotency key, and not delivered again.
    assert {key: gateway.requests_for(key) for key in keys} == dict.fromkeys(keys, 2)
    message_ids = {message["key"]: message["message_id"] for message in gateway.delivered}
    for reminder in Reminder.objects.filter(pk__in=[first.pk, second.pk]):
        assert reminder.status == "sent" and reminder.provider_message_id == message_ids[reminder.idempotency_key]
        assert DeliveryAttempt.objects.filter(reminder=reminder, succeeded=True).count() == 1

    job.refresh_from_db()
    download = data_manager.get(reverse("exports:download", args=[job.pk]))
    data = b"".join(download.streaming_content)
    assert hashlib.sha256(data).hexdigest() == job.sha256 and len(data) == job.size > 0
