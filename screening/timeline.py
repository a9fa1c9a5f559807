"""A participant's timeline for ``clinical.timeline``, and its refusals as messages next to the fields.

``participant_timeline`` reads the facts (the site's today in its own time zone, the date of birth, the day of
consent and Day 1 at the site); ``timeline_errors`` checks dates of a record against them and gives, by field, the
message to show. Models call it from ``clean()``, so every path that saves (a form, a service, a command) is
checked; a plain form whose field has another name than the model's maps the message itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from clinical.timeline import DateMeaning, DateProblem, DateRefusal, Timeline, date_problem, end_problem

MESSAGES: dict[DateProblem, Promise] = {
    DateProblem.FUTURE: _("This date is in the future: today is %(day)s at the site."),
    DateProblem.BEFORE_BIRTH: _("This date is before the participant's date of birth (%(day)s)."),
    DateProblem.BEFORE_CONSENT: _(
        "This date is before the participant's informed consent (%(day)s): nothing is done in the trial before consent."
    ),
    DateProblem.BEFORE_DAY1: _("This date is before Day 1 (%(day)s), the day of randomisation."),
    DateProblem.BEFORE_START: _("This date is before the start (%(day)s)."),
}


def _site_zone(participant: Any) -> ZoneInfo:
    return ZoneInfo(participant.site.time_zone)


def participant_timeline(participant: Any) -> Timeline:
    """The timeline of ``participant`` today: consent and Day 1 as days at the participant's site."""
    zone = _site_zone(participant)
    consent = getattr(participant, "consent", None)
    allocation = getattr(participant, "allocation", None)
    return Timeline(
        today=timezone.localdate(timezone.now(), zone),
        date_of_birth=participant.date_of_birth,
        consented_on=timezone.localdate(consent.consented_at, zone) if consent and consent.consented_at else None,
        day1=timezone.localdate(allocation.randomised_at, zone) if allocation is not None else None,
    )


def refusal_message(refusal: DateRefusal, messages: Mapping[DateProblem, Promise] | None = None) -> str:
    """The message of ``refusal``, naming the date it runs into (``messages`` may reword some problems)."""
    template = (messages or {}).get(refusal.problem) or MESSAGES[refusal.problem]
    return str(template) % {"day": refusal.limit.isoformat()}


def timeline_errors(
    participant: Any,
    dates: Mapping[str, tuple[date | None, DateMeaning]],
    *,
    ends: Mapping[str, tuple[str, str]] | None = None,
    messages: Mapping[DateProblem, Promise] | None = None,
) -> dict[str, str]:
    """The message by field for each impossible date of ``dates`` (field → (value, meaning)), and for each end
    before its start (``ends``: message field → (start field, end field), both in ``dates``). Empty if none."""
    errors: dict[str, str] = {}
    if all(value is None for value, _meaning in dates.values()):
        return errors
    timeline = participant_timeline(participant)
    for field, (value, meaning) in dates.items():
        refusal = date_problem(value, meaning, timeline)
        if refusal is not None:
            errors[field] = refusal_message(refusal, messages)
    for field, (start, end) in (ends or {}).items():
        if field in errors:
            continue
        refusal = end_problem(dates[start][0], dates[end][0])
        if refusal is not None:
            errors[field] = refusal_message(refusal, messages)
    return errors
