"""Data queries: a monitor or data manager asks about one field of a form (or the whole form); the site answers
and may correct the data (the correction is linked to the query); the raiser closes it, or re-opens it.

Services (writes, one transaction each, permission checked at the record's site, every step appended to the
query's conversation), selectors (scoped to the user's sites, a fixed number of database queries), and the
panel and field markers hung on a record's page through ``RECORD_PANELS`` and ``RECORD_FIELD_FLAGS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import Count, Q, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from monitoring.models import DataQuery, QueryMessage
from monitoring.records import record_key, record_participant_id
from trial_site.audit.base import ClinicalRecord
from trial_site.audit.versions import current_version, person
from trial_site.models import Site, StaffMembership
from trial_site.permissions import user_can
from trial_site.roles import ROLE_PERMISSIONS
from trial_site.scoping import scope_to_user_sites
from trial_site.text import sentence_start

# Queries are read at the sites where the user holds this permission there (a role counts at its own site only).
VIEW_QUERIES = "monitoring.view_dataquery"

UNRESOLVED = (DataQuery.Status.OPEN, DataQuery.Status.ANSWERED)
# Fields of a form that are bookkeeping, not data a query could be about.
_NOT_QUERYABLE = frozenset({"site", "status", "unusual_values_confirmed", "protocol_version"})
# Relations that place a record (its visit, participant or adverse event) rather than hold its data.
_PLACING_MODELS = frozenset({"visits.visit", "screening.participant", "safety.adverseevent"})


# --------------------------------------------------------------------------------------------------- helpers


def _require(user: Any, permission: str, site: Any) -> None:
    if not user_can(user, permission, site):
        raise PermissionDenied(f"{user} lacks {permission}")


def is_clinical_model(model: type[models.Model] | None) -> bool:
    return model is not None and issubclass(model, ClinicalRecord) and not model._meta.abstract


def queryable_fields(model: type[models.Model]) -> list[tuple[str, str]]:
    """The fields of ``model`` a query may be about: (name, verbose name), in the form's order."""
    fields = []
    for field in model._meta.concrete_fields:
        if field.primary_key or not field.editable or field.name in _NOT_QUERYABLE:
            continue
        related = field.related_model
        if related is not None and related._meta.label_lower in _PLACING_MODELS:
            continue
        fields.append((field.name, sentence_start(field.verbose_name)))
    return fields


def field_label(model: type[models.Model] | None, name: str) -> str:
    """The verbose name of ``name`` on ``model``; "whole form" for an empty name."""
    if not name:
        return _("whole form")
    try:
        return sentence_start(model._meta.get_field(name).verbose_name) if model is not None else name
    except FieldDoesNotExist:
        return name


def assignable_users(site: Site) -> QuerySet:
    """Staff of ``site`` who may answer queries (coordinators, investigators)."""
    roles = [role for role, permissions in ROLE_PERMISSIONS.items() if "monitoring.answer_query" in permissions]
    staff = StaffMembership.objects.filter(site=site, is_active=True, role__in=roles).values("user_id")
    return get_user_model().objects.filter(pk__in=staff, is_active=True).order_by("first_name", "username")


def _say(query: DataQuery, action: str, by: Any, text: str, correction_history_id: int | None = None) -> None:
    QueryMessage.objects.create(
        query=query, action=action, author=by, text=text, correction_history_id=correction_history_id
    )


def _locked(query: DataQuery) -> DataQuery:
    """The query's row, locked for this transaction, with its current status (two users may act at once)."""
    return DataQuery.objects.select_for_update().select_related("site").get(pk=query.pk)


