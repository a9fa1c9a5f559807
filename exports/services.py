"""The export centre's services: asking for an export, writing it (as a job or streamed), downloading, expiry.

Every export is a row of the export log (``ExportJob``) from the moment it is asked for; the file is written by
a writer of ``exports.formats`` through a ``HashingWriter``, so its SHA-256 and size are known without reading
it again. A job's file is written to a local spool file, then saved as ``<job id>/<file name>`` in the export
storage (``exports.storage``: the file system under ``EXPORT_ROOT``, or S3-compatible object storage shared by every
host), and served from there, read as it is sent, only to the person who asked, until it expires; small exports
stream straight to the browser and leave no file behind. Every request and every download is written to the
access log (kind ``export``).
"""

from __future__ import annotations

import hashlib
import io
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.core.files.storage import Storage
from django.db import transaction
from django.db.models import F
from django.http import Http404, HttpRequest
from django.utils import timezone, translation
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from exports.catalogue import datasets
from exports.formats import FORMATS, ExportFormat, Progress, RowCounts, Writer, writer_for
from exports.models import ExportJob
from exports.rows import count
from exports.scope import DateMode, ExportScope
from exports.storage import SpooledExport, export_storage
from trial_site.models import AccessEvent, Site
from trial_site.permissions import SEE_IDENTIFIERS, site_ids_where, user_can
from trial_site.roles import SEES_ARM
from trial_site.services import access_event_record

logger = logging.getLogger(__name__)

EXPORT_DATA = "exports.export_data"
EXPORT_ANALYSIS = "exports.export_analysis"
DATASET_CSV_WRITER = "exports.tabular.write_dataset_csv"
PROGRESS_STEP = 500  # rows written between two updates of the job's progress
CHUNK_BYTES = 64 * 1024  # what a streamed export sends at a time
SPOOL_BYTES = 2 * 1024 * 1024  # a streamed export is kept in memory up to this size, then on disk until sent


# --- Writing through a hash ------------------------------------------------------------------------------------


class HashingWriter(io.RawIOBase):
    """A write-only, forward-only binary stream that passes bytes on to ``target`` and keeps their SHA-256 and
    count. It cannot seek, so a ZIP writer streams (data descriptors) instead of going back to patch headers:
    every byte is hashed exactly once, in the order it lands in the file."""

    def __init__(self, target: BinaryIO) -> None:
        super().__init__()
        self.target = target
        self.digest = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self.size

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.target.write(view)
        self.digest.update(view)
        self.size += len(view)
        return len(view)

    @property
    def sha256(self) -> str:
        return self.digest.hexdigest()


# --- What an export is -----------------------------------------------------------------------------------------


def export_format(kind: str) -> ExportFormat:
    return FORMATS[kind]


def export_writer(job: ExportJob) -> Writer:
    """The function that writes ``job``'s file: a single dataset's CSV, or the format's writer."""
    if job.dataset:
        write_dataset_csv = import_string(DATASET_CSV_WRITER)

        def write(scope: ExportScope, out: BinaryIO, progress: Progress) -> RowCounts:
            return write_dataset_csv(scope, out, progress, job.dataset)

        return write
    return writer_for(job.kind)


def export_content_type(job: ExportJob) -> str:
    return "text/csv; charset=utf-8" if job.dataset else export_format(job.kind).content_type


def export_file_name(*, kind: str, dataset: str, at: datetime) -> str:
    """``dcssc-<format>[-<dataset>]-<date>-<time>.<extension>``, in the trial's time zone."""
    extension = "csv" if dataset else export_format(kind).extension
    stamp = timezone.localtime(at).strftime("%Y%m%d-%H%M%S")
    middle = f"{kind}-{dataset.lower()}" if dataset else kind
    return f"dcssc-{middle}-{stamp}.{extension}"


