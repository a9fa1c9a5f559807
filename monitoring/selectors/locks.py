"""Reads of data locks: the lock in force that covers a record (one query: the write guard of every clinical
save asks it), the locks a user may see, and what a lock covers in words and as a page."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from monitoring.models import DataLock
from monitoring.selectors.records import record_participant_id, record_visit_id
from screening.models import Participant
from trial_site.permissions import site_ids_where
from visits.models import Visit

VIEW_LOCKS = "monitoring.view_datalock"
LOCK_PERMISSION = "monitoring.lock_data"
Scope = DataLock.Scope


def person(user: Any) -> str:
    return (user.get_full_name() or user.get_username()) if user is not None else ""


def lock_target(lock: DataLock) -> str:
    """What the lock covers, in words: "the casebook of DHK-S-0001", "visit W4 of DHK-S-0001", …"""
    number = lock.participant.screening_number if lock.participant_id else ""
    if lock.scope == Scope.DATABASE:
        return _("the whole database")
    if lock.scope == Scope.CASEBOOK:
        return _("the casebook of %(number)s") % {"number": number}
    if lock.scope == Scope.VISIT:
        return _("visit %(visit)s of %(number)s") % {"visit": lock.visit.code, "number": number}
    model = lock.content_type.model_class() if lock.content_type_id else None
    name = str(model._meta.verbose_name) if model is not None else _("form")
    name = name[:1].upper() + name[1:]
    if lock.visit_id:
        name = f"{name}, {lock.visit.code}"
    return _("the form %(form)s of %(number)s") % {"form": name, "number": number}


def lock_message(lock: DataLock) -> str:
    """The refusal a user sees: what is locked, by whom, since when, why, and what to do."""
    text = _("%(target)s is locked by %(person)s since %(day)s (%(reason)s). A data manager must unlock it first.") % {
        "target": lock_target(lock),
        "person": person(lock.locked_by),
        "day": timezone.localdate(lock.locked_at).isoformat(),
        "reason": lock.reason,
    }
    return text[:1].upper() + text[1:]


def visit_id_of(record: models.Model) -> int | None:
    if isinstance(record, Visit):
        return record.pk
    if hasattr(record, "visit_id"):  # read the column, without loading the visit
        return record.visit_id
    return record_visit_id(record)


def _visit_not_loaded(record: models.Model, visit_id: int | None) -> bool:
    """True for a record placed by its visit alone (no participant of its own) whose visit is not in memory."""
    return (
        visit_id is not None
        and not isinstance(record, Visit)
        and getattr(record, "participant_id", None) is None
        and "visit" not in record._state.fields_cache
    )


def covering_lock(record: models.Model) -> DataLock | None:
    """The lock in force that covers ``record`` (saved or new), or None; one query. The widest lock wins."""
    return covering_locks(record).first()


def covering_locks(record: models.Model) -> models.QuerySet[DataLock]:
    """The locks in force that cover ``record``, the widest first (the audited save asks whether there is one
    within its read of the saved row: ``monitoring.services.locks.lock_probe``)."""
    condition = Q(scope=Scope.DATABASE)
    visit_id = visit_id_of(record)
    if _visit_not_loaded(record, visit_id):
        # The casebook of a visit form, found in the same query rather than by loading the visit first.
        participant_of_visit = Visit.objects.filter(pk=visit_id).values("participant_id")
        condition |= Q(scope=Scope.CASEBOOK, participant_id__in=participant_of_visit)
    else:
        participant_id = record_participant_id(record)
        if participant_id is not None:
            condition |= Q(scope=Scope.CASEBOOK, participant_id=participant_id)
    if visit_id is not None:
        condition |= Q(scope=Scope.VISIT, visit_id=visit_id)
    if record.pk is not None:
        meta = record._meta.concrete_model._meta  # matched by name: no content-type look-up of its own
        condition |= Q(
            scope=Scope.FORM, content_type__app_label=meta.app_label, content_type__model=meta.model_name,
            object_id=record.pk,
        )  # fmt: skip
    widest_first = models.Case(
        *(models.When(scope=scope, then=order) for order, scope in enumerate(
            (Scope.DATABASE, Scope.CASEBOOK, Scope.VISIT, Scope.FORM)
        )),
        output_field=models.IntegerField(),
    )  # fmt: skip
    return (
        DataLock.objects.filter(condition, unlocked_at__isnull=True)
        .select_related("locked_by", "participant", "visit", "content_type")
        .order_by(widest_first, "locked_at", "pk")
    )


def locks_in_force(user: Any) -> models.QuerySet[DataLock]:
    return locks_visible(user).filter(unlocked_at__isnull=True)


def locks_past(user: Any) -> models.QuerySet[DataLock]:
    return locks_visible(user).filter(unlocked_at__isnull=False).order_by("-unlocked_at", "-pk")


def locks_visible(user: Any) -> models.QuerySet[DataLock]:
    """The locks of the sites where the user may read locks (``monitoring.view_datalock`` held there: a role counts
    at its own site only), and, for a user who may read locks anywhere, the database locks (which belong to no
    site). No exception for superusers: they are server operators and see data only through roles at a site."""
    queryset = DataLock.objects.select_related(
        "locked_by", "unlocked_by", "participant", "visit", "content_type", "site"
    )
    readable = site_ids_where(user, VIEW_LOCKS) if getattr(user, "is_authenticated", False) else frozenset()
    if not readable:
        return queryset.none()
    return queryset.filter(Q(site__isnull=True) | Q(site__in=sorted(readable)))


def lock_target_url(lock: DataLock) -> str:
    """The page of what the lock covers, from the lock's own columns (no query for the record)."""
    number = lock.participant.screening_number if lock.participant_id else ""
    if lock.scope == Scope.CASEBOOK:
        return reverse("screening:participant", args=[number])
    if lock.scope == Scope.VISIT:
        return reverse("visits:visit", args=[lock.visit_id])
    if lock.scope != Scope.FORM or not lock.content_type_id:
        return ""
    model = lock.content_type.model_class()
    if model is Participant:
        return reverse("screening:participant", args=[number])
    if model._meta.label_lower == "safety.adverseevent":
        return reverse("safety:event", args=[lock.object_id])
    if getattr(model, "form_code", None) and lock.visit_id:
        return reverse("visits:crf", args=[lock.visit_id, model.form_code])
    if getattr(model, "slug", None) and number:
        return reverse("screening:form", args=[number, model.slug])
    if model is Visit:
        return reverse("visits:visit", args=[lock.object_id])
    return reverse("screening:participant", args=[number]) if number else ""


def lock_versions(locks: list[DataLock]) -> dict[int, int]:
    """The version (latest history row) of each lock, in one query: what an unlock form carries."""
    rows = (
        DataLock.history.filter(id__in=[lock.pk for lock in locks])  # type: ignore[attr-defined]
        .values("id")
        .annotate(version=models.Max("history_id"))
        .order_by()
    )
    return {row["id"]: row["version"] for row in rows}