@dataclass(frozen=True)
class QueryStep:
    """One thing done to a query (answered, closed, re-opened), by whom and when: what a stale page missed."""

    status: str  # the status the step left the query in
    by: str
    at: datetime

    def __str__(self) -> str:
        words = {
            DataQuery.Status.ANSWERED: _("%(person)s answered it on %(time)s"),
            DataQuery.Status.CLOSED: _("%(person)s closed it on %(time)s"),
            DataQuery.Status.OPEN: _("%(person)s re-opened it on %(time)s"),
        }
        return words.get(self.status, _("%(person)s changed it on %(time)s")) % {
            "person": self.by,
            "time": timezone.localtime(self.at).strftime("%Y-%m-%d %H:%M"),
        }


class QueryChangedMeanwhile(ValidationError):
    """The query was answered, closed or re-opened after the page was opened (someone acted on it in between):
    the action is refused and nothing is written. ``steps`` says who did what when; ``current_version`` is the
    version the page shows now."""

    def __init__(self, *, steps: list[QueryStep], current_version: int | None) -> None:
        done = "; ".join(str(step) for step in steps) or _("someone else acted on it")
        super().__init__(
            _("Not done: since you opened this page, %(done)s. Nothing was written. The query is shown below as it "
              "is now: act again if it is still needed."),
            code="edit_conflict",
            params={"done": done},
        )  # fmt: skip
        self.steps, self.current_version = steps, current_version


def query_steps_since(query: DataQuery, version: int) -> list[QueryStep]:
    """What was done to ``query`` after its ``version`` (a history row's id), oldest first."""
    rows = (
        DataQuery.history.filter(id=query.pk, history_id__gt=version)  # type: ignore[attr-defined]
        .select_related("history_user")
        .order_by("history_id")
    )
    return [QueryStep(status=row.status, by=person(row.history_user), at=row.history_date) for row in rows]


def _refuse_if_changed(query: DataQuery, opened_version: int | None) -> None:
    """Under the query's row lock: refuse (``QueryChangedMeanwhile``) an action taken on a page opened on an older
    version than the one saved now. Without a version (a caller that did not show the query) nothing is compared."""
    if opened_version is None:
        return
    version = current_version(query)
    if version is not None and version != opened_version:
        raise QueryChangedMeanwhile(steps=query_steps_since(query, opened_version), current_version=version)
    query.opened_version = opened_version  # and the audited save compares it again, under the same lock


# -------------------------------------------------------------------------------------------------- services


@transaction.atomic
def query_raise(
    *,
    record: models.Model,
    field: str,
    message: str,
    by: Any,
    assignee: Any = None,
    due_date: date | None = None,
) -> DataQuery:
    """Raise a query on ``field`` of a saved clinical ``record`` (empty ``field``: the whole form)."""
    if not is_clinical_model(type(record)) or record.pk is None:
        raise ValidationError(_("A query is raised on a saved clinical record."))
    site = record.site
    _require(by, "monitoring.raise_query", site)
    errors: dict[str, str] = {}
    field = (field or "").strip()
    if field and field not in dict(queryable_fields(type(record))):
        errors["field"] = _("%(form)s has no field “%(field)s”.") % {
            "form": sentence_start(record._meta.verbose_name),
            "field": field,
        }
    message = (message or "").strip()
    if not message:
        errors["message"] = _("Write the question.")
    if assignee is not None and not assignable_users(site).filter(pk=assignee.pk).exists():
        errors["assignee"] = _("Assign the query to a coordinator or investigator of %(site)s.") % {"site": site.name}
    if due_date is not None and due_date < timezone.localdate():
        errors["due_date"] = _("The answer cannot be due in the past.")
    participant_id = record_participant_id(record)
    if participant_id is None:
        errors["field"] = _("This record belongs to no participant.")
    if errors:
        raise ValidationError(errors)
    content_type, object_id = record_key(record)
    query = DataQuery(
        site=site, participant_id=participant_id, content_type=content_type, object_id=object_id, field=field,
        message=message, raised_by=by, raised_at=timezone.now(), assignee=assignee, due_date=due_date,
    )  # fmt: skip
    query.save(by=by, reason="query raised")
    _say(query, QueryMessage.Action.RAISED, by, message)
    return query


