"""The export storage on S3-compatible object storage: a job's file written to a local S3 server (moto's, real HTTP on
loopback), downloaded back through the export centre with the bytes and SHA-256 the export log records, expired by
deleting the object. And the two paths that keep memory flat: a file larger than one upload part goes up from the
disk and comes back read as it is sent."""

from __future__ import annotations

import hashlib
import os
import time
import tracemalloc
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import storages
from django.urls import reverse
from django.utils import timezone

from exports import services
from exports.models import ExportJob
from exports.scope import ExportScope
from exports.storage import SpooledExport, export_storage
from exports.storage_s3 import ExportS3Storage
from tests.exports.conftest import client_for
from tests.exports.s3 import PREFIX, S3Server, s3_server
from trial_site.models import AccessEvent
from trial_site.roles import Role

MIB = 1024 * 1024


@pytest.fixture
def s3(settings: Any, tmp_path: Path) -> Iterator[S3Server]:
    """The export storage on a fresh local S3 server; EXPORT_ROOT and the spool folder point at folders of this test
    (nothing is to be left in either)."""
    settings.EXPORT_ROOT = tmp_path / "exports"
    settings.EXPORT_SPOOL_DIR = str(tmp_path / "spool")
    (tmp_path / "spool").mkdir()
    with s3_server() as server:
        settings.STORAGES = {**settings.STORAGES, "exports": server.storage_settings()}
        yield server


@pytest.fixture
def data_manager(user_with_role: Any) -> Any:
    return user_with_role(Role.DATA_MANAGER, username="dm")


def test_the_export_storage_is_s3_when_a_bucket_is_configured(s3: S3Server) -> None:
    storage = export_storage()
    assert isinstance(storage, ExportS3Storage)
    assert storage.bucket_name == s3.bucket and storage.endpoint_url == s3.endpoint


def test_a_job_is_written_to_s3_downloaded_with_its_checksum_and_expired(
    s3: S3Server, data_manager: Any, trial: dict[str, Any], site: Any, settings: Any, tmp_path: Path
) -> None:
    scope = ExportScope(site_ids=(site.pk,))
    job = services.export_run(services.export_request(user=data_manager, kind="csv", scope=scope).pk)
    assert job.status == ExportJob.Status.DONE, job.error
    key = f"{PREFIX}/{job.pk}/{job.file_name}"
    assert job.file_path == f"{job.pk}/{job.file_name}"
    assert s3.keys() == [key]
    stored, answer = s3.read(key)
    assert hashlib.sha256(stored).hexdigest() == job.sha256 and len(stored) == job.size
    assert answer["ContentType"] == services.export_content_type(job)
    assert zipfile.ZipFile(BytesIO(stored)).namelist()  # a whole archive
    assert not settings.EXPORT_ROOT.exists()  # nothing on the local disk: not the file, not its spool
    assert list((tmp_path / "spool").iterdir()) == []

    client = client_for(data_manager)
    response = client.get(reverse("exports:download", args=[job.pk]))
    assert response.status_code == 200 and response.streaming
    assert response["Content-Disposition"] == f'attachment; filename="{job.file_name}"'
    assert int(response["Content-Length"]) == job.size
    data = b"".join(response.streaming_content)
    assert data == stored and hashlib.sha256(data).hexdigest() == job.sha256
    downloads = AccessEvent.objects.filter(
        kind=AccessEvent.Kind.EXPORT, user=data_manager, detail__contains="downloaded"
    )
    assert downloads.count() == 1

    assert services.exports_expire(now=job.expires_at - timedelta(seconds=1)) == []
    assert s3.keys() == [key]
    assert services.exports_expire(now=job.expires_at) == [job.pk]
    assert s3.keys() == []
    job.refresh_from_db()
    assert job.status == ExportJob.Status.EXPIRED and job.sha256 and job.size
    assert client.get(reverse("exports:download", args=[job.pk])).status_code == 404


