"""Redis down: every page still answers, saving a visit works, and the due reminders wait as rows; when Redis
comes back, the next sweep sends them. Redis here is a real server of the test's own on a free port, stopped and
started by the test (the shared one is left alone)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from randomization.models import AllocationList
from reminders import services
from reminders.models import Reminder
from reminders.sms import outbox_messages
from tests.processes import worker_database_url
from tests.randomization.test_blinding import concrete_paths
from tests.trial_site.test_celery import celery_process, service_env
from trial_site.celery import app

WAIT_SECONDS = 90


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def redis_server(port: int, folder: Path) -> Iterator[None]:
    """A real redis-server on ``port`` (no persistence) until the block ends."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.1)
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def broker_at(url: str) -> Iterator[None]:
    """Send tasks through the broker at ``url`` (not eagerly) for the block; the connection pools start anew."""
    saved = {key: app.conf[key] for key in ("broker_url", "task_always_eager")}
    app.conf.update(broker_url=url, task_always_eager=False)
    app._pool = None
    app.amqp._producer_pool = None
    try:
        yield
    finally:
        app.conf.update(saved)
        app._pool = None
        app.amqp._producer_pool = None


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_with_redis_down_pages_and_visits_work_and_reminders_go_out_once_it_returns(
    tmp_path: Path, settings: Any, daytime_site: Any, participant: Any, coordinator: Any
) -> None:
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}}
    d1, w4 = participant.visits.get(code="D1"), participant.visits.get(code="W4")
    due = Reminder.objects.filter(participant=participant, channel="sms").order_by("due_at").first()
    Reminder.objects.filter(pk=due.pk).update(due_at=timezone.now() - timedelta(minutes=1))
    client = Client()
    client.force_login(coordinator)

    with broker_at(url):
        # Redis is down (nothing listens on the port): every page still answers.
        values = {
            "number": participant.screening_number, "code": "DHK", "site_code": "DHK", "version": "1.0", "slug": "labs",
            "pk": str(AllocationList.objects.get().pk), "visits:pk": str(d1.pk), "visits:code": "labs",
            "reminders:pk": str(due.pk), "job_id": "1",
        }  # fmt: skip
        statuses = {path: client.get(path).status_code for path in concrete_paths(values)}
        assert not {path: status for path, status in statuses.items() if status >= 500}
        assert sum(status == 200 for status in statuses.values()) >= 20

        # Saving visits works: Day 1 done, W4 rescheduled (its reminders move with it).
        done = client.post(f"/visits/{d1.pk}/done/", {"done_on": d1.target_date.isoformat()})
        moved = client.post(
            f"/visits/{w4.pk}/reschedule/",
            {"planned_date": w4.latest.isoformat(), "reason": "patient travels"},
        )
        assert (done.status_code, moved.status_code) == (302, 302)
        d1.refresh_from_db()
        w4.refresh_from_db()
        assert d1.done_on == d1.target_date and w4.planned_date == w4.latest
        assert Reminder.objects.filter(visit=w4, status="planned", visit_date=w4.latest).count() == 2

        # The sweep cannot queue: the due reminder stays a planned row, nothing is lost or stuck.
        assert services.reminders_sweep() == [due.pk]
        due.refresh_from_db()
        assert due.status == "planned" and due.claimed_at is None

        # Redis returns, with a worker: the next sweep sends the reminder, once.
        with redis_server(port, tmp_path):
            env = service_env(
                tmp_path, redis_url=url,
                DATABASE_URL=worker_database_url(),
                SMS_OUTBOX_PATH=str(settings.SMS_OUTBOX_PATH),
            )  # fmt: skip
            with celery_process("worker", env, tmp_path / "worker.log"):
                assert services.reminders_sweep() == [due.pk]
                deadline = time.monotonic() + WAIT_SECONDS
                while Reminder.objects.get(pk=due.pk).status != "sent":
                    assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
                    time.sleep(0.5)
    [message] = outbox_messages(settings.SMS_OUTBOX_PATH)
    assert message["key"] == f"reminder-{due.pk}"