def query_raise_automatic(
    *, record: models.Model, field: str, edit_check: str, message: str, by: Any
) -> DataQuery | None:
    """An edit check's query (no raiser): none when the same check already has an unresolved query on this
    record and field, or one closed after review of the same finding (same message, so the same value)."""
    content_type, object_id = record_key(record)
    existing = DataQuery.objects.filter(
        content_type=content_type, object_id=object_id, field=field, edit_check=edit_check
    )
    if existing.filter(~Q(status=DataQuery.Status.CLOSED) | Q(message=message)).exists():
        return None
    participant_id = record_participant_id(record)
    if participant_id is None:
        return None
    query = DataQuery(
        site_id=record.site_id, participant_id=participant_id, content_type=content_type, object_id=object_id,
        field=field, message=message, raised_by=None, raised_at=timezone.now(), edit_check=edit_check,
    )  # fmt: skip
    query.save(by=by, reason=f"edit check {edit_check}")
    _say(query, QueryMessage.Action.RAISED, None, message)
    return query


@transaction.atomic
def query_answer(*, query: DataQuery, by: Any, text: str, opened_version: int | None = None) -> DataQuery:
    """The site answers an open (or re-opened) query; correcting the data is done on the form, with a reason.
    ``opened_version``: the version the page showed (refused with ``QueryChangedMeanwhile`` if it is stale)."""
    query = _locked(query)
    _require(by, "monitoring.answer_query", query.site)
    _refuse_if_changed(query, opened_version)
    errors = {}
    if query.status != DataQuery.Status.OPEN:
        errors["text"] = _("Only an open query can be answered; this one is %(status)s.") % {
            "status": query.get_status_display()
        }
    elif not (text or "").strip():
        errors["text"] = _("Write the answer.")
    if errors:
        raise ValidationError(errors)
    query.status = DataQuery.Status.ANSWERED
    query.answered_at = timezone.now()
    query.save(by=by, reason="query answered")
    _say(query, QueryMessage.Action.ANSWERED, by, text.strip())
    return query


def may_close(user: Any, query: DataQuery) -> bool:
    """Whether ``user`` may close ``query`` (whatever its status): its raiser, or for an edit check's query any
    monitor or data manager of the site."""
    if not user_can(user, "monitoring.raise_query", query.site):
        return False
    return query.raised_by_id is None or query.raised_by_id == user.pk


@transaction.atomic
def query_close(*, query: DataQuery, by: Any, text: str = "", opened_version: int | None = None) -> DataQuery:
    """The raiser closes an answered query (an edit check's query: any monitor or data manager)."""
    query = _locked(query)
    _require(by, "monitoring.raise_query", query.site)
    if not may_close(by, query):
        raise PermissionDenied("only the monitor who raised the query closes it")
    _refuse_if_changed(query, opened_version)
    if query.status != DataQuery.Status.ANSWERED:
        raise ValidationError(
            {"text": _("Only an answered query can be closed; this one is %(status)s.")
             % {"status": query.get_status_display()}}
        )  # fmt: skip
    query.status = DataQuery.Status.CLOSED
    query.closed_at = timezone.now()
    query.closed_by = by
    query.save(by=by, reason="query closed")
    _say(query, QueryMessage.Action.CLOSED, by, (text or "").strip())
    return query


@transaction.atomic
def query_reopen(*, query: DataQuery, by: Any, text: str, opened_version: int | None = None) -> DataQuery:
    """Re-open an answered or closed query with a reason (the answer did not resolve it)."""
    query = _locked(query)
    _require(by, "monitoring.raise_query", query.site)
    _refuse_if_changed(query, opened_version)
    errors = {}
    if query.status == DataQuery.Status.OPEN:
        errors["text"] = _("This query is already open.")
    elif not (text or "").strip():
        errors["text"] = _("Say why the query is re-opened.")
    if errors:
        raise ValidationError(errors)
    query.status = DataQuery.Status.OPEN
    query.closed_at = None
    query.closed_by = None
    query.save(by=by, reason="query re-opened")
    _say(query, QueryMessage.Action.REOPENED, by, text.strip())
    return query