def test_a_job_written_again_replaces_its_file_and_expiry_removes_what_an_attempt_left(
    s3: S3Server, data_manager: Any, site: Any
) -> None:
    job = services.export_request(user=data_manager, kind="dictionary_csv", scope=ExportScope(site_ids=(site.pk,)))
    leftover = f"{PREFIX}/{job.pk}/{job.file_name}"
    s3.client().put_object(Bucket=s3.bucket, Key=leftover, Body=b"half a file from a worker that died")
    s3.client().put_object(Bucket=s3.bucket, Key=f"{PREFIX}/{job.pk}/stray.part", Body=b"more")
    ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.RUNNING)  # its worker died

    done = services.export_run(job.pk)
    assert done.status == ExportJob.Status.DONE, done.error
    stored, _answer = s3.read(leftover)
    assert hashlib.sha256(stored).hexdigest() == done.sha256 and b"half a file" not in stored

    assert services.exports_expire(now=done.expires_at) == [job.pk]
    assert s3.keys() == []


def test_expiry_removes_spool_folders_a_killed_writer_left_once_older_than_the_retention(
    s3: S3Server, settings: Any, tmp_path: Path, db: None
) -> None:
    spool = tmp_path / "spool"
    old, fresh = spool / f"{services.SPOOL_PREFIX}41-x1", spool / f"{services.SPOOL_PREFIX}42-x2"
    for folder in (old, fresh):
        folder.mkdir()
        (folder / "dcssc-csv.zip").write_bytes(b"half written")
    hours_ago = time.time() - (settings.EXPORT_RETENTION_HOURS + 1) * 3600
    os.utime(old, (hours_ago, hours_ago))
    (spool / "someone-elses").mkdir()
    os.utime(spool / "someone-elses", (hours_ago, hours_ago))
    assert services.exports_expire(now=timezone.now()) == []
    assert sorted(path.name for path in spool.iterdir()) == sorted([fresh.name, "someone-elses"])


def test_a_download_of_a_file_gone_from_the_bucket_is_404(s3: S3Server, data_manager: Any, site: Any) -> None:
    job = services.export_run(
        services.export_request(user=data_manager, kind="dictionary_csv", scope=ExportScope(site_ids=(site.pk,))).pk
    )
    s3.client().delete_object(Bucket=s3.bucket, Key=f"{PREFIX}/{job.file_path}")
    assert client_for(data_manager).get(reverse("exports:download", args=[job.pk])).status_code == 404


def test_a_file_of_several_parts_goes_up_from_the_disk_and_comes_back_as_it_is_read(
    s3: S3Server, tmp_path: Path
) -> None:
    """Larger than boto3's multipart threshold (8 MiB): uploaded in parts from the file's path, and read back in
    64 KiB pieces from the body of the GET. What the reader holds after the first MiB is a small fraction of the
    file (S3Storage's own open would hold all of it by then)."""
    storage = storages["exports"]
    path = tmp_path / "large.bin"
    block = hashlib.sha256(b"seed").digest() * 2048  # 64 KiB
    with path.open("wb") as file:
        for index in range(160):  # 10 MiB
            file.write(block[index % 32 :] + block[: index % 32])
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    with path.open("rb") as file:
        name = storage.save("7/large.bin", SpooledExport(file, path=str(path), content_type="application/zip"))
    assert name == "7/large.bin" and storage.size(name) == 10 * MIB
    assert s3.client().head_object(Bucket=s3.bucket, Key=f"{PREFIX}/7/large.bin")["ContentType"] == "application/zip"

    digest, read, held = hashlib.sha256(), 0, -1
    tracemalloc.start(64)
    try:
        with storage.open(name) as opened:
            assert opened.size == 10 * MIB
            while chunk := opened.read(64 * 1024):
                digest.update(chunk)
                read += len(chunk)
                if read == MIB:  # what the reading side holds once it has read the first MiB
                    held = reader_bytes(tracemalloc.take_snapshot())
    finally:
        tracemalloc.stop()
    assert digest.hexdigest() == expected
    assert 0 <= held < 10 * MIB / 4, f"{held} bytes held by the reader of a 10 MiB file after its first MiB"


def reader_bytes(snapshot: tracemalloc.Snapshot) -> int:
    """The bytes alive in ``snapshot`` that the test's side allocated: not the S3 server, which runs in a thread of
    this process (moto keeps its objects in memory and answers from there)."""
    server = [tracemalloc.Filter(False, f"*/{package}/*", all_frames=True) for package in ("moto", "werkzeug")]
    server.append(tracemalloc.Filter(False, "*/socketserver.py", all_frames=True))
    return sum(stat.size for stat in snapshot.filter_traces(server).statistics("filename"))