def export_rows_expected(*, kind: str, dataset: str, scope: ExportScope) -> int:
    """How many rows the export will write, counted before writing (for the progress bar and the choice between
    streaming and a job): the dataset's rows; the dictionary's variables; otherwise every dataset's rows."""
    if dataset:
        return count(next(d for d in datasets() if d.key == dataset), scope)
    if kind.startswith("dictionary"):
        return sum(len(d.variables) for d in datasets())
    if kind == "full":
        return sum(export_rows_expected(kind=key, dataset="", scope=scope) for key in FORMATS if key != "full")
    return sum(count(d, scope) for d in datasets())


def scope_summary(scope: dict[str, Any], site_codes: dict[int, str]) -> str:
    """One line saying what an export covers: sites, cut-off, identified or not, dates, codes, free text."""
    parts = [", ".join(sorted(site_codes.get(site_id, f"#{site_id}") for site_id in scope.get("site_ids", [])))]
    parts.append(_("cut-off %(day)s") % {"day": scope["cut_off"]} if scope.get("cut_off") else _("data as now"))
    parts.append(_("identified") if scope.get("identified") else _("de-identified"))
    parts.append(str(DateMode(scope.get("date_mode", DateMode.STUDY_DAY)).label).lower())
    parts.append(_("labels") if scope.get("codes_as_labels") else _("codes"))
    if scope.get("free_text") and not scope.get("identified"):
        parts.append(_("free text kept"))
    return " · ".join(parts)


def site_codes() -> dict[int, str]:
    return dict(Site.objects.values_list("id", "code"))


def _log_detail(job: ExportJob, verb: str) -> str:
    with translation.override("en"):
        what = f"{job.kind} ({job.dataset})" if job.dataset else job.kind
        return f"export #{job.pk} {verb}: {what}; {scope_summary(job.scope, site_codes())}"


# --- Asking for an export --------------------------------------------------------------------------------------


def export_allowed_kinds(user: Any) -> list[str]:
    """The formats ``user`` may ask for: all of them with ``export_data``; with ``export_analysis`` alone, the
    analysis formats (always de-identified); none otherwise."""
    if user_can(user, EXPORT_DATA):
        return list(FORMATS)
    if user_can(user, EXPORT_ANALYSIS):
        return [key for key, export in FORMATS.items() if export.analysis]
    return []


def export_site_ids(
    user: Any, *, kind: str | None = None, identified: bool = False, free_text: bool = False
) -> frozenset[int]:
    """The sites whose data ``user`` may export as ``kind`` (any format when None), ``identified`` or with
    ``free_text``: each site is asked for on its own, so a role counts at its own site only.

    At a site the user needs the format's permission there (``export_data``; ``export_analysis`` for an analysis
    format, de-identified, without free text), and ``randomization.view_arm`` there, since every export carries the
    allocation and its arm. A data manager at one site who is the blinded assessor at another exports the first
    site only. An identified export also needs, at each site, the right to see its participants' identifying data
    (``may_see_identifiers``): an administrator, who sees no initials or dates of birth on any page, exports none."""
    full = site_ids_where(user, EXPORT_DATA)
    if identified or free_text or (kind is not None and not export_format(kind).analysis):
        permitted = full
    else:
        permitted = full | site_ids_where(user, EXPORT_ANALYSIS)
    if identified:
        permitted &= site_ids_where(user, SEE_IDENTIFIERS)
    return permitted & site_ids_where(user, SEES_ARM)