def queries_link_correction(record: Any, *, by: Any, reason: str) -> None:
    """After a change of a saved clinical record: link the change to each unresolved query it answers — every
    whole-form query, and each field query whose field changed in this save. The statuses do not change."""
    if getattr(record, "pk", None) is None:
        return
    content_type, object_id = record_key(record)
    queries = list(DataQuery.objects.filter(content_type=content_type, object_id=object_id, status__in=UNRESOLVED))
    if not queries:
        return
    history = list(record.history.order_by("-history_id")[:2])
    if not history:
        return
    newest = history[0]
    previous = history[1] if len(history) > 1 else None
    for query in queries:
        if query.field and previous is not None:
            try:
                attname = type(record)._meta.get_field(query.field).attname
            except FieldDoesNotExist:
                continue
            if getattr(newest, attname, None) == getattr(previous, attname, None):
                continue
        _say(query, QueryMessage.Action.CORRECTED, by, reason, correction_history_id=newest.history_id)
    _forget_cached_queries(record)


# ------------------------------------------------------------------------------------------------- selectors


def queries_for(
    user: Any,
    *,
    status: str = "",
    site: Site | None = None,
    participant: str = "",
    form: str = "",
    assignee: Any = None,
) -> QuerySet[DataQuery]:
    """The queries of the user's sites, newest first, filtered; rows carry what the list shows (no N+1)."""
    queries = scope_to_user_sites(DataQuery.objects.all(), user, permission=VIEW_QUERIES).select_related(
        "site", "participant", "content_type", "assignee", "raised_by"
    )
    if status:
        queries = queries.filter(status=status)
    if site is not None:
        queries = queries.filter(site=site)
    if participant:
        queries = queries.filter(participant__screening_number__iexact=participant.strip())
    if form and "." in form:
        app_label, model = form.split(".", 1)
        queries = queries.filter(content_type__app_label=app_label, content_type__model=model)
    if assignee is not None:
        queries = queries.filter(assignee=assignee)
    return queries.order_by("-raised_at", "-pk")


@dataclass(frozen=True)
class QueryCount:
    key: str
    label: str
    open: int
    answered: int
    overdue: int


def _counts(queries: QuerySet[DataQuery], key: str, label: str, *, limit: int | None = None) -> list[QueryCount]:
    today = timezone.localdate()
    rows = (
        queries.filter(status__in=UNRESOLVED)
        .values(key, label)
        .annotate(
            n_open=Count("pk", filter=Q(status=DataQuery.Status.OPEN)),
            n_answered=Count("pk", filter=Q(status=DataQuery.Status.ANSWERED)),
            n_overdue=Count("pk", filter=Q(status=DataQuery.Status.OPEN, due_date__lt=today)),
        )
        .order_by("-n_open", "-n_answered", label)
    )
    if limit is not None:
        rows = rows[:limit]
    return [
        QueryCount(str(row[key]), str(row[label]), row["n_open"], row["n_answered"], row["n_overdue"]) for row in rows
    ]


def query_counts(user: Any, *, participants: int = 20) -> dict[str, list[QueryCount]]:
    """Unresolved queries of the user's sites per site, per form and per participant (the ``participants`` with
    the most): open, answered, and open past their due date. Three queries, whatever the numbers."""
    queries = scope_to_user_sites(DataQuery.objects.all(), user, permission=VIEW_QUERIES)
    by_form = _counts(queries, "content_type__app_label", "content_type__model")
    return {
        "site": _counts(queries, "site_id", "site__code"),
        "participant": _counts(queries, "participant_id", "participant__screening_number", limit=participants),
        "form": [
            QueryCount(
                f"{row.key}.{row.label}", model_label(_model(row.key, row.label)), row.open, row.answered, row.overdue
            )
            for row in by_form
        ],
    }


