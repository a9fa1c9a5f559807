"""The record states on a participant's grid of forms (``visits.record_status``): the same symbols, colours and
words as the record status dashboard, and a link only where the user may open the form."""

from __future__ import annotations

from typing import Any

from django import template
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from visits.record_status import FLAGS, FORM_LEGEND, STATES, FormState, form_states

register = template.Library()


@register.simple_tag
def record_states(rows: list[Any], user: Any) -> dict[int, dict[str, FormState]]:
    """Visit id → form code → state, for the schedule's rows (``visits.selectors.VisitRow``), read once."""
    return form_states([row.visit for row in rows], user)


@register.simple_tag
def form_state_cell(states: dict[int, dict[str, FormState]], visit: Any, code: str) -> SafeString:
    """One cell of the grid: the form's state at this visit, or an empty cell when the visit has no such form."""
    state = states.get(visit.pk, {}).get(code)
    if state is None:
        return mark_safe("<td></td>")
    context = {"item": state, "url": state.url, "name": f"{state.name}, {visit.code}"}
    return render_to_string("visits/_state_cell.html", context)  # a SafeString: the template escapes


@register.inclusion_tag("visits/_state_legend.html")
def form_state_legend() -> dict[str, Any]:
    return {"states": [(state, STATES[state]) for state in FORM_LEGEND], "flags": FLAGS.values()}
