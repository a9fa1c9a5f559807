"""The export centre: who may export what, streamed and background exports in the export log with a SHA-256 that
matches the downloaded bytes, downloads for the owner only, expiry, clear errors for bad input."""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from exports import services
from exports.catalogue import datasets
from exports.formats import FORMATS
from exports.models import ExportJob
from exports.package import entry_name
from exports.rows import count
from exports.scope import ExportScope
from exports.tasks import expire_exports
from tests.exports.conftest import client_for
from trial_site.models import AccessEvent
from trial_site.roles import Role

CENTRE = reverse("exports:index")


@pytest.fixture(autouse=True)
def export_root(settings: Any, tmp_path: Path) -> Path:
    settings.EXPORT_ROOT = tmp_path / "exports"
    return settings.EXPORT_ROOT


@pytest.fixture
def data_manager(user_with_role: Any) -> Any:
    return user_with_role(Role.DATA_MANAGER, username="dm")


@pytest.fixture
def other_data_manager(user_with_role: Any) -> Any:
    return user_with_role(Role.DATA_MANAGER, username="dm2")


def form(**changes: str) -> dict[str, str]:
    data = {
        "kind": "dictionary_csv",
        "dataset": "",
        "site": "",
        "cut_off": "",
        "identified": "deidentified",
        "date_mode": "study_day",
        "codes": "codes",
    }
    return {**data, **changes}


def streamed_bytes(response: Any) -> bytes:
    assert response.status_code == 200, getattr(response, "content", b"")[:2000]
    assert response.streaming
    return b"".join(response.streaming_content)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def job_export(client: Any, django_capture_on_commit_callbacks: Any, **changes: str) -> ExportJob:
    """Ask for an export that runs as a job (the task runs eagerly when the request commits)."""
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(CENTRE, form(**changes))
    assert response.status_code == 302, response.content[:2000]
    job = ExportJob.objects.latest("pk")
    assert response["Location"] == reverse("exports:job", args=[job.pk])
    return job


# --- Who may export ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.INVESTIGATOR, Role.MONITOR, Role.BLINDED_ASSESSOR])
def test_every_export_page_is_refused_to_the_site_team_and_monitors_and_the_refusal_is_logged(
    role: Role, user_with_role: Any, data_manager: Any, site: Any
) -> None:
    job = services.export_request(user=data_manager, kind="dictionary_csv", scope=ExportScope(site_ids=(site.pk,)))
    outsider = user_with_role(role, username="outsider")
    client = client_for(outsider)
    pages = [
        ("get", CENTRE),
        ("post", CENTRE),
        ("get", reverse("exports:job", args=[job.pk])),
        ("get", reverse("exports:job_status", args=[job.pk])),
        ("get", reverse("exports:download", args=[job.pk])),
    ]
    for method, url in pages:
        before = AccessEvent.objects.filter(kind="access_denied", user=outsider).count()
        response = getattr(client, method)(url, form() if method == "post" else None)
        assert response.status_code == 403, (method, url)
        assert AccessEvent.objects.filter(kind="access_denied", user=outsider).count() == before + 1
    assert ExportJob.objects.count() == 1


def test_the_statistician_is_offered_only_the_analysis_formats_de_identified(statistician: Any) -> None:
    client = client_for(statistician)
    page = client.get(CENTRE)
    assert page.status_code == 200
    offered = [key for key, _label in page.context["form"].fields["kind"].choices]
    assert offered == [key for key, export in FORMATS.items() if export.analysis]
    assert [key for key, _label in page.context["form"].fields["identified"].choices] == ["deidentified"]
    assert "free_text" not in page.context["form"].fields

    identified = client.post(CENTRE, form(identified="identified"))
    assert identified.status_code == 400
    assert "You may export de-identified data only." in identified.context["form"].errors["identified"]
    assert "You may export de-identified data only." in identified.content.decode()
    for kind in ("csv", "odm", "audit", "full"):
        refused = client.post(CENTRE, form(kind=kind))
        assert refused.status_code == 400
        assert refused.context["form"].errors["kind"] == ["Choose one of the formats."]
    assert ExportJob.objects.count() == 0

    data = streamed_bytes(client.post(CENTRE, form(kind="dictionary_csv")))
    job = ExportJob.objects.get()
    assert (job.requested_by, job.kind, job.scope["identified"]) == (statistician, "dictionary_csv", False)
    assert job.sha256 == sha256(data)


