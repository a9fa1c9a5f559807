"""The home page's to-do lists of safety (``trial_site.home``): SAE reports to assess and the SAE clocks."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from safety import selectors
from safety.models import SaeReport
from safety.templatetags.safety_tags import time_left
from trial_site.home import TodoItem, TodoList, todo_list


def _event_label(report: SaeReport) -> str:
    event = report.adverse_event
    return f"{event.participant.screening_number} · {event.description}"


def events_to_assess(user: Any, *, rows: int) -> TodoList:
    """Serious adverse events whose SAE report the investigator has not yet assessed (causality) and signed."""

    def item(report: SaeReport) -> TodoItem:
        return TodoItem(
            _event_label(report),
            _("%(report)s: give the causality and sign") % {"report": report.get_kind_display()},
            reverse("safety:event", args=[report.adverse_event_id]),
        )

    return todo_list(
        "events_to_assess",
        gettext_lazy("Adverse events to assess"),
        selectors.reports_to_assess(user),
        item,
        limit=rows,
        see_all_url=reverse("safety:index"),
        empty=gettext_lazy("No adverse event is waiting for your assessment."),
    )


def sae_clocks(user: Any, *, rows: int) -> TodoList:
    """SAE reports not yet sent to the sponsor, with the time left of their 24-hour clock, soonest first."""

    def item(report: SaeReport) -> TodoItem:
        row = selectors.open_report(report)
        deadline = timezone.localtime(row.report.deadline).strftime("%Y-%m-%d %H:%M")
        return TodoItem(
            _event_label(row.report),
            _("%(time_left)s (due %(deadline)s)") % {"time_left": time_left(row.time_left), "deadline": deadline},
            reverse("safety:event", args=[row.report.adverse_event_id]),
            urgent=row.overdue,
        )

    return todo_list(
        "sae_clocks",
        gettext_lazy("SAE clocks"),
        selectors.unsent_sae_reports(user),
        item,
        limit=rows,
        see_all_url=reverse("safety:index"),
        empty=gettext_lazy("No SAE report is waiting to be sent."),
    )
