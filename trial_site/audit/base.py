"""Abstract bases for audited data.

``ClinicalRecord`` is the base of every clinical model: it carries the site, who created and last changed
the record and when, and the protocol version it was made under; it is registered with history through
``AuditedHistoricalRecords``. Creating needs no reason; changing or deleting saved data needs one, or
nothing is written. Every change must have an acting user.

``AppendOnlyModel`` is the base of logs that may only grow (the access log).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from trial_site.audit.actor import current_actor
from trial_site.audit.errors import (
    AppendOnlyViolation,
    AttributionRequired,
    BulkChangeRefused,
    ReasonForChangeRequired,
)
from trial_site.audit.history import AuditedHistoricalRecords
from trial_site.protocol import PROTOCOL


def guard_clinical_write(record: models.Model) -> None:
    """Run each callable of ``CLINICAL_WRITE_GUARDS`` (the data locks) before a clinical record is written; one
    that refuses raises a ``ValidationError`` and nothing is written."""
    for path in getattr(settings, "CLINICAL_WRITE_GUARDS", ()):
        import_string(path)(record)


def after_clinical_change(record: models.Model, *, created: bool, by: Any, reason: str) -> None:
    """Run each callable of ``AFTER_CLINICAL_CHANGE`` after a clinical record is saved, in the same transaction
    (verification cleared, signatures invalidated, queries linked, edit checks)."""
    for path in getattr(settings, "AFTER_CLINICAL_CHANGE", ()):
        import_string(path)(record, created=created, by=by, reason=reason)


class ClinicalRecordQuerySet(models.QuerySet):
    """Refuses queryset-wide writes, which would skip the reason for change and the history row."""

    def update(self, **kwargs: Any) -> int:
        raise BulkChangeRefused("update")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise BulkChangeRefused("delete")

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> Any:
        raise BulkChangeRefused("create")

    def bulk_update(self, objs: Any, *args: Any, **kwargs: Any) -> int:
        raise BulkChangeRefused("update")


class ClinicalRecord(models.Model):
    """Base of every clinical model: site-owned, attributable, versioned, and audited on every change."""

    site = models.ForeignKey("trial_site.Site", on_delete=models.PROTECT, related_name="+", verbose_name=_("site"))
    protocol_version = models.CharField(_("protocol version"), max_length=20, editable=False)
    created_at = models.DateTimeField(_("created at"), editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        verbose_name=_("created by"),
    )
    modified_at = models.DateTimeField(_("last changed at"), editable=False)
    modified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        verbose_name=_("last changed by"),
    )

    history = AuditedHistoricalRecords(inherit=True)
    objects = ClinicalRecordQuerySet.as_manager()

    # The marks the exports and the audit review read. Identifying fields name or reach a person and are
    # dropped from de-identified exports; free text (every TextField, and the short text fields named here)
    # may name one too, so a de-identified export leaves it out unless asked for.
    identifying_fields: ClassVar[tuple[str, ...]] = ()
    free_text_fields: ClassVar[tuple[str, ...]] = ()

    class Meta:
        abstract = True

    def save(self, *args: Any, by: Any = None, reason: str | None = None, **kwargs: Any) -> None:
        """Validate and save, attributed to ``by`` (or the current actor), with ``reason`` if data changes.

        Raises ``AttributionRequired`` with no acting user, ``ReasonForChangeRequired`` when saved data would
        change without a reason; in both cases nothing is written. The reason never outlives this save.
        """
        try:
            actor = self._acting_user(by)
            if reason is not None:
                self._change_reason = reason
            if not self._state.adding and self.reason_required_for_change() and not self._has_reason():
                raise ReasonForChangeRequired()
            now = timezone.now()
            if self._state.adding:
                self.created_at = now
                self.created_by = actor
                self.protocol_version = PROTOCOL.version
            self.modified_at = now
            self.modified_by = actor
            self.full_clean(validate_unique=False, validate_constraints=False)
            guard_clinical_write(self)
            self._history_user = actor
            created = self._state.adding
            reason_given = str(getattr(self, "_change_reason", "") or "")
            with transaction.atomic():  # the record and what its change sets off, together or not at all
                super().save(*args, **kwargs)
                after_clinical_change(self, created=created, by=actor, reason=reason_given)
        finally:
            self._forget_change_context()

    def delete(self, *args: Any, by: Any = None, reason: str | None = None, **kwargs: Any) -> Any:
        """Delete with a reason, attributed to ``by`` (or the current actor); the history keeps the record."""
        try:
            actor = self._acting_user(by)
            if reason is not None:
                self._change_reason = reason
            if not self._has_reason():
                raise ReasonForChangeRequired()
            guard_clinical_write(self)
            self._history_user = actor
            return super().delete(*args, **kwargs)
        finally:
            self._forget_change_context()

    def lock_scope(self) -> tuple[int | None, int | None]:
        """(participant id, visit id) of this record, for locks, verification and signatures that cover a visit
        or a whole casebook. Read from the ``participant``/``visit`` fields; a model placed otherwise says so."""
        participant_id = getattr(self, "participant_id", None)
        visit_id = getattr(self, "visit_id", None)
        if participant_id is None and visit_id is not None:
            participant_id = self.visit.participant_id  # type: ignore[attr-defined]
        return participant_id, visit_id

    def reason_required_for_change(self) -> bool:
        """Whether changing this saved record needs a reason. Always, unless a model says otherwise (a visit
        form still in draft); every change is in the history either way."""
        return True

    def _acting_user(self, by: Any) -> Any:
        if getattr(self, "skip_history_when_saving", False):
            raise AttributionRequired()
        actor = by if by is not None else current_actor()
        if actor is None or not getattr(actor, "is_authenticated", False):
            raise AttributionRequired()
        return actor

    def _has_reason(self) -> bool:
        return bool(str(getattr(self, "_change_reason", "") or "").strip())

    def _forget_change_context(self) -> None:
        # simple-history would otherwise carry the reason (and user) over to the next save of this object.
        for attribute in ("_change_reason", "_history_user"):
            if attribute in self.__dict__:
                delattr(self, attribute)


class AppendOnlyModel(models.Model):
    """A log that only grows: saving an existing row or deleting one is refused (and by the database too)."""

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyViolation(str(self._meta.verbose_name))
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyViolation(str(self._meta.verbose_name))
