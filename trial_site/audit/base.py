"""Abstract bases for audited data.

``AuditedModel`` is the one save path that writes history rows: ``save(by=…, reason=…)`` attributes the row to the
acting user with the reason, under a row lock compares the version a form was opened on with the version saved
(``EditConflict`` if someone saved in between, nothing written), and writes nothing at all when no value changes
(an identical resubmission leaves no second history row). Every model with a history derives from it.

The save is lean (issue #21): it reads the saved row once, under its lock, and that one read also gives the version
(for ``EditConflict``), the old values, and whatever the follow-ups asked to know beforehand (``probe`` of a
follow-up, ``trial_site.hooks.probes``: the data locks, a verification, query or signature to clear), so that a
follow-up with nothing to do costs no query; only the foreign keys changed since the row was loaded are looked up
by ``full_clean``; and inside a caller's transaction the save adds no savepoint (see ``AuditedModel.save``).

``ClinicalRecord`` is the base of every clinical model: it adds the site, who created and last changed the record
and when, and the protocol version it was made under. Creating needs no reason; changing or deleting saved data
needs one, or nothing is written. Every change must have an acting user.

``AppendOnlyModel`` is the base of logs that may only grow (the access log).
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any, ClassVar

from django.conf import settings
from django.db import models, router, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from trial_site.audit.actor import current_actor
from trial_site.audit.errors import (
    AppendOnlyViolation,
    AttributionRequired,
    BulkChangeRefused,
    EditConflict,
    ReasonForChangeRequired,
)
from trial_site.audit.history import AuditedHistoricalRecords
from trial_site.audit.versions import changes_since, data_fields, fields_changed_from, history_model
from trial_site.hooks import PROBED, follow_up, probes


def guard_clinical_write(record: models.Model) -> None:
    """The ``clinical_write`` follow-ups (the data locks) before a clinical record is written; one that refuses
    raises a ``ValidationError`` and nothing is written."""
    follow_up("clinical_write", record)


def after_clinical_change(record: models.Model, *, created: bool, by: Any, reason: str) -> None:
    """The ``clinical_record_changed`` follow-ups after a clinical record is saved, in the same transaction
    (verification cleared, signatures invalidated, queries linked, edit checks)."""
    follow_up("clinical_record_changed", record, created=created, by=by, reason=reason)


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


VERSION = "audit_version__"  # the annotation of the locked read that holds the version


class AuditedModel(models.Model):
    """Base of every model with a history (``AuditedHistoricalRecords``): the one place history rows are written.

    ``opened_version`` (set on the instance by a form, see ``trial_site.concurrency``) is the version the user saw;
    a save against a newer version raises ``EditConflict`` and writes nothing.
    """

    opened_version: int | None = None
    _STAMPS = ("modified_at", "modified_by_id")

    class Meta:
        abstract = True

    def save(self, *args: Any, by: Any = None, reason: str | None = None, **kwargs: Any) -> None:
        """Save with the history row attributed to ``by`` (else the current actor) and carrying ``reason``.

        Under a lock on the saved row: nothing is written when no value changes; ``EditConflict`` when the row
        changed since ``opened_version``. The reason and user never outlive this save.

        Transactions: on its own, the save is one transaction (BEGIN … COMMIT). Inside a caller's transaction it adds
        no savepoint: its refusals (nothing changed, ``EditConflict``, no reason, a data lock, validation) come
        before anything is written, so the caller may catch them and go on; once it writes (the row, its history,
        the follow-ups) it runs as part of the caller's transaction (``savepoint=False``), and a failure there
        leaves that whole transaction to roll back, never a row without its history or its follow-ups. A caller
        that must go on after a failure of the write itself (an ``IntegrityError`` of a record created twice) holds
        a savepoint of its own around the save (``visits.crf_services.visit_form_save``).
        """
        self.__dict__.pop("_saved_row", None)
        try:
            actor = self._acting_user(by)
            if reason is not None:
                self._change_reason = reason
            stamps = {name: self.__dict__[name] for name in self._STAMPS if name in self.__dict__}
            self._prepare_write(actor)
            created = self._state.adding
            using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
            outer = transaction.get_connection(using).in_atomic_block
            with nullcontext() if outer else transaction.atomic(using=using):  # the lock needs a transaction
                if not created and self._unchanged_or_conflict(using):
                    self.__dict__.update(stamps)  # nothing was written: the record is as saved
                    self._state.fields_cache.pop("modified_by", None)
                    return
                self._check_write()
                if actor is not None:
                    self._history_user = actor
                # The record, its history and what its change sets off: all or nothing.
                with transaction.atomic(using=using, savepoint=False):
                    super().save(*args, **kwargs)
                    self._after_write(created=created, by=actor, reason=str(getattr(self, "_change_reason", "") or ""))
            self._loaded_values = {field.attname: getattr(self, field.attname) for field in self._meta.concrete_fields}
            self.opened_version = None
        finally:
            self._forget_change_context()

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any) -> Any:
        instance = super().from_db(db, field_names, values)
        instance._loaded_values = dict(zip(field_names, values, strict=True))  # attname → value as read
        return instance

    def saved_row(self) -> dict[str, Any] | None:
        """The data fields of the record as they were saved before this save (during it) or the last save of this
        instance (after it), read under the row's lock; None for a record created by that save."""
        return self.__dict__.get("_saved_row")

    def _unchanged_or_conflict(self, using: str | None = None) -> bool:
        """Lock the saved row; True when this save would change no value (write nothing). Raise
        ``EditConflict`` when a version was given and the row has a newer one.

        Two queries: the row's data fields under the lock, then (when the save changes data) its version (the id of
        its latest history row) and the follow-ups' probes, kept for the rest of the save (``saved_row``,
        ``trial_site.hooks.probed``). The second is a statement of its own so that it reads what committed while the
        lock was awaited (a subquery of the locking statement would read the snapshot taken before the wait)."""
        model = type(self)
        fields = data_fields(model)
        current = (
            model._base_manager.using(using)
            .select_for_update(of=("self",))
            .filter(pk=self.pk)
            .values(*[f.attname for f in fields])
            .first()
        )
        if current is None:
            return False
        self.__dict__["_saved_row"] = current
        if all(getattr(self, f.attname) == current[f.attname] for f in fields):
            return True
        latest = history_model(self).objects.filter(id=models.OuterRef("pk")).order_by("-history_id")
        annotations = {VERSION: models.Subquery(latest.values("history_id")[:1]), **self._probes()}
        read = model._base_manager.using(using).filter(pk=self.pk).annotate(**annotations).values(*annotations).first()
        read = read or {VERSION: None}
        version = read.pop(VERSION)
        self.__dict__[PROBED] = read
        if self.opened_version is not None and version is not None and version != self.opened_version:
            raise EditConflict(
                changes=changes_since(self, self.opened_version),
                yours=fields_changed_from(self, self.opened_version),
                current_version=version,
            )
        return False

    def _probes(self) -> dict[str, Any]:
        """What the follow-ups of this save want read with the saved row (``trial_site.hooks.probes``)."""
        return {}

    def _acting_user(self, by: Any) -> Any:
        return by if by is not None else current_actor()

    def _prepare_write(self, actor: Any) -> None:
        """Before the lock: stamps and validation (``ClinicalRecord``)."""

    def _check_write(self) -> None:
        """Under the lock, once the save is known to change data: reasons and guards (``ClinicalRecord``)."""
        if not self._state.adding and self.reason_required_for_change() and not self._has_reason():
            raise ReasonForChangeRequired()

    def _after_write(self, *, created: bool, by: Any, reason: str) -> None:
        """In the same transaction, after the row and its history are written (``ClinicalRecord``)."""

    def reason_required_for_change(self) -> bool:
        """Whether changing this saved record needs a reason (clinical records: always, but for drafts)."""
        return False

    def _has_reason(self) -> bool:
        return bool(str(getattr(self, "_change_reason", "") or "").strip())

    def _forget_change_context(self) -> None:
        # simple-history would otherwise carry the reason (and user) over to the next save of this object; the
        # probes belong to this save only.
        for attribute in ("_change_reason", "_history_user", PROBED):
            if attribute in self.__dict__:
                delattr(self, attribute)


