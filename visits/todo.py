"""The home page's to-do lists of visits (``trial_site.home``): visits due this week and overdue, missing forms,
mRSS to score."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from trial_site import registry
from trial_site.home import TodoItem, TodoList, todo_list
from trial_site.permissions import user_can
from visits import selectors
from visits.crfs import VisitMrss, crf_by_code
from visits.models import RequiredForm, Visit

# "This week": the visits whose window opens within the next seven days, today included.
WEEK_DAYS = 7


def _visit_label(visit: Visit) -> str:
    return f"{visit.participant.screening_number} · {visit.code} {visit.name}"


def visits_due(user: Any, *, rows: int) -> TodoList:
    """Open visits whose window has closed or opens this week, at the sites where the user records visits."""
    today = timezone.localdate()

    def item(visit: Visit) -> TodoItem:
        overdue = visit.latest < today
        if overdue:
            detail = _("overdue: the window closed on %(date)s") % {"date": visit.latest.isoformat()}
        else:
            detail = _("window %(earliest)s – %(latest)s") % {
                "earliest": visit.earliest.isoformat(),
                "latest": visit.latest.isoformat(),
            }
        return TodoItem(_visit_label(visit), detail, reverse("visits:visit", args=[visit.pk]), urgent=overdue)

    due = selectors.visits_due_by(selectors.visits_to_record(user), until=today + timedelta(days=WEEK_DAYS - 1))
    return todo_list(
        "visits_due",
        gettext_lazy("Visits due this week and overdue"),
        due,
        item,
        limit=rows,
        see_all_url=reverse("visits:index"),
        empty=gettext_lazy("No visit is due this week or overdue."),
    )


def _form_url(user: Any, row: RequiredForm) -> str:
    """The form itself where the user may enter it, else its visit's page."""
    model = crf_by_code(row.form)
    if model is not None and user_can(user, registry.permission(model, "change"), row.visit.site):
        return reverse("visits:crf", args=[row.visit_id, row.form])
    return reverse("visits:visit", args=[row.visit_id])


def missing_forms(user: Any, *, rows: int) -> TodoList:
    """Forms still required for visits done or past their window, at the sites where the user records visits."""

    def item(row: RequiredForm) -> TodoItem:
        return TodoItem(
            f"{_visit_label(row.visit)}: {row.label}",
            _("visit done on %(date)s") % {"date": row.visit.done_on.isoformat()}
            if row.visit.done_on
            else _("window closed on %(date)s") % {"date": row.visit.latest.isoformat()},
            _form_url(user, row),
        )

    missing = selectors.missing_forms_due(selectors.visits_to_record(user), today=timezone.localdate())
    return todo_list(
        "missing_forms",
        gettext_lazy("Missing forms"),
        missing,
        item,
        limit=rows,
        see_all_url=reverse("visits:missing_forms"),
        empty=gettext_lazy("No form is missing."),
        count_in_order=True,  # the partial index on (due_on, id) of the missing forms
    )


def mrss_to_score(user: Any, *, rows: int) -> TodoList:
    """Visits in window today whose mRSS is still to score, at the sites where the user scores the mRSS."""

    def item(visit: Visit) -> TodoItem:
        return TodoItem(
            _visit_label(visit),
            _("window until %(date)s") % {"date": visit.latest.isoformat()},
            reverse("visits:crf", args=[visit.pk, VisitMrss.form_code]),
        )

    return todo_list(
        "mrss_to_score",
        gettext_lazy("mRSS to score in window"),
        selectors.mrss_to_score(user),
        item,
        limit=rows,
        see_all_url=reverse("visits:index"),
        empty=gettext_lazy("No mRSS is waiting to be scored."),
    )