def test_the_service_refuses_identified_data_and_other_formats_to_the_statistician(
    statistician: Any, site: Any, other_site: Any
) -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        services.export_request(user=statistician, kind="odm", scope=ExportScope(site_ids=(site.pk,), identified=True))
    assert set(refused.value.message_dict) == {"kind", "identified"}
    with pytest.raises(ValidationError) as elsewhere:
        services.export_request(user=statistician, kind="analysis", scope=ExportScope(site_ids=(other_site.pk,)))
    assert set(elsewhere.value.message_dict) == {"site"}
    assert ExportJob.objects.count() == 0


def test_the_administrator_exports_no_identifying_data_which_the_data_manager_does(
    user_with_role: Any, data_manager: Any, site: Any, trial: dict[str, Any]
) -> None:
    """The administrator sees no initials, dates of birth or phone numbers on any page, so exports none: the
    centre does not offer "Identified", a POST asking for it is refused at the field and nothing is exported; the
    same administrator exports de-identified data, and the data manager, who sees them, identified data."""
    from django.core.exceptions import ValidationError

    administrator = user_with_role(Role.ADMINISTRATOR, username="admin-exports")
    client = client_for(administrator)
    page = client.get(CENTRE)
    assert page.status_code == 200
    assert 'value="identified"' not in page.content.decode()
    refused = client.post(CENTRE, form(kind="csv", identified="identified", date_mode="actual"))
    assert refused.status_code == 400
    assert "identified" in refused.context["form"].errors
    with pytest.raises(ValidationError) as service_refused:
        services.export_request(
            user=administrator, kind="csv", scope=ExportScope(site_ids=(site.pk,), identified=True, date_mode="actual")
        )
    assert set(service_refused.value.message_dict) == {"identified"}
    assert ExportJob.objects.count() == 0
    deidentified = client.post(CENTRE, form(kind="csv", dataset="PARTICIP"))
    assert deidentified.status_code == 200 and deidentified.streaming
    assert 'value="identified"' in client_for(data_manager).get(CENTRE).content.decode()
    identified = client_for(data_manager).post(CENTRE, form(kind="csv", dataset="PARTICIP", identified="identified",
                                                             date_mode="actual"))  # fmt: skip
    assert identified.status_code == 200
    assert trial["randomised"][0].initials in b"".join(identified.streaming_content).decode()


# --- Bad input --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"cut_off": "2999-01-01"}, "cut_off", "The cut-off cannot be in the future."),
        ({"kind": "spss"}, "kind", "Choose one of the formats."),
        ({"date_mode": "actual"}, "date_mode", "Actual dates only in an identified export"),
        ({"kind": "odm", "dataset": "LABS"}, "dataset", "A single form is exported as CSV only"),
        ({"dataset": "NOPE", "kind": "csv"}, "dataset", "Select a valid choice"),
        ({"site": "999999"}, "site", "Select a valid choice"),
    ],
)
def test_bad_input_is_answered_next_to_the_field_and_nothing_is_exported(
    data_manager: Any, changes: dict[str, str], field: str, message: str
) -> None:
    response = client_for(data_manager).post(CENTRE, form(**changes))
    assert response.status_code == 400
    errors = response.context["form"].errors[field]
    assert any(error.startswith(message) for error in errors), errors
    assert message in response.content.decode().replace("&#x27;", "'")
    assert ExportJob.objects.count() == 0


# --- Streamed exports -------------------------------------------------------------------------------------------


def test_a_streamed_export_is_in_the_export_log_with_the_hash_of_the_bytes_sent(data_manager: Any, site: Any) -> None:
    client = client_for(data_manager)
    response = client.post(CENTRE, form(kind="dictionary_csv", identified="identified", date_mode="actual"))
    assert response["Content-Disposition"].startswith('attachment; filename="dcssc-dictionary_csv-')
    data = streamed_bytes(response)

    job = ExportJob.objects.get()
    assert job.requested_by == data_manager and job.streamed and job.status == ExportJob.Status.DONE
    assert (job.sha256, job.size) == (sha256(data), len(data))
    assert job.scope["identified"] is True and job.scope["site_ids"] == [site.pk]
    lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert sum(job.row_counts.values()) == job.rows_done == len(lines) - 1
    assert job.file_path == "" and job.expires_at is None

    details = list(AccessEvent.objects.filter(kind="export", user=data_manager).values_list("detail", flat=True))
    assert any(f"export #{job.pk} asked: dictionary_csv; DHK" in d and "identified" in d for d in details)
    assert any(d.startswith(f"export #{job.pk} streamed") for d in details)

    log = client.get(CENTRE)
    assert job.sha256 in log.content.decode()
    assert [entry.pk for entry in log.context["log"]] == [job.pk]


