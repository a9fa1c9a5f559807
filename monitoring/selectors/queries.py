"""Reads of data queries: the list (scoped to the user's sites, a fixed number of database queries), the counts
per site, participant and form, a query's conversation and the steps taken on it since a version, the fields a
query may be about and who may answer it, and a record's own queries (fetched once per record object)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import Case, Count, F, Q, QuerySet, Value, When
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from monitoring.models import DataQuery, QueryMessage
from monitoring.selectors.records import record_key
from trial_site.audit.versions import person
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


def may_close(user: Any, query: DataQuery) -> bool:
    """Whether ``user`` may close ``query`` (whatever its status): its raiser, or for an edit check's query any
    monitor or data manager of the site."""
    if not user_can(user, "monitoring.raise_query", query.site):
        return False
    return query.raised_by_id is None or query.raised_by_id == user.pk


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


def query_steps_since(query: DataQuery, version: int) -> list[QueryStep]:
    """What was done to ``query`` after its ``version`` (a history row's id), oldest first."""
    rows = (
        DataQuery.history.filter(id=query.pk, history_id__gt=version)  # type: ignore[attr-defined]
        .select_related("history_user")
        .order_by("history_id")
    )
    return [QueryStep(status=row.status, by=person(row.history_user), at=row.history_date) for row in rows]


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


def query_filter_choices(user: Any) -> tuple[QuerySet[Site], QuerySet]:
    """The sites where the user may read queries, and the active staff of those sites (the list's filters); no
    exception for superusers."""
    sites = scope_to_user_sites(Site.objects.order_by("code"), user, permission=VIEW_QUERIES)
    staff_ids = StaffMembership.objects.filter(is_active=True, site_id__in=sites.values("id"))
    staff = get_user_model().objects.filter(pk__in=staff_ids.values("user_id")).order_by("first_name", "username")
    return sites, staff


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


# The record's own queries, cached on the record object for the panel and every field flag of one page.
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


def forget_record_queries(record: models.Model) -> None:
    """Drop the record's cached queries (after a write that changed them)."""
    record.__dict__.pop(_CACHE, None)


# The home page's to-do lists of queries.
ANSWER_QUERIES = "monitoring.answer_query"
RAISE_QUERIES = "monitoring.raise_query"


def _unresolved_at(user: Any, status: str, permission: str) -> QuerySet[DataQuery]:
    return (
        scope_to_user_sites(DataQuery.objects.filter(status=status), user, permission=permission)
        .select_related("site", "participant", "content_type", "assignee")
    )  # fmt: skip


def queries_to_answer(user: Any) -> QuerySet[DataQuery]:
    """Open queries at the sites where the user may answer them: those assigned to the user first, then the
    others addressed to the site; the earliest due first."""
    mine_first = Case(When(assignee_id=user.pk, then=Value(0)), default=Value(1))
    return _unresolved_at(user, DataQuery.Status.OPEN, ANSWER_QUERIES).order_by(
        mine_first, F("due_date").asc(nulls_last=True), "raised_at", "pk"
    )


def queries_open_at(user: Any) -> QuerySet[DataQuery]:
    """Open queries at the sites where the user may raise queries (monitors, data managers), the oldest first."""
    return _unresolved_at(user, DataQuery.Status.OPEN, RAISE_QUERIES).order_by("raised_at", "pk")


def queries_to_close(user: Any) -> QuerySet[DataQuery]:
    """Answered queries the user may close (``may_close``: their own, or an edit check's, at a site where they may
    raise queries), the longest waiting first."""
    closable = Q(raised_by_id=user.pk) | Q(raised_by__isnull=True)
    return _unresolved_at(user, DataQuery.Status.ANSWERED, RAISE_QUERIES).filter(closable).order_by("raised_at", "pk")
