"""Data locks: a data manager locks a form, a visit, a participant's casebook or the whole database, and nothing
under the lock can be written by any path that saves through the model layer (pages, services, commands, a future
admin) until it is unlocked, with a reason. Lock and unlock are audited in ``DataLock``'s history; rows are never
deleted.

``refuse_locked_write`` is the write guard every ``ClinicalRecord.save()``/``delete()`` calls
(the ``clinical_write`` follow-up): one query per write. Raw SQL and ``loaddata`` (raw saves) bypass the model layer and
therefore the locks; in production the application's database role is the only writer.

Who may lock: ``monitoring.lock_data`` at the site of what is locked. The whole database belongs to no site: a
user holding ``lock_data`` at any site may lock or unlock it (data managers are the trial's, not a site's).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from monitoring.models import DataLock
from monitoring.records import record_key, record_label, record_participant_id, record_visit_id
from screening.models import Participant
from trial_site.audit.versions import current_version
from trial_site.permissions import site_ids_where, user_can
from visits.models import Visit

VIEW_LOCKS = "monitoring.view_datalock"
LOCK_PERMISSION = "monitoring.lock_data"
Scope = DataLock.Scope


class DataLocked(ValidationError):
    """A write refused because a lock in force covers the record; ``lock`` is that lock."""

    def __init__(self, lock: DataLock) -> None:
        self.lock = lock
        super().__init__(lock_message(lock), code="locked")


# Reading locks


def _person(user: Any) -> str:
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
        "person": _person(lock.locked_by),
        "day": timezone.localdate(lock.locked_at).isoformat(),
        "reason": lock.reason,
    }
    return text[:1].upper() + text[1:]


def _visit_id_of(record: models.Model) -> int | None:
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
    condition = Q(scope=Scope.DATABASE)
    visit_id = _visit_id_of(record)
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
        .first()
    )


def refuse_locked_write(record: models.Model) -> None:
    """The write guard of every clinical record: raise ``DataLocked`` when a lock in force covers it."""
    lock = covering_lock(record)
    if lock is not None:
        raise DataLocked(lock)


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


# Writing locks


def _require(user: Any, site: Any) -> None:
    if not user_can(user, LOCK_PERMISSION, site):
        raise PermissionDenied(f"{user} lacks {LOCK_PERMISSION}")


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
        lock.visit_id = _visit_id_of(record) if not isinstance(record, Visit) else None
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
    _require(by, lock.site if lock.site_id else None)
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
                "person": _person(existing.locked_by),
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
        "person": _person(lock.unlocked_by),
        "time": timezone.localtime(lock.unlocked_at).strftime("%Y-%m-%d %H:%M"),
        "reason": lock.unlock_reason,
    }


def lock_versions(locks: list[DataLock]) -> dict[int, int]:
    """The version (latest history row) of each lock, in one query: what an unlock form carries."""
    rows = (
        DataLock.history.filter(id__in=[lock.pk for lock in locks])  # type: ignore[attr-defined]
        .values("id")
        .annotate(version=models.Max("history_id"))
        .order_by()
    )
    return {row["id"]: row["version"] for row in rows}


@transaction.atomic
def unlock_data(*, lock: DataLock, by: Any, reason: str, opened_version: int | None = None) -> DataLock:
    """Lift a lock in force, with a reason; the lock row stays, with who unlocked it, when and why.

    ``opened_version``: the lock's version on the page the user unlocks from; a lock changed since (lifted by
    someone else) is refused with ``LockChangedMeanwhile``, saying who lifted it when, and nothing is written."""
    current = DataLock.objects.select_for_update(of=("self",)).select_related("site", "unlocked_by").get(pk=lock.pk)
    _require(by, current.site)
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


# The panel on a record's page


def lock_panel(request: Any, record: models.Model) -> str:
    """A red "Locked" banner with the lock's reason on a covered record; links to lock it for data managers."""
    lock = covering_lock(record)
    user = getattr(request, "user", None)
    site = getattr(record, "site", None)
    can_lock = user is not None and site is not None and user_can(user, LOCK_PERMISSION, site)
    if lock is None and not can_lock:
        return ""
    links: list[tuple[str, str]] = []
    if can_lock and not (lock is not None and lock.scope == Scope.FORM):
        content_type, object_id = record_key(record)
        links.append((
            _("Lock this form"),
            reverse("monitoring:lock_new") + "?" + urlencode(
                {"scope": Scope.FORM, "form": f"{content_type.app_label}.{content_type.model}", "object": object_id}
            ),
        ))  # fmt: skip
        visit_id = _visit_id_of(record)
        if visit_id is not None and not isinstance(record, Visit) and lock is None:
            links.append((_("Lock this visit"), reverse("monitoring:lock_new") + "?" + urlencode(
                {"scope": Scope.VISIT, "visit": visit_id})))  # fmt: skip
    return render_to_string(
        "monitoring/_lock_panel.html",
        {
            "lock": lock,
            "message": lock_message(lock) if lock else "",
            "label": record_label(record),
            "links": links,
            "can_lock": can_lock,
        },
        request=request,
    )