def test_one_form_as_csv_streams_the_rows_of_the_database(data_manager: Any, trial: dict[str, Any], site: Any) -> None:
    data = streamed_bytes(client_for(data_manager).post(CENTRE, form(kind="csv", dataset="VISIT")))
    job = ExportJob.objects.get()
    visit = next(d for d in datasets() if d.key == "VISIT")
    expected = count(visit, ExportScope(site_ids=(site.pk,)))
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert expected > 0
    assert len(rows) - 1 == expected == job.row_counts["VISIT"] == job.rows_total
    assert job.sha256 == sha256(data) and job.size == len(data)
    assert job.file_name.startswith("dcssc-csv-visit-") and job.file_name.endswith(".csv")


# --- Background jobs --------------------------------------------------------------------------------------------


def test_a_background_export_reports_progress_and_the_owner_downloads_the_file_with_its_hash(
    data_manager: Any, trial: dict[str, Any], django_capture_on_commit_callbacks: Any, export_root: Path
) -> None:
    client = client_for(data_manager)
    job = job_export(client, django_capture_on_commit_callbacks, kind="csv")
    job.refresh_from_db()
    assert job.status == ExportJob.Status.DONE and not job.streamed

    page = client.get(reverse("exports:job", args=[job.pk]))
    assert page.status_code == 200 and 'data-export-status="' in page.content.decode()
    status = client.get(reverse("exports:job_status", args=[job.pk])).json()
    assert status["status"] == "done" and status["percent"] == 100
    assert status["download_url"] == reverse("exports:download", args=[job.pk])
    assert status["sha256"] == job.sha256

    download = client.get(status["download_url"])
    assert download.status_code == 200
    assert download["Content-Disposition"] == f'attachment; filename="{job.file_name}"'
    data = b"".join(download.streaming_content)
    assert (sha256(data), len(data)) == (job.sha256, job.size)
    assert (export_root / str(job.pk) / job.file_name).read_bytes() == data
    assert job.expires_at == job.finished_at + timedelta(hours=72)

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        in_file = {
            name.removesuffix(".csv"): len(list(csv.reader(io.StringIO(archive.read(name).decode("utf-8-sig"))))) - 1
            for name in archive.namelist()
        }
    assert in_file == job.row_counts
    scope = ExportScope.from_json(job.scope)
    assert job.row_counts == {d.key: count(d, scope) for d in datasets()}
    assert job.rows_done == job.rows_total == sum(job.row_counts.values())

    details = list(AccessEvent.objects.filter(kind="export", user=data_manager).values_list("detail", flat=True))
    assert any(d.startswith(f"export #{job.pk} asked: csv;") for d in details)
    assert any(d.startswith(f"export #{job.pk} downloaded: csv;") for d in details)

    log = client.get(CENTRE)
    assert job.sha256 in log.content.decode()
    assert status["download_url"] in log.content.decode()


def test_only_the_owner_downloads_anyone_else_gets_404_and_the_attempt_is_logged(
    data_manager: Any, other_data_manager: Any, site: Any, django_capture_on_commit_callbacks: Any
) -> None:
    job = job_export(client_for(data_manager), django_capture_on_commit_callbacks, kind="csv")
    job.refresh_from_db()
    assert job.status == ExportJob.Status.DONE, job.error
    other = client_for(other_data_manager)
    for name in ("download", "job", "job_status"):
        assert other.get(reverse(f"exports:{name}", args=[job.pk])).status_code == 404
    refused = AccessEvent.objects.filter(kind="access_denied", user=other_data_manager)
    detail = f"export #{job.pk} refused: csv; DHK · data as now · de-identified · study days instead of dates · codes"
    assert [event.detail for event in refused] == [detail] * 3  # the download, the job page and its status
    log = other.get(CENTRE)
    assert [entry.pk for entry in log.context["log"]] == [job.pk]  # the log shows it, without a download link
    assert reverse("exports:download", args=[job.pk]) not in log.content.decode()


