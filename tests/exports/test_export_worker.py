"""An export job end to end: asked for on the export centre, written by a real Celery worker (another process,
through Redis, on the same PostgreSQL database), its progress read from the status endpoint, the file
downloaded with the SHA-256 the log records."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from exports.models import ExportJob
from tests.exports.conftest import client_for
from tests.processes import worker_database_url
from tests.randomization.factories import list_in_use
from tests.screening.factories import register
from tests.trial_site.test_celery import celery_process, service_env
from tests.visits.test_schedule import randomised_on
from trial_site.celery import app
from trial_site.roles import Role

WAIT_SECONDS = 120


@pytest.mark.needs_postgres
@pytest.mark.needs_redis
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_writes_the_export_and_the_owner_downloads_it(
    tmp_path: Path, settings: Any, user_with_role: Any, site: Any, coordinator: Any, investigator: Any,
    statistician: Any,
) -> None:  # fmt: skip
    list_in_use(statistician)
    for _ in range(3):
        randomised_on(timezone.localdate(), site, coordinator, investigator)
        register(site, coordinator)
    settings.EXPORT_ROOT = tmp_path / "exports"  # where the worker (VAR_DIR=tmp_path) writes
    client = client_for(user_with_role(Role.DATA_MANAGER, username="dm"))
    env = service_env(tmp_path, redis_url=os.environ["REDIS_URL"], DATABASE_URL=worker_database_url())
    log = tmp_path / "worker.log"
    app.conf.update(task_always_eager=False)  # queue through Redis, to the worker
    try:
        app.control.purge()
        with celery_process("worker", env, log):
            response = client.post(
                reverse("exports:index"),
                {"kind": "csv", "identified": "deidentified", "date_mode": "shifted", "codes": "labels"},
            )
            assert response.status_code == 302, response.content[:2000]
            job = ExportJob.objects.get()
            status_url = reverse("exports:job_status", args=[job.pk])
            seen = [client.get(status_url).json()]
            deadline = time.monotonic() + WAIT_SECONDS
            while seen[-1]["status"] in ("queued", "running"):
                assert time.monotonic() < deadline, "the export never finished:\n" + log.read_text()
                time.sleep(0.3)
                seen.append(client.get(status_url).json())
    finally:
        app.conf.update(task_always_eager=True)

    final = seen[-1]
    assert final["status"] == "done", log.read_text()
    assert final["percent"] == 100 and final["download_url"] == reverse("exports:download", args=[job.pk])
    assert all(state["percent"] < 100 for state in seen[:-1])
    assert "exports.tasks.run_export" in log.read_text()
    job.refresh_from_db()
    assert job.rows_done == job.rows_total == sum(job.row_counts.values()) > 0

    download = client.get(final["download_url"])
    data = b"".join(download.streaming_content)
    assert hashlib.sha256(data).hexdigest() == job.sha256 == final["sha256"]
    assert len(data) == job.size
