"""Data-query pages: the list with counts per site, participant and form; one query with its conversation and
the answer / close / re-open forms; raising a query on a form or one of its fields."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.apps import apps
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.translation import gettext as _

from monitoring.models import DataQuery
from monitoring.query_forms import QueryFilterForm, QueryRaiseForm, QueryStepForm
from monitoring.selectors import queries as selectors
from monitoring.selectors.audit import BLINDED
from monitoring.selectors.record_values import FieldValue, field_values
from monitoring.selectors.records import is_clinical_model, record_label, record_participant, record_url
from monitoring.services import queries as services
from trial_site.audit.versions import current_version
from trial_site.blinding import blinded_at
from trial_site.permissions import permission_required, user_can
from trial_site.reachable import may_open_url
from trial_site.scoping import get_scoped_object_or_404
from trial_site.submission import once_per_submission
from trial_site.text import sentence_start

PAGE_SIZE = 50


def _errors_into(form: Any, error: ValidationError) -> None:
    problems = error.error_dict if hasattr(error, "error_dict") else {None: error.error_list}
    for field, messages_ in problems.items():
        form.add_error(field if field in form.fields else None, messages_)


@permission_required(selectors.VIEW_QUERIES)
def query_list(request: HttpRequest) -> HttpResponse:
    # The sites and staff of the sites where the user may read queries; no exception for superusers.
    sites, staff = selectors.query_filter_choices(request.user)
    filters = QueryFilterForm(
        request.GET or None, sites=sites, staff=staff, forms_queried=selectors.forms_queried(request.user)
    )
    chosen = filters.cleaned_data if filters.is_valid() else {}
    queries = selectors.queries_for(
        request.user, status=chosen.get("status", ""), site=chosen.get("site"),
        participant=chosen.get("participant", ""), form=chosen.get("form", ""), assignee=chosen.get("assignee"),
    )  # fmt: skip
    page = Paginator(queries, PAGE_SIZE).get_page(request.GET.get("page"))
    today = timezone.localdate()
    rows = [
        {
            "query": query,
            "form": selectors.model_label(query.content_type.model_class()),
            "field": selectors.field_label(query.content_type.model_class(), query.field),
            "age": selectors.age_days(query, today),
            "overdue": selectors.is_overdue(query, today),
        }
        for query in page
    ]
    query_string = {
        key: (value.pk if hasattr(value, "pk") else value) for key, value in chosen.items() if value not in ("", None)
    }
    return render(
        request,
        "monitoring/queries.html",
        {
            "page": page,
            "rows": rows,
            "filters": filters,
            "query": urlencode(query_string),
            "counts": selectors.query_counts(request.user),
        },
    )


STEPS = {"answer": services.query_answer, "close": services.query_close, "reopen": services.query_reopen}


def _query(request: HttpRequest, pk: int) -> DataQuery:
    return get_scoped_object_or_404(
        DataQuery.objects.select_related("site", "participant", "content_type", "raised_by", "assignee", "closed_by"),
        request,
        pk=pk,
    )


@permission_required(selectors.VIEW_QUERIES)
@once_per_submission
def query_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One query, its conversation, and the answer / close / re-open forms. Each form carries the version of the
    query it was shown on and a one-time submission key: acting on a query someone answered, closed or re-opened
    since is refused (409, who did what when, the text kept); the same form sent twice acts once."""
    query = _query(request, pk)
    action = request.POST.get("action", "") if request.method == "POST" else ""
    version = current_version(query)
    forms = {name: QueryStepForm(action=name, version=version) for name in QueryStepForm.ACTIONS}
    status, conflict, refused_text = 200, None, ""
    if request.method == "POST":
        form = QueryStepForm(request.POST, action=action if action in QueryStepForm.ACTIONS else "answer")
        if action not in QueryStepForm.ACTIONS:
            messages.error(request, _("Choose to answer, close or re-open the query."))
        else:
            forms[action] = form
        status = 400
        if action in QueryStepForm.ACTIONS and form.is_valid():
            try:
                STEPS[action](
                    query=query, by=request.user, text=form.cleaned_data["text"],
                    opened_version=form.cleaned_data.get("opened_version"),
                )  # fmt: skip
            except services.QueryChangedMeanwhile as changed:
                # Shown as it is now, with the version it is shown on; the refused text is kept.
                status, conflict, refused_text = 409, changed, form.cleaned_data["text"]
                query = _query(request, pk)
                forms = {
                    name: QueryStepForm(
                        action=name, version=changed.current_version, text=refused_text if name == action else ""
                    )
                    for name in QueryStepForm.ACTIONS
                }
            except ValidationError as error:
                _errors_into(form, error)
            else:
                messages.success(
                    request,
                    {"answer": _("Answer sent."), "close": _("Query closed."), "reopen": _("Query re-opened.")}[action],
                )
                return redirect("monitoring:query", pk=query.pk)
    model = query.content_type.model_class()
    record = model._base_manager.filter(pk=query.object_id).first() if model is not None else None
    site = query.site
    can = {
        "answer": query.status == DataQuery.Status.OPEN and user_can(request.user, "monitoring.answer_query", site),
        "close": query.status == DataQuery.Status.ANSWERED and selectors.may_close(request.user, query),
        "reopen": query.status != DataQuery.Status.OPEN and user_can(request.user, "monitoring.raise_query", site),
    }
    return render(
        request,
        "monitoring/query.html",
        {
            "query": query,
            "conversation": selectors.conversation(query),
            "form_label": selectors.model_label(model),
            "field_label": selectors.field_label(model, query.field),
            "record_label": record_label(record) if record is not None else "",
            "record_url": may_open_url(request.user, record_url(record), record.site_id) if record is not None else "",
            "age": selectors.age_days(query),
            "overdue": selectors.is_overdue(query),
            "forms": forms,
            "active_action": action,
            "conflict": conflict.messages[0] if conflict is not None else "",
            # The refused text, shown with the conflict when its form is no longer offered (nothing is lost).
            "refused_text": refused_text if conflict is not None and not can.get(action) else "",
            "can_answer": can["answer"],
            "can_close": can["close"],
            "can_reopen": can["reopen"],
        },
        status=status,
    )