def test_running_a_finished_job_again_changes_nothing(data_manager: Any, site: Any) -> None:
    job = services.export_request(user=data_manager, kind="dictionary_html", scope=ExportScope(site_ids=(site.pk,)))
    first = services.export_run(job.pk)
    again = services.export_run(job.pk)
    assert first.status == again.status == ExportJob.Status.DONE
    assert (again.sha256, again.finished_at, again.size) == (first.sha256, first.finished_at, first.size)


def test_a_failed_export_records_the_error_and_leaves_no_file(
    data_manager: Any, site: Any, settings: Any, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the export folder should be")
    settings.EXPORT_ROOT = blocker
    job = services.export_request(user=data_manager, kind="dictionary_csv", scope=ExportScope(site_ids=(site.pk,)))
    failed = services.export_run(job.pk)
    assert failed.status == ExportJob.Status.FAILED and failed.error and failed.sha256 == ""
    assert blocker.read_text() == "a file where the export folder should be"
    status = client_for(data_manager).get(reverse("exports:job_status", args=[job.pk])).json()
    assert status["status"] == "failed" and status["download_url"] is None and status["error"] == failed.error


# --- Expiry -----------------------------------------------------------------------------------------------------


def test_expiry_removes_the_file_and_keeps_the_row(data_manager: Any, site: Any, export_root: Path) -> None:
    job = services.export_run(
        services.export_request(user=data_manager, kind="dictionary_csv", scope=ExportScope(site_ids=(site.pk,))).pk
    )
    path = export_root / job.file_path
    assert path.is_file()
    assert services.exports_expire(now=job.expires_at - timedelta(seconds=1)) == []
    assert path.is_file()

    assert services.exports_expire(now=job.expires_at) == [job.pk]
    assert not path.exists() and not path.parent.exists()
    job.refresh_from_db()
    assert job.status == ExportJob.Status.EXPIRED and job.sha256 and job.size
    assert client_for(data_manager).get(reverse("exports:download", args=[job.pk])).status_code == 404

    ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.DONE, expires_at=timezone.now())
    assert expire_exports.delay().get() == 1  # the hourly beat task


# --- Queries ----------------------------------------------------------------------------------------------------


def test_the_centre_makes_the_same_number_of_queries_however_many_exports(
    data_manager: Any, other_data_manager: Any, site: Any
) -> None:
    client = client_for(data_manager)
    scope = ExportScope(site_ids=(site.pk,))

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(CENTRE).status_code == 200
        return len(captured)

    services.export_run(services.export_request(user=data_manager, kind="dictionary_csv", scope=scope).pk)
    one = queries()
    for user, kind in [(data_manager, "dictionary_html"), (other_data_manager, "dictionary_csv")] * 3:
        services.export_run(services.export_request(user=user, kind=kind, scope=scope).pk)
    assert queries() == one
    assert len(client.get(CENTRE).context["log"]) == 7


# --- The full package -------------------------------------------------------------------------------------------


def test_the_full_package_holds_every_other_format_as_its_writer_writes_it(
    data_manager: Any, trial: dict[str, Any], site: Any, export_root: Path
) -> None:
    scope = ExportScope(site_ids=(site.pk,))
    full = services.export_run(services.export_request(user=data_manager, kind="full", scope=scope).pk)
    assert full.status == ExportJob.Status.DONE, full.error
    with zipfile.ZipFile(export_root / full.file_path) as archive:
        names = archive.namelist()
        assert names == [entry_name(key) for key in FORMATS if key != "full"]
        csv_alone = services.export_run(services.export_request(user=data_manager, kind="csv", scope=scope).pk)
        with (
            zipfile.ZipFile(io.BytesIO(archive.read(entry_name("csv")))) as inner,
            zipfile.ZipFile(export_root / csv_alone.file_path) as alone,
        ):
            assert {n: inner.read(n) for n in inner.namelist()} == {n: alone.read(n) for n in alone.namelist()}
    assert {key: rows for key, rows in full.row_counts.items() if key.startswith("csv/")} == {
        f"csv/{table}": rows for table, rows in csv_alone.row_counts.items()
    }
    assert {key.split("/")[0] for key in full.row_counts} == {key for key in FORMATS if key != "full"}
    assert full.rows_done == sum(full.row_counts.values())
