"""The export log: one row per export asked for, kept for good (the file itself expires)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class ExportJob(models.Model):
    """Who asked for which export of what, when; how it went; the file's size, row counts and SHA-256.

    Rows are never deleted (``delete`` is refused); when the file expires it is deleted from the export storage
    (``exports.storage``) and the row says so.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", pgettext_lazy("export status", "queued")
        RUNNING = "running", pgettext_lazy("export status", "running")
        DONE = "done", pgettext_lazy("export status", "ready")
        FAILED = "failed", pgettext_lazy("export status", "failed")
        EXPIRED = "expired", pgettext_lazy("export status", "expired")

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("asked for by")
    )
    requested_at = models.DateTimeField(_("asked for at"), db_index=True)
    kind = models.CharField(_("format"), max_length=30)
    dataset = models.CharField(_("dataset"), max_length=8, blank=True)
    scope = models.JSONField(_("scope"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    streamed = models.BooleanField(_("streamed to the browser"), default=False)
    rows_done = models.PositiveIntegerField(_("rows written"), default=0)
    rows_total = models.PositiveIntegerField(_("rows to write"), default=0)
    row_counts = models.JSONField(_("rows per dataset"), default=dict, blank=True)
    file_name = models.CharField(_("file name"), max_length=200, blank=True)
    file_path = models.CharField(_("stored file"), max_length=300, blank=True)
    size = models.PositiveBigIntegerField(_("size (bytes)"), null=True, blank=True)
    sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = _("export")
        verbose_name_plural = _("export log")
        permissions = [
            ("export_data", "Export any dataset, identified or de-identified (the export centre)"),
            ("export_analysis", "Export the de-identified analysis datasets and the data dictionary"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError("the export log keeps every export")

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        if not self.rows_total:
            return 0
        return min(99, round(100 * self.rows_done / self.rows_total))