class ClinicalRecord(AuditedModel):
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
    # How a row reaches its participant: a ``values()`` path to the participant's id. The one place that says who
    # owns a record (monitoring, exports, locks and the registry of forms read it; ``participant_id_of``).
    participant_path: ClassVar[str] = "participant_id"

    class Meta:
        abstract = True

    def save(self, *args: Any, by: Any = None, reason: str | None = None, **kwargs: Any) -> None:
        """Validate and save, attributed to ``by`` (or the current actor), with ``reason`` if data changes.

        Raises ``AttributionRequired`` with no acting user, ``ReasonForChangeRequired`` when saved data would
        change without a reason, ``EditConflict`` when it changed since the form was opened; in each case
        nothing is written. The reason never outlives this save.
        """
        super().save(*args, by=by, reason=reason, **kwargs)

    def _prepare_write(self, actor: Any) -> None:
        now = timezone.now()
        if self._state.adding:
            self.created_at = now
            self.created_by = actor
            self.protocol_version = self._protocol_version_in_force()
        self.modified_at = now
        self.modified_by = actor
        self.full_clean(exclude=self._foreign_keys_known(actor), validate_unique=False, validate_constraints=False)

    def _foreign_keys_known(self, actor: Any) -> set[str]:
        """The foreign keys ``full_clean`` need not look up: those still holding the value they were loaded with (it
        existed then; a row deleted since is refused by the database's own constraint), and the stamps set from the
        acting user, a saved user. A foreign key changed since loading is looked up as ever."""
        loaded = self.__dict__.get("_loaded_values", {})
        stamped = {"created_by", "modified_by"} if getattr(actor, "pk", None) is not None else set()
        foreign_keys = [field for field in self._meta.concrete_fields if isinstance(field, models.ForeignKey)]
        known = set()
        for field in foreign_keys:
            value = getattr(self, field.attname)
            from_actor = field.name in stamped and value == actor.pk
            if value is not None and (from_actor or (field.attname in loaded and loaded[field.attname] == value)):
                known.add(field.name)
        return known

    def _probes(self) -> dict[str, Any]:
        return {**probes("clinical_write", self), **probes("clinical_record_changed", self)}

    def _protocol_version_in_force(self) -> str:
        """The protocol version in force today at the record's site: the version the record is made under."""
        from zoneinfo import ZoneInfo

        from trial_site.protocol_versions import protocol_today

        site = self.site if self.site_id is not None else None
        return protocol_today(ZoneInfo(site.time_zone) if site is not None else None).version

    def _check_write(self) -> None:
        super()._check_write()
        guard_clinical_write(self)

    def _after_write(self, *, created: bool, by: Any, reason: str) -> None:
        after_clinical_change(self, created=created, by=by, reason=reason)

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

    def participant_id_of(self) -> int | None:
        """The id of the participant who owns this record, along ``participant_path``."""
        *links, last = self.participant_path.split("__")
        value: Any = self
        for link in links:
            value = getattr(value, link, None)
            if value is None:
                return None
        return getattr(value, "pk" if last == "id" else last, None)

    def lock_scope(self) -> tuple[int | None, int | None]:
        """(participant id, visit id) of this record, for locks, verification and signatures that cover a visit
        or a whole casebook."""
        return self.participant_id_of(), getattr(self, "visit_id", None)

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


def save_user(user: Any, *, by: Any, reason: str, update_fields: list[str] | None = None) -> None:
    """Save a user account with its history row attributed to ``by`` and carrying ``reason``.

    Django's user model is not an ``AuditedModel``; this is its one audited save path (``trial_site.services`` and
    the staff pages call it), the same attribution ``AuditedModel.save`` gives every other history row. A reason is
    required: every change to an account says why. ``by`` may be the user themself (their own password).
    """
    if not str(reason or "").strip():
        raise ReasonForChangeRequired()
    try:
        user._history_user = by
        user._change_reason = reason
        with transaction.atomic():
            user.save(update_fields=update_fields)
    finally:
        for attribute in ("_change_reason", "_history_user"):
            if attribute in user.__dict__:
                delattr(user, attribute)