def export_request(
    *, user: Any, kind: str, scope: ExportScope, dataset: str = "", request: HttpRequest | None = None
) -> ExportJob:
    """Record that ``user`` asks for an export of ``kind`` (one ``dataset`` as CSV, or every one) with ``scope``.

    Raises ``PermissionDenied`` for a user who may not export at all, and ``ValidationError`` (by field name)
    for what this user may not ask: a format not theirs, identified data or free text without ``export_data``,
    a site where the user does not hold the permission for this export (``export_site_ids``: each site of the
    request is checked), a dataset that is not one, a dataset with a format other than CSV.
    """
    allowed = export_allowed_kinds(user)
    if not allowed:
        raise PermissionDenied("needs exports.export_data or exports.export_analysis")
    errors: dict[str, str] = {}
    if kind not in allowed:
        errors["kind"] = _("You may not ask for this format.")
    full_access = user_can(user, EXPORT_DATA)
    if not full_access and scope.identified:
        errors["identified"] = _("You may export de-identified data only.")
    if not full_access and scope.free_text:
        errors["free_text"] = _("You may export de-identified data without free text only.")
    if dataset:
        if dataset not in {d.key for d in datasets()}:
            errors["dataset"] = _("There is no such form.")
        elif kind != "csv":
            errors["dataset"] = _("A single form is exported as CSV only: choose CSV, or all forms.")
    if "identified" not in errors and scope.identified and not export_site_ids(user, identified=True):
        errors["identified"] = _("Your roles do not show identifying data: export de-identified data.")
    permitted = export_site_ids(user, kind=kind, identified=scope.identified, free_text=scope.free_text)
    refused_already = {"kind", "identified", "free_text"} & set(errors)
    if not refused_already and not set(scope.site_ids) <= permitted:
        errors["site"] = _("You may export only the data of the sites where your role allows this export.")
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    job = ExportJob.objects.create(
        requested_by=user,
        requested_at=now,
        kind=kind,
        dataset=dataset,
        scope=scope.as_json(),
        rows_total=export_rows_expected(kind=kind, dataset=dataset, scope=scope),
        file_name=export_file_name(kind=kind, dataset=dataset, at=now),
    )
    access_event_record(kind=AccessEvent.Kind.EXPORT, request=request, user=user, detail=_log_detail(job, "asked"))
    return job


def export_streams(job: ExportJob) -> bool:
    """True when ``job`` is small enough, in a format that allows it, to stream straight to the browser."""
    streamable = bool(job.dataset) or export_format(job.kind).streams
    return streamable and job.rows_total <= settings.EXPORT_STREAM_MAX_ROWS


# --- Writing a job ---------------------------------------------------------------------------------------------


def export_file_name_stored(job: ExportJob) -> str:
    """The name of ``job``'s file in the export storage."""
    return f"{job.pk}/{job.file_name}"


SPOOL_PREFIX = ".spool-export-"


def _spool_folder(storage: Storage) -> str:
    """Where a job's file is written before it is saved: beside the files on a file system storage (saving is then
    a rename), else ``EXPORT_SPOOL_DIR`` (the system's temporary folder when empty)."""
    return getattr(storage, "spool_folder", None) or settings.EXPORT_SPOOL_DIR or tempfile.gettempdir()


def _spool_sweep(storage: Storage, *, older_than_hours: int) -> None:
    """Remove spool folders left by writers that died (a killed worker) once they are older than any export runs."""
    try:
        folders = [path for path in Path(_spool_folder(storage)).glob(SPOOL_PREFIX + "*") if path.is_dir()]
    except OSError:
        return
    cut = time.time() - older_than_hours * 3600
    for folder in folders:
        try:
            if folder.stat().st_mtime < cut:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue


def _job_files_delete(storage: Storage, job_id: int, file_path: str = "") -> None:
    """Delete ``job_id``'s file and anything else left in its folder (an attempt cut short)."""
    names = {file_path} if file_path else set()
    try:
        _folders, files = storage.listdir(str(job_id))
    except FileNotFoundError:
        files = []
    names |= {f"{job_id}/{name}" for name in files}
    for name in sorted(names):
        storage.delete(name)


def _progress_recorder(job_id: int) -> Progress:
    """A ``progress(rows)`` that adds to the job's ``rows_done`` every ``PROGRESS_STEP`` rows (a plain update,
    committed at once, so the progress page sees it while the export runs)."""
    pending = 0

    def progress(rows: int) -> None:
        nonlocal pending
        pending += rows
        if pending >= PROGRESS_STEP:
            ExportJob.objects.filter(pk=job_id).update(rows_done=F("rows_done") + pending)
            pending = 0

    return progress


