"""The export centre's pages: the form and the export log, a job's progress (page and JSON), the download.

Data managers and administrators may ask for every format; statisticians for the analysis formats,
de-identified. Everyone else gets 403 (logged by the 403 handler) on every page.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from exports import services
from exports.forms import ExportForm
from exports.models import ExportJob
from exports.tasks import run_export
from trial_site.forms import add_validation_error
from trial_site.queue import enqueue_on_commit
from trial_site.submission import once_per_submission


def export_access_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """View decorator: log in first; then 403 (logged by the 403 handler) unless the user may export something;
    the formats the user may ask for are passed to the view as ``kinds``."""

    @wraps(view)
    @login_required
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        kinds = services.export_allowed_kinds(request.user)
        if not kinds:
            raise PermissionDenied("needs exports.export_data or exports.export_analysis")
        return view(request, *args, kinds=kinds, **kwargs)

    return wrapped


def _own_job(request: HttpRequest, job_id: int) -> ExportJob:
    """The user's own export; 404 for anyone else's, as if there were none (and the attempt is logged)."""
    return services.export_owned(job_id=job_id, user=request.user, request=request)


def _streamed(job: ExportJob, request: HttpRequest) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        services.export_stream(job=job, request=request), content_type=services.export_content_type(job)
    )
    response["Content-Disposition"] = f'attachment; filename="{job.file_name}"'
    response["X-Export-Job"] = str(job.pk)
    return response


@once_per_submission
def _ask(request: HttpRequest, *, form: ExportForm, asked: list[ExportJob]) -> HttpResponse:
    """Record the export asked for (one row of the export log) and go to its page. Under the form's one-time
    submission key: the same form sent again, at the same instant or later, records nothing and is taken to the
    page of the export the first recorded. A refusal is put on ``form`` and records nothing (the key stays free)."""
    try:
        job = services.export_request(
            user=request.user,
            kind=form.cleaned_data["kind"],
            dataset=form.cleaned_data["dataset"],
            scope=form.cleaned_data["scope"],
            request=request,
        )
    except ValidationError as error:
        add_validation_error(form, error)
        return HttpResponse(status=400)
    if not services.export_streams(job):
        enqueue_on_commit(run_export, job.pk)
    asked.append(job)
    return redirect("exports:job", job_id=job.pk)


@require_http_methods(["GET", "POST"])
@export_access_required
def index(request: HttpRequest, kinds: list[str]) -> HttpResponse:
    """The form, and below it the export log. A small export streams; a larger one becomes a job.

    A streamed export answers with the file, not a redirect: its submission key is kept with the export's page,
    so a repeat of the same form is taken there (the export log row of the first) instead of exporting twice."""
    form = ExportForm(request.POST or None, user=request.user, kinds=kinds)
    if request.method == "POST" and form.is_valid():
        asked: list[ExportJob] = []
        response = _ask(request, form=form, asked=asked)
        if asked and services.export_streams(asked[0]):
            return _streamed(asked[0], request)
        if isinstance(response, HttpResponseRedirect):
            return response
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "exports/centre.html",
        {
            "form": form,
            "log": services.export_log(request.user),
            "full_access": form.full_access,
            "retention_hours": settings.EXPORT_RETENTION_HOURS,
        },
        status=status,
    )


@require_GET
@export_access_required
def job(request: HttpRequest, job_id: int, kinds: list[str]) -> HttpResponse:
    """One export's progress: a bar that fills as rows are written, then the download link."""
    export = services.export_describe(_own_job(request, job_id))
    return render(request, "exports/job.html", {"job": export, "status": _status(export)})


def _status(job: ExportJob) -> dict[str, Any]:
    ready = job.status == ExportJob.Status.DONE and bool(job.file_path)
    return {
        "id": job.pk,
        "status": job.status,
        "status_label": str(job.get_status_display()),
        "percent": job.percent,
        "rows_done": job.rows_done,
        "rows_total": job.rows_total,
        "size": job.size,
        "sha256": job.sha256,
        "error": job.error,
        "download_url": reverse("exports:download", args=[job.pk]) if ready else None,
    }


@require_GET
@export_access_required
def job_status(request: HttpRequest, job_id: int, kinds: list[str]) -> JsonResponse:
    """The progress page polls this: status, percent, and the download address once the file is ready."""
    return JsonResponse(_status(_own_job(request, job_id)))


@require_GET
@export_access_required
def download(request: HttpRequest, job_id: int, kinds: list[str]) -> FileResponse:
    """The file, for the person who asked for it, until it expires; 404 (and the access log) for anyone else."""
    export, opened = services.export_download(job_id=job_id, user=request.user, request=request)
    content_type = services.export_content_type(export)
    response = FileResponse(opened, as_attachment=True, filename=export.file_name, content_type=content_type)
    if not response.has_header("Content-Length") and (size := getattr(opened, "size", None)) is not None:
        response["Content-Length"] = str(size)  # object storage: the body is read as it is sent, its length known
    return response
