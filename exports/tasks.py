"""Celery tasks of the export centre: writing one export job into the export storage, and deleting expired files
(beat, hourly)."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from exports import services


@shared_task(
    name="exports.tasks.run_export",
    acks_late=True,  # a worker that dies mid-export leaves the message for another worker, which starts again
    reject_on_worker_lost=True,
)
def run_export(job_id: int) -> str:
    """Write export job ``job_id``; a job already finished is left as it is. Returns the job's status."""
    return services.export_run(job_id).status


@shared_task(name="exports.tasks.expire_exports")
def expire_exports() -> int:
    """Remove the files of expired exports (the log rows stay); the number removed."""
    return len(services.exports_expire(now=timezone.now()))
