"""Who must re-consent, as one SQL condition: the menu counts them in one query whatever the size of the trial.

The rule (``clinical.consent.reconsent_decision``) asks, on a day, for the highest consent form version marked
``reconsent`` in effect that day in the protocol in force that day; a participant still in the trial owes it unless
they signed it or a later version (at their first consent or at a re-consent). The versions asked for are decided
here in Python from the approved protocol versions (read once, cached: ``trial_site.protocol_versions``); the
database is asked only which participants signed none of the versions that settle it.

"Today" is the day at the participant's site. Only the two or three calendar days that are "today" somewhere on
Earth matter: when they ask for the same version (every day but those around an effective date), the site's time
zone does not enter the query; otherwise each day's condition names the time zones in which it is today.

With Redis the count is cached (``trial_site.generations``) under its query (the sites, the versions asked for)
and a generation that every write of a participant, a consent, a re-consent, a withdrawal, a screen failure or an
end of study replaces: a trivial page then reads no row for it.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import date, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.signals import post_delete, post_migrate, post_save

from clinical.consent import reconsent_decision
from clinical.versions import version_key
from screening.models import Participant, Reconsent
from trial_site.generations import MISSING, Generation
from trial_site.protocol import Protocol
from trial_site.protocol_versions import protocol_on

# Reverse relations of the later apps, read by name (screening imports none of them): ``selectors._OUT_OF_TRIAL``.
OUT_OF_TRIAL = ("withdrawal", "screen_failure", "end_of_study")
# The rows the count is derived from (with the protocol versions, which enter its query): a write replaces CONSENTS.
WRITTEN_BY = (
    "screening.Participant",
    "screening.Consent",
    "screening.Reconsent",
    "screening.ConsentWithdrawal",
    "screening.ScreenFailure",
    "visits.EndOfStudy",
)
CONSENTS = Generation("reconsent_count")
COUNT_TIMEOUT = 10 * 60  # seconds: counted again at least that often (should a new generation not be written)


@cache
def _zones() -> tuple[ZoneInfo, ...]:
    """Every time zone, held here: ``ZoneInfo``'s own cache keeps only the last few zones asked for, so asking for
    all of them on every request would read each one's file again (about 17 ms of CPU a page)."""
    return tuple(ZoneInfo(name) for name in sorted(available_timezones()))


def required_version(versions: list[Protocol], day: date) -> str | None:
    """The consent form version that everyone still in the trial must have signed (or a later one) on ``day``."""
    forms = protocol_on(day, versions).consent_forms
    return reconsent_decision(signed=(), versions=forms, in_trial=True, day=day).required


def _settling(versions: list[Protocol], required: str) -> list[str]:
    """The known consent form versions that settle ``required``: it and every later one."""
    known = {form.version for protocol in versions for form in protocol.consent_forms}
    return sorted(version for version in known if version_key(version) >= version_key(required))


def _owes(versions: list[Protocol], required: str) -> Q:
    settling = _settling(versions, required)
    signed_again = Reconsent.objects.filter(participant_id=OuterRef("pk"), form_version__in=settling)
    return ~Q(consent__form_version__in=settling) & ~Exists(signed_again)


def reconsent_due_condition(versions: list[Protocol], now: datetime) -> Q | None:
    """The condition on ``Participant`` rows of those who must re-consent at ``now`` (each on their site's day),
    in the trial or not (the caller keeps those in the trial); None when nobody can owe one."""
    zones_by_day: dict[date, list[str]] = defaultdict(list)
    for zone in _zones():
        zones_by_day[now.astimezone(zone).date()].append(zone.key)
    required = {day: required_version(versions, day) for day in zones_by_day}
    if not any(required.values()):
        return None
    if len(set(required.values())) == 1:
        return _owes(versions, next(iter(required.values())))  # type: ignore[arg-type]
    condition = Q(pk__in=[])
    for day, version in required.items():
        if version:
            condition |= Q(site__time_zone__in=zones_by_day[day]) & _owes(versions, version)
    return condition


def in_trial_condition() -> Q:
    """Consented, and not withdrawn, screen failed or ended (``selectors.in_trial``)."""
    return Q(consent__isnull=False, **{f"{name}__isnull": True for name in OUT_OF_TRIAL})


def count_due(participants: QuerySet[Participant], versions: list[Protocol], now: datetime) -> int:
    """How many of ``participants`` still in the trial must re-consent at ``now``: one SQL count, cached with Redis
    until one of the rows it is derived from is written; no query while no version asks for a re-consent."""
    due = reconsent_due_condition(versions, now)
    if due is None:
        return 0
    query = participants.filter(in_trial_condition()).filter(due)
    token = CONSENTS.current()
    if token is None:
        return query.count()
    part = hashlib.sha256(str(query.query).encode()).hexdigest()
    found = CONSENTS.get(token, part)
    if found is MISSING:
        found = query.count()
        CONSENTS.put(token, part, found, COUNT_TIMEOUT)
    return found


def _written(sender: Any, **kwargs: Any) -> None:
    CONSENTS.bump()


for _label in WRITTEN_BY:
    post_save.connect(_written, sender=_label, dispatch_uid=f"reconsent_count_saved_{_label}")
    post_delete.connect(_written, sender=_label, dispatch_uid=f"reconsent_count_deleted_{_label}")
post_migrate.connect(_written, dispatch_uid="reconsent_count_migrated")  # a flush replaces the rows