def _model(app_label: str, model_name: str) -> type[models.Model] | None:
    from django.apps import apps

    try:
        return apps.get_model(app_label, model_name)
    except LookupError:
        return None


def model_label(model: type[models.Model] | None) -> str:
    """The form's name, as the user reads it."""
    return sentence_start(model._meta.verbose_name) if model is not None else "?"


def forms_queried(user: Any) -> list[tuple[str, str]]:
    """The forms that have queries at the user's sites: ("app_label.model", its name), by name (one query)."""
    pairs = (
        scope_to_user_sites(DataQuery.objects.all(), user, permission=VIEW_QUERIES)
        .values_list("content_type__app_label", "content_type__model")
        .distinct()
        .order_by()
    )
    choices = {(f"{app_label}.{model}", model_label(_model(app_label, model))) for app_label, model in pairs}
    return sorted(choices, key=lambda choice: choice[1].lower())


def conversation(query: DataQuery) -> list[QueryMessage]:
    return list(query.messages.select_related("author").order_by("at", "pk"))


def age_days(query: DataQuery, today: date | None = None) -> int:
    today = today or timezone.localdate()
    return (today - timezone.localdate(query.raised_at)).days


def is_overdue(query: DataQuery, today: date | None = None) -> bool:
    today = today or timezone.localdate()
    """An open query whose answer was due before today (an answered one waits on the monitor, not the site)."""
    return query.status == DataQuery.Status.OPEN and query.due_date is not None and query.due_date < today


def raise_url(record: models.Model, field: str = "") -> str:
    params = {"form": record._meta.label_lower, "object": record.pk}
    if field:
        params["field"] = field
    return f"{reverse('monitoring:query_raise')}?{urlencode(params)}"


# ------------------------------------------------------------------------------------- the record's page


_CACHE = "_monitoring_data_queries"


def record_queries(record: models.Model) -> list[DataQuery]:
    """The record's queries, newest first, fetched once per record object (the panel and every field marker)."""
    cached = record.__dict__.get(_CACHE)
    if cached is None:
        content_type, object_id = record_key(record)
        cached = list(
            DataQuery.objects.filter(content_type=content_type, object_id=object_id)
            .select_related("raised_by", "assignee")
            .order_by("-raised_at", "-pk")
        )
        record.__dict__[_CACHE] = cached
    return cached


def _forget_cached_queries(record: models.Model) -> None:
    record.__dict__.pop(_CACHE, None)


def _may_see(request: Any, record: models.Model) -> bool:
    user = getattr(request, "user", None)
    site = getattr(record, "site", None)
    return user is not None and site is not None and user_can(user, "monitoring.view_dataquery", site)


def query_panel(request: Any, record: Any) -> str:
    """The record's queries (status, field, question, link) and, for monitors, a link to raise one."""
    if not _may_see(request, record):
        return ""
    model = type(record)
    today = timezone.localdate()
    rows = [
        {"query": query, "field_label": field_label(model, query.field), "overdue": is_overdue(query, today)}
        for query in record_queries(record)
    ]
    can_raise = user_can(request.user, "monitoring.raise_query", record.site)
    if not rows and not can_raise:
        return ""
    return render_to_string(
        "monitoring/_query_panel.html",
        {"rows": rows, "can_raise": can_raise, "raise_url": raise_url(record) if can_raise else ""},
        request=request,
    )


def query_field_flags(request: Any, record: Any, field_name: str) -> str:
    """A badge next to ``field_name`` for each unresolved query on that field, linking to the query."""
    if not _may_see(request, record):
        return ""
    queries = [query for query in record_queries(record) if query.field == field_name and query.status in UNRESOLVED]
    if not queries:
        return ""
    return render_to_string(
        "monitoring/_query_flags.html", {"queries": queries, "field_name": field_name}, request=request
    )
