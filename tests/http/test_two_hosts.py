"""Beyond one machine (#21): two web hosts and a Celery worker, separate processes each with its own var/ folder,
sharing only the PostgreSQL database, Redis and S3-compatible object storage (moto's server on loopback, real HTTP).
An export asked for on one host is written by the worker into the shared storage, and its progress is followed and
its file downloaded on the other host, with the SHA-256 the export log records; the download is permission-checked
and logged there as on one host."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from exports.models import ExportJob
from tests.exports.s3 import PREFIX, S3Server, s3_server
from tests.http.server import GunicornServer, StaffSession, wait_for
from tests.processes import worker_database_url
from tests.randomization.factories import list_in_use
from tests.screening.factories import register
from tests.trial_site.test_celery import celery_process, service_env
from tests.visits.test_schedule import randomised_on
from trial_site.celery import app
from trial_site.models import AccessEvent
from trial_site.roles import Role

pytestmark = [pytest.mark.needs_postgres, pytest.mark.needs_redis, pytest.mark.django_db(transaction=True)]

EXPORT_FORM = {"kind": "csv", "identified": "deidentified", "date_mode": "shifted", "codes": "labels"}


@pytest.fixture
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        yield server


@pytest.fixture
def two_hosts(
    start_gunicorn: Callable[..., GunicornServer], s3: S3Server, tmp_path: Path
) -> Iterator[tuple[GunicornServer, GunicornServer, Path]]:
    """Two gunicorns (two sync workers each, ports and var/ folders of their own) and a Celery worker (a var/ of its
    own), configured as production hosts would be: one secret key, the database, Redis, the export bucket. The
    worker's log file is the third item."""
    shared = {"SECRET_KEY": secrets.token_urlsafe(50), **s3.environment()}
    hosts = {"DJANGO_SETTINGS_MODULE": "tests.http.two_hosts_settings", **shared}
    first = start_gunicorn(workers=2, env=hosts)
    second = start_gunicorn(workers=2, env=hosts)
    worker_env = service_env(
        tmp_path / "worker-var", redis_url=settings.REDIS_URL, DATABASE_URL=worker_database_url(), **shared
    )
    log = tmp_path / "worker.log"
    app.control.purge()
    with celery_process("worker", worker_env, log):
        yield first, second, log


def test_an_export_asked_for_on_one_host_is_downloaded_from_the_other(
    two_hosts: tuple[GunicornServer, GunicornServer, Path],
    s3: S3Server,
    user_with_role: Any,
    site: Any,
    coordinator: Any,
    investigator: Any,
    statistician: Any,
) -> None:
    first, second, worker_log = two_hosts
    list_in_use(statistician)
    for _ in range(3):
        randomised_on(timezone.localdate(), site, coordinator, investigator)
        register(site, coordinator)
    manager = user_with_role(Role.DATA_MANAGER, username="dm")
    assert first.url != second.url

    on_first = first.login(manager)
    asked = on_first.submit(on_first.get("/exports/"), "//form[@data-testid='export-form']", **EXPORT_FORM)
    assert asked.status_code == 302, asked.text[:2000]
    job = ExportJob.objects.get(requested_by=manager)
    assert asked.headers["Location"] == f"/exports/jobs/{job.pk}/"
    assert first.worker_pid_of(asked) in first.worker_pids()

    # The same browser on the other host: its session cookie is good there (sessions in the shared database).
    on_second = StaffSession(second.url)
    on_second.http.cookies.update(on_first.http.cookies)
    status_url = f"/exports/jobs/{job.pk}/status/"

    def finished() -> dict[str, Any] | None:
        answer = on_second.get(status_url)
        assert answer.status_code == 200, answer.text[:500]
        state = answer.json()
        return state if state["status"] not in ("queued", "running") else None

    final = wait_for(finished, f"export #{job.pk} finishing (worker)", log=worker_log)
    assert final["status"] == "done", worker_log.read_text()
    assert final["download_url"] == f"/exports/jobs/{job.pk}/download/"
    assert "exports.tasks.run_export" in worker_log.read_text()

    download = on_second.get(final["download_url"])
    assert download.status_code == 200, download.text[:500]
    assert second.worker_pid_of(download) in second.worker_pids()
    job.refresh_from_db()
    assert hashlib.sha256(download.content).hexdigest() == job.sha256 == final["sha256"]
    assert len(download.content) == job.size == int(download.headers["Content-Length"])
    assert download.headers["Content-Disposition"] == f'attachment; filename="{job.file_name}"'

    # The file lives in the shared bucket only: no host and not the worker kept a copy in its own var/.
    assert s3.keys() == [f"{PREFIX}/{job.file_path}"]
    for var in (first.var_dir, second.var_dir, worker_log.parent / "worker-var"):
        assert not [path for path in var.rglob("*") if path.is_file() and job.file_name in path.name], var
    # Served by the second host alone, and logged there as a download by its owner.
    assert [e.status for e in first.access_log() if e.target == final["download_url"]] == []
    logged = AccessEvent.objects.filter(kind=AccessEvent.Kind.EXPORT, user=manager, detail__contains="downloaded")
    assert [event.detail.startswith(f"export #{job.pk} downloaded") for event in logged] == [True]

    # Anyone else is refused on either host, as if there were no such export, and the refusal is logged.
    other = user_with_role(Role.DATA_MANAGER, username="dm2")
    for host in (first, second):
        assert host.login(other).get(final["download_url"]).status_code == 404
    assert AccessEvent.objects.filter(kind=AccessEvent.Kind.ACCESS_DENIED, user=other).count() == 2