def export_run(job_id: int) -> ExportJob:
    """Write job ``job_id``'s file and complete its log row. Idempotent: a job already done, failed or expired
    is left as it is; a job found running (its worker died) is written again from the start."""
    with transaction.atomic():
        job = ExportJob.objects.select_for_update().get(pk=job_id)
        if job.status not in (ExportJob.Status.QUEUED, ExportJob.Status.RUNNING):
            return job
        scope = ExportScope.from_json(job.scope)
        job.status, job.started_at, job.rows_done = ExportJob.Status.RUNNING, timezone.now(), 0
        job.rows_total = export_rows_expected(kind=job.kind, dataset=job.dataset, scope=scope)
        job.save(update_fields=["status", "started_at", "rows_done", "rows_total"])
    storage = export_storage()
    name = export_file_name_stored(job)
    try:
        spool = Path(_spool_folder(storage))
        spool.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f"{SPOOL_PREFIX}{job.pk}-", dir=spool) as folder:
            spooled = Path(folder) / job.file_name
            with translation.override("en"), spooled.open("w+b") as file:
                hashing = HashingWriter(file)
                row_counts = export_writer(job)(scope, hashing, _progress_recorder(job.pk))
                file.flush()
                storage.delete(name)  # written again (its worker died): the new file replaces the old
                stored = storage.save(
                    name, SpooledExport(file, path=str(spooled), content_type=export_content_type(job))
                )
    except Exception as error:
        logger.exception("export #%s (%s) failed", job.pk, job.kind)
        try:
            _job_files_delete(storage, job.pk)
        except Exception:
            logger.exception("export #%s: its partial files could not be removed", job.pk)
        finished = timezone.now()
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportJob.Status.FAILED, finished_at=finished, error=f"{type(error).__name__}: {error}"[:500]
        )
        job.refresh_from_db()
        return job
    finished = timezone.now()
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportJob.Status.DONE,
        rows_done=sum(row_counts.values()),
        row_counts=row_counts,
        file_path=stored,
        size=hashing.size,
        sha256=hashing.sha256,
        finished_at=finished,
        expires_at=finished + timedelta(hours=settings.EXPORT_RETENTION_HOURS),
    )
    job.refresh_from_db()
    return job


# --- Streaming a small export ----------------------------------------------------------------------------------


def export_stream(*, job: ExportJob, request: HttpRequest | None = None) -> Iterator[bytes]:
    """The bytes of a small export, for a ``StreamingHttpResponse``; no file is kept.

    The writer writes through a ``HashingWriter`` into a spooled temporary file (memory up to ``SPOOL_BYTES``,
    then disk), which is then sent in chunks; when the last chunk has gone the log row is completed (SHA-256,
    size, row counts) and the download is written to the access log. A stream cut short is logged as failed.
    """
    scope = ExportScope.from_json(job.scope)
    started = timezone.now()
    ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.RUNNING, streamed=True, started_at=started)
    finished_sending = False
    try:
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            hashing = HashingWriter(spool)  # type: ignore[arg-type]
            with translation.override("en"):
                row_counts = export_writer(job)(scope, hashing, _progress_recorder(job.pk))
            spool.seek(0)
            while chunk := spool.read(CHUNK_BYTES):
                yield chunk
        finished_sending = True
    except Exception as error:
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportJob.Status.FAILED, finished_at=timezone.now(), error=f"{type(error).__name__}: {error}"[:500]
        )
        raise
    finally:
        if not finished_sending and ExportJob.objects.filter(pk=job.pk, status=ExportJob.Status.RUNNING).exists():
            ExportJob.objects.filter(pk=job.pk).update(
                status=ExportJob.Status.FAILED, finished_at=timezone.now(), error=_("The download was interrupted.")
            )
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportJob.Status.DONE,
        rows_done=sum(row_counts.values()),
        row_counts=row_counts,
        size=hashing.size,
        sha256=hashing.sha256,
        finished_at=timezone.now(),
    )
    job.refresh_from_db()
    access_event_record(
        kind=AccessEvent.Kind.EXPORT, request=request, user=job.requested_by, detail=_log_detail(job, "streamed")
    )