def _record_from_request(request: HttpRequest) -> Any:
    """The clinical record named by ?form=<app_label.model>&object=<id>, at one of the user's sites (else 404)."""
    label = request.GET.get("form", "")
    object_id = request.GET.get("object", "")
    try:
        model = apps.get_model(label) if label.count(".") == 1 else None
    except LookupError:
        model = None
    if not is_clinical_model(model) or not object_id.isdigit():
        raise Http404("no such form")
    return get_scoped_object_or_404(model.objects.select_related("site"), request, pk=int(object_id))


@permission_required("monitoring.raise_query")
@once_per_submission
def query_raise(request: HttpRequest) -> HttpResponse:
    record = _record_from_request(request)
    initial = {"field": request.GET.get("field", "")}
    form = QueryRaiseForm(request.POST or None, record=record, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                query = services.query_raise(
                    record=record, field=form.cleaned_data["field"], message=form.cleaned_data["message"],
                    by=request.user, assignee=form.cleaned_data["assignee"], due_date=form.cleaned_data["due_date"],
                )  # fmt: skip
            except ValidationError as error:
                _errors_into(form, error)
            else:
                messages.success(request, _("Query raised."))
                return redirect("monitoring:query", pk=query.pk)
        status = 400
    values = _queryable_values(record, request.user)
    chosen = str(form["field"].value() or "")
    return render(
        request,
        "monitoring/query_raise.html",
        {
            "form": form,
            "record": record,
            "record_label": sentence_start(record_label(record)),
            "record_url": may_open_url(request.user, record_url(record), record.site_id),
            "participant": record_participant(record),
            "values": values,
            "chosen": next((row for row in values if row.name == chosen), None),
        },
        status=status,
    )


def _queryable_values(record: Any, user: Any) -> list[FieldValue]:
    """The fields a query may be about, with their values now: what the person raising the query compares with the
    source. A viewer blinded at the record's site (who cannot raise queries today) would see no value."""
    model = type(record)
    model_fields = [model._meta.get_field(name) for name, _label in selectors.queryable_fields(model)]
    rows = field_values(record, user, model_fields)
    if blinded_at(user, record.site):
        rows = [FieldValue(row.name, row.label, str(BLINDED)) for row in rows]
    return rows


urlpatterns: list[URLPattern] = [
    path("queries/", query_list, name="queries"),
    path("queries/raise/", query_raise, name="query_raise"),
    path("queries/<int:pk>/", query_detail, name="query"),
]
