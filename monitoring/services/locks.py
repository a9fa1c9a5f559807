"""Data locks: a data manager locks a form, a visit, a participant's casebook or the whole database, and nothing
under the lock can be written by any path that saves through the model layer (pages, services, commands, a future
admin) until it is unlocked, with a reason. Lock and unlock are audited in ``DataLock``'s history; rows are never
deleted.

The write guard every ``ClinicalRecord.save()``/``delete()`` calls (the ``clinical_write`` follow-up,
``monitoring.panels.refuse_locked_write``) raises ``DataLocked``: at most one query per write, and none of its own
in an audited save of a saved record, which asks whether a lock covers it in the read of the row it locks
(``lock_probe``); the lock itself is read only to refuse. Raw SQL and ``loaddata``
(raw saves) bypass the model layer and therefore the locks; in production the application's database role is the
only writer.

Who may lock: ``monitoring.lock_data`` at the site of what is locked. The whole database belongs to no site: a
user holding ``lock_data`` at any site may lock or unlock it (data managers are the trial's, not a site's).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Exists
from django.utils import timezone
from django.utils.translation import gettext as _

from monitoring.models import DataLock
from monitoring.selectors.locks import (
    LOCK_PERMISSION,
    Scope,
    covering_lock,
    covering_locks,
    lock_message,
    lock_target,
    person,
    visit_id_of,
)
from monitoring.selectors.records import record_key, record_participant_id
from screening.models import Participant
from trial_site.audit.versions import current_version
from trial_site.hooks import probed
from trial_site.permissions import require
from visits.models import Visit


class DataLocked(ValidationError):
    """A write refused because a lock in force covers the record; ``lock`` is that lock."""

    def __init__(self, lock: DataLock) -> None:
        self.lock = lock
        super().__init__(lock_message(lock), code="locked")


LOCKED = "monitoring_locked"  # the probe: a lock in force covers the record


def lock_probe(record: models.Model) -> dict[str, Any]:
    """For the audited save's read of the saved row: whether a lock in force covers the record."""
    return {LOCKED: Exists(covering_locks(record))}


def locked_write_refuse(record: models.Model) -> None:
    """Raise ``DataLocked`` when a lock in force covers ``record``. No query when the save's read of the row found
    no lock (``lock_probe``); else one."""
    if probed(record, LOCKED) is False:
        return
    lock = covering_lock(record)
    if lock is not None:
        raise DataLocked(lock)


locked_write_refuse.probe = lock_probe  # type: ignore[attr-defined]


def _reason(reason: str | None, field: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise ValidationError({field: _("Give the reason.")})
    if len(text) > 300:
        raise ValidationError({field: _("Keep the reason under 300 characters.")})
    return text


@transaction.atomic
def lock_data(
    *,
    scope: str,
    by: Any,
    reason: str,
    record: models.Model | None = None,
    visit: Visit | None = None,
    participant: Participant | None = None,
) -> DataLock:
    """Lock a form (``record``), a ``visit``, a ``participant``'s casebook or the whole database.

    Needs ``monitoring.lock_data`` at the site of what is locked (for the database: at any site) and a reason.
    A lock already in force on the same target is refused with a clear message.
    """
    lock = DataLock(scope=scope, locked_by=by)
    if scope == Scope.FORM:
        if record is None or record.pk is None or not hasattr(record, "site_id"):
            raise ValidationError({"scope": _("Choose a saved form to lock.")})
        lock.content_type, lock.object_id = record_key(record)
        lock.participant_id = record_participant_id(record)
        lock.visit_id = visit_id_of(record) if not isinstance(record, Visit) else None
        lock.site_id = record.site_id
    elif scope == Scope.VISIT:
        if visit is None or visit.pk is None:
            raise ValidationError({"scope": _("Choose the visit to lock.")})
        lock.visit, lock.participant_id, lock.site_id = visit, visit.participant_id, visit.site_id
    elif scope == Scope.CASEBOOK:
        if participant is None or participant.pk is None:
            raise ValidationError({"scope": _("Choose the participant whose casebook to lock.")})
        lock.participant, lock.site_id = participant, participant.site_id
    elif scope == Scope.DATABASE:
        lock.site = None
    else:
        raise ValidationError({"scope": _("Lock a form, a visit, a casebook or the whole database.")})
    require(by, LOCK_PERMISSION, lock.site if lock.site_id else None)
    lock.reason = _reason(reason, "reason")
    if lock.participant_id is not None:
        # Serialise locking within one casebook, so two data managers cannot lock the same target twice.
        Participant.objects.select_for_update().filter(pk=lock.participant_id).exists()
    target = {
        Scope.FORM: {"content_type_id": lock.content_type_id, "object_id": lock.object_id},
        Scope.VISIT: {"visit_id": lock.visit_id},
        Scope.CASEBOOK: {"participant_id": lock.participant_id},
        Scope.DATABASE: {},
    }[Scope(scope)]
    same = DataLock.objects.filter(unlocked_at__isnull=True, scope=scope, **target)
    existing = same.select_related("locked_by", "participant", "visit", "content_type").first()
    if existing is not None:
        raise ValidationError(
            _("%(target)s is locked already (by %(person)s since %(day)s).")
            % {
                "target": lock_target(existing)[:1].upper() + lock_target(existing)[1:],
                "person": person(existing.locked_by),
                "day": timezone.localdate(existing.locked_at).isoformat(),
            },
            code="already_locked",
        )
    lock.locked_at = timezone.now()
    lock.save(by=by, reason=lock.reason)
    return lock


class LockChangedMeanwhile(ValidationError):
    """The lock was lifted after the page that would lift it was opened: nothing is written; the message says who
    lifted it, when and why."""

    def __init__(self, lock: DataLock) -> None:
        super().__init__(_lifted_message(lock), code="edit_conflict")


def _lifted_message(lock: DataLock) -> str:
    if lock.unlocked_at is None:
        return _("Not done: this lock was changed after you opened the page. Open it again.")
    return _("Not done: this lock was lifted already, by %(person)s on %(time)s (%(reason)s).") % {
        "person": person(lock.unlocked_by),
        "time": timezone.localtime(lock.unlocked_at).strftime("%Y-%m-%d %H:%M"),
        "reason": lock.unlock_reason,
    }


@transaction.atomic
def unlock_data(*, lock: DataLock, by: Any, reason: str, opened_version: int | None = None) -> DataLock:
    """Lift a lock in force, with a reason; the lock row stays, with who unlocked it, when and why.

    ``opened_version``: the lock's version on the page the user unlocks from; a lock changed since (lifted by
    someone else) is refused with ``LockChangedMeanwhile``, saying who lifted it when, and nothing is written."""
    current = DataLock.objects.select_for_update(of=("self",)).select_related("site", "unlocked_by").get(pk=lock.pk)
    require(by, LOCK_PERMISSION, current.site)
    if opened_version is not None and current_version(current) != opened_version:
        raise LockChangedMeanwhile(current)
    why = _reason(reason, "unlock_reason")
    if current.unlocked_at is not None:
        raise ValidationError(_lifted_message(current), code="unlocked")
    current.opened_version = opened_version
    current.unlocked_by, current.unlocked_at, current.unlock_reason = by, timezone.now(), why
    current.save(by=by, reason=why)
    for name in ("unlocked_by", "unlocked_at", "unlock_reason"):
        setattr(lock, name, getattr(current, name))
    return lock
