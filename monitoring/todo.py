"""The home page's to-do lists of monitoring (``trial_site.home``): queries to answer, open and to close, visits
to sign, forms to verify."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from monitoring.models import DataQuery
from monitoring.selectors import queries, signatures, to_sign, to_verify
from trial_site.home import TodoItem, TodoList, todo_list
from visits.models import Visit


def _query_item(user: Any, query: DataQuery) -> TodoItem:
    model = query.content_type.model_class()
    where = f"{queries.model_label(model)}: {queries.field_label(model, query.field)}"
    label = f"{query.participant.screening_number} · {where}"
    today = timezone.localdate()
    if query.status == DataQuery.Status.ANSWERED and query.answered_at is not None:
        detail = _("answered on %(date)s") % {"date": timezone.localdate(query.answered_at).isoformat()}
    elif query.assignee_id == user.pk:
        detail = _("assigned to you")
    else:
        detail = _("raised on %(date)s") % {"date": timezone.localdate(query.raised_at).isoformat()}
    if query.due_date is not None and query.status == DataQuery.Status.OPEN:
        detail = _("%(detail)s · answer by %(date)s") % {"detail": detail, "date": query.due_date.isoformat()}
    return TodoItem(
        label, detail, reverse("monitoring:query", args=[query.pk]), urgent=queries.is_overdue(query, today)
    )


def _queries_url(status: str) -> str:
    return f"{reverse('monitoring:queries')}?{urlencode({'status': status})}"


def queries_to_answer(user: Any, *, rows: int) -> TodoList:
    """Open queries addressed to the user's sites, those assigned to the user first."""
    return todo_list(
        "queries_to_answer",
        gettext_lazy("Open queries to answer"),
        queries.queries_to_answer(user),
        lambda query: _query_item(user, query),
        limit=rows,
        see_all_url=_queries_url(DataQuery.Status.OPEN),
        empty=gettext_lazy("No open query is waiting for an answer."),
    )


def queries_open(user: Any, *, rows: int) -> TodoList:
    """Open queries at the sites where the user raises queries, the oldest first."""
    return todo_list(
        "queries_open",
        gettext_lazy("Open queries"),
        queries.queries_open_at(user),
        lambda query: _query_item(user, query),
        limit=rows,
        see_all_url=_queries_url(DataQuery.Status.OPEN),
        empty=gettext_lazy("No query is open."),
    )


def queries_to_close(user: Any, *, rows: int) -> TodoList:
    """Answered queries the user may close (their own, or an edit check's)."""
    return todo_list(
        "queries_to_close",
        gettext_lazy("Answered queries to close"),
        queries.queries_to_close(user),
        lambda query: _query_item(user, query),
        limit=rows,
        see_all_url=_queries_url(DataQuery.Status.ANSWERED),
        empty=gettext_lazy("No answered query is waiting to be closed."),
    )


def visits_to_sign(user: Any, *, rows: int) -> TodoList:
    """Visits done that no signature in force covers, at the sites where the user signs."""

    def item(visit: Visit) -> TodoItem:
        return TodoItem(
            f"{visit.participant.screening_number} · {visit.code} {visit.name}",
            _("visit done on %(date)s") % {"date": visit.done_on.isoformat()},
            signatures.sign_url("visit", visit=visit.pk),
        )

    return todo_list(
        "visits_to_sign",
        gettext_lazy("Visits to sign"),
        to_sign.visits_to_sign(user),
        item,
        limit=rows,
        see_all_url=reverse("monitoring:signatures"),
        empty=gettext_lazy("No visit is waiting for your signature."),
    )


def forms_to_verify(user: Any, *, rows: int) -> TodoList:
    """Forms the SDV plan requires that no verification in force covers, at the sites where the user verifies:
    counted up to 1,000 and limited in SQL (``monitoring.selectors.to_verify``, three queries as a rule)."""
    count, forms = to_verify.forms_to_verify(user, limit=rows)
    return TodoList(
        key="forms_to_verify",
        title=gettext_lazy("Forms to verify"),
        count=min(count, to_verify.COUNT_CAP),
        more=count > to_verify.COUNT_CAP,
        items=[
            TodoItem(
                f"{entry.screening_number} · {entry.name}",
                _("not verified yet"),
                f"{reverse('monitoring:verification_mark')}?{urlencode({'form': entry.form, 'object': entry.pk})}",
            )
            for entry in forms
        ],
        see_all_url=reverse("monitoring:verification"),
        empty=gettext_lazy("No form is waiting for verification."),
    )