# --- Downloading and expiry ------------------------------------------------------------------------------------


def export_owned(*, job_id: int, user: Any, request: HttpRequest | None = None) -> ExportJob:
    """The export ``job_id`` if ``user`` asked for it; ``Http404`` otherwise.

    Anyone else is refused as if there were no such export, and the attempt is written to the access log.
    """
    job = ExportJob.objects.filter(pk=job_id).first()
    if job is None:
        raise Http404("no such export")
    if job.requested_by_id != user.pk:
        access_event_record(
            kind=AccessEvent.Kind.ACCESS_DENIED, request=request, user=user, detail=_log_detail(job, "refused")
        )
        raise Http404("no such export")
    return job


def export_download(*, job_id: int, user: Any, request: HttpRequest | None = None) -> tuple[ExportJob, File]:
    """The job and its file opened for reading from the export storage (read as it is sent, never whole), for the
    person who asked for it while the file is kept; ``Http404`` otherwise."""
    job = export_owned(job_id=job_id, user=user, request=request)
    if job.status != ExportJob.Status.DONE or not job.file_path:
        raise Http404("the export's file is not available")
    try:
        opened = export_storage().open(job.file_path, "rb")
    except FileNotFoundError:
        raise Http404("the export's file is not available") from None
    access_event_record(kind=AccessEvent.Kind.EXPORT, request=request, user=user, detail=_log_detail(job, "downloaded"))
    return job, opened


def exports_expire(*, now: datetime) -> list[int]:
    """Delete the files of exports past their expiry from the export storage and mark them expired (the log rows
    stay); their ids."""
    expired = list(
        ExportJob.objects.filter(status=ExportJob.Status.DONE, expires_at__lte=now).values_list("pk", "file_path")
    )
    storage = export_storage()
    for job_id, file_path in expired:
        _job_files_delete(storage, job_id, file_path)
        ExportJob.objects.filter(pk=job_id, status=ExportJob.Status.DONE).update(status=ExportJob.Status.EXPIRED)
    _spool_sweep(storage, older_than_hours=settings.EXPORT_RETENTION_HOURS)
    return [job_id for job_id, _path in expired]


# --- Reading the log -------------------------------------------------------------------------------------------


def export_log(user: Any, *, limit: int = 100) -> list[ExportJob]:
    """The latest exports this user may see, each with ``scope_text`` and ``format_label``: their own, and
    everyone else's exports of sites where the user holds ``export_data`` (an export that covers any other site is
    not shown: the log would name the site). Two queries when the log is short."""
    readable = site_ids_where(user, EXPORT_DATA)
    jobs = ExportJob.objects.select_related("requested_by")
    if not readable:
        jobs = jobs.filter(requested_by=user)
    found = []
    # The sites are in the job's JSON scope (no portable JSON lookup for "contained in"): filtered here.
    for job in jobs.iterator(chunk_size=limit):
        if job.requested_by_id == user.pk or set(job.scope.get("site_ids", [])) <= readable:
            found.append(job)
            if len(found) >= limit:
                break
    codes = site_codes()
    for job in found:
        export_describe(job, codes)
    return found


def export_describe(job: ExportJob, codes: dict[int, str] | None = None) -> ExportJob:
    """``job`` with ``scope_text`` and ``format_label`` for the pages (``codes``: the site codes, read once)."""
    job.scope_text = scope_summary(job.scope, site_codes() if codes is None else codes)  # type: ignore[attr-defined]
    job.format_label = FORMATS[job.kind].label if job.kind in FORMATS else job.kind  # type: ignore[attr-defined]
    return job
