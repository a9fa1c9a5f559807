"""Reads of the visit schedule, scoped to the user's sites, with a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from clinical.instruments import mrss_change
from trial_site import registry
from trial_site.lab_ranges import site_lab_ranges
from trial_site.permissions import site_ids_where
from trial_site.protocol import PROTOCOL
from trial_site.scoping import scope_to_user_sites
from visits.crfs import LabPanel, VisitMrss
from visits.models import RequiredForm, Visit
from visits.paging import KeysetPage, keyset_page
from visits.status import VisitState, state_of

# The visit lists name the visits of the sites where a role the user holds there may read visits.
VIEW_VISITS = "visits.view_visit"


@dataclass(frozen=True)
class VisitRow:
    visit: Visit
    state: VisitState
    forms: dict[str, str]  # form code → RequiredForm status


def participant_schedule(participant: Any, *, today: date | None = None) -> list[VisitRow]:
    today = today or timezone.localdate()
    visits = participant.visits.prefetch_related("required_forms").order_by("sequence", "target_date")
    return [
        VisitRow(
            visit=visit,
            state=state_of(visit, today),
            forms={row.form: row.status for row in visit.required_forms.all()},
        )
        for visit in visits
    ]


def grid_forms(rows: list[VisitRow]) -> list[tuple[str, str]]:
    """The form codes (with labels) that any visit of the schedule asks for, in the protocol's order."""
    used = {form for row in rows for form in row.forms}
    return [(code, label) for code, label in registry.visit_form_labels().items() if code in used]


def open_among(visits: QuerySet[Visit]) -> QuerySet[Visit]:
    """Of ``visits``, those neither done, missed nor cancelled."""
    return visits.filter(done_on__isnull=True, missed=False, cancelled=False).select_related("participant", "site")


def readable_visits(user: Any) -> QuerySet[Visit]:
    """The visits of the sites where the user may read visits (``VIEW_VISITS`` there; a role counts at its own site
    only)."""
    return scope_to_user_sites(Visit.objects.all(), user, permission=VIEW_VISITS)


def _open_visits(user: Any) -> QuerySet[Visit]:
    return open_among(readable_visits(user))


def overdue_among(visits: QuerySet[Visit], *, today: date) -> list[Visit]:
    """Of ``visits``, those whose window has closed with nothing recorded, oldest first."""
    return list(open_among(visits).filter(latest__lt=today).order_by("latest", "participant__screening_number"))


def overdue_visits(user: Any, *, today: date | None = None) -> list[Visit]:
    """Visits whose window has closed with nothing recorded, at the sites where the user may read visits, oldest
    first."""
    return overdue_among(readable_visits(user), today=today or timezone.localdate())


def visits_in_window(user: Any, *, today: date | None = None) -> list[Visit]:
    today = today or timezone.localdate()
    return list(_open_visits(user).filter(earliest__lte=today, latest__gte=today).order_by("latest"))


# The columns the visit lists show (participant, visit, window, planned date, done on).
LIST_COLUMNS = (
    "id", "code", "name", "earliest", "latest", "planned_date", "done_on", "site_id", "participant_id",
    "participant__id", "participant__screening_number",
)  # fmt: skip
PER_PAGE = 50


def _listed(visits: QuerySet[Visit]) -> QuerySet[Visit]:
    """Open visits (the partial index ``visit_open_by_latest``), with only the columns the lists show."""
    return (
        visits.filter(done_on__isnull=True, missed=False, cancelled=False)
        .select_related("participant")
        .only(*LIST_COLUMNS)
    )


def overdue_page(user: Any, *, today: date, cursor: str | None = None, per_page: int = PER_PAGE) -> KeysetPage:
    """A page of the visits whose window has closed with nothing recorded, oldest first (keyset on the day the
    window closed and the visit's id), at the sites where the user may read visits."""
    return keyset_page(
        _listed(readable_visits(user)).filter(latest__lt=today), day_field="latest", cursor=cursor, per_page=per_page
    )


def in_window_page(user: Any, *, today: date, cursor: str | None = None, per_page: int = PER_PAGE) -> KeysetPage:
    """A page of the visits in their window today with nothing recorded, the soonest to close first."""
    visits = _listed(readable_visits(user)).filter(earliest__lte=today, latest__gte=today)
    return keyset_page(visits, day_field="latest", cursor=cursor, per_page=per_page)


def missing_forms_due(visits: QuerySet[Visit], *, today: date) -> QuerySet[RequiredForm]:
    """Forms still required for those of ``visits`` that took place or whose window has closed, the longest missing
    first (a queryset: the home page counts it and shows the first few). The day a form counts as missing from is
    stored (``RequiredForm.due_on``, kept by the visit services), so this is one range of the partial index
    ``requiredform_missing``."""
    return (
        RequiredForm.objects.filter(status=RequiredForm.Status.REQUIRED, due_on__lte=today, visit__in=visits)
        .select_related("visit__participant", "visit__site")
        .order_by("due_on", "id")
    )


def missing_forms_among(visits: QuerySet[Visit], *, today: date) -> list[RequiredForm]:
    """Forms still required for those of ``visits`` that took place or whose window has closed."""
    return list(missing_forms_due(visits, today=today))


def missing_forms(user: Any, *, today: date | None = None) -> list[RequiredForm]:
    """Forms still required for visits that took place or whose window has closed, at the sites where the user may
    read visits."""
    return missing_forms_among(readable_visits(user), today=today or timezone.localdate())


MISSING_COLUMNS = (
    "id", "form", "status", "due_on", "visit_id", "visit__id", "visit__code", "visit__done_on", "visit__earliest",
    "visit__latest", "visit__site_id", "visit__participant_id", "visit__participant__id",
    "visit__participant__screening_number",
)  # fmt: skip


def missing_forms_page(
    user: Any, *, today: date, cursor: str | None = None, per_page: int = PER_PAGE, form: str = ""
) -> KeysetPage:
    """A page of the forms still required for visits that took place or whose window has closed, at the sites where
    the user may read visits, the longest missing first (keyset on ``due_on`` and the row's id); ``form``: one
    form's code only."""
    rows = RequiredForm.objects.filter(
        status=RequiredForm.Status.REQUIRED,
        due_on__lte=today,
        visit__site_id__in=sorted(site_ids_where(user, VIEW_VISITS)),
    )
    if form:
        rows = rows.filter(form=form)
    rows = rows.select_related("visit__participant").only(*MISSING_COLUMNS)
    return keyset_page(rows, day_field="due_on", cursor=cursor, per_page=per_page)


def follow_up_code() -> str:
    return PROTOCOL.follow_up.code


def state_today(visit: Visit) -> VisitState:
    return state_of(visit, timezone.localdate())


def mrss_points(participant: Any) -> list[Any]:
    """The mRSS totals of screening and of every visit with a complete mRSS form, in date order."""
    from visits.charts import Point

    points = []
    screening = getattr(participant, "screening_mrss", None)
    if screening is not None and screening.mrss_total is not None:
        points.append(Point("SCR", screening.assessed_on, screening.mrss_total))
    forms = VisitMrss.objects.filter(visit__participant=participant, status=VisitMrss.Status.COMPLETE).select_related(
        "visit"
    )
    for form in sorted(forms, key=lambda form: form.visit.done_on):
        if form.mrss_total is not None:
            points.append(Point(form.visit.code, form.visit.done_on, form.mrss_total))
    return points


def mrss_change_from_baseline(points: list[Any]) -> tuple[Any, int] | None:
    """The latest visit's mRSS and its change from baseline (D1 if scored, else screening)."""
    baseline = next((p for p in points if p.label == "D1"), points[0] if points else None)
    if baseline is None or points[-1] is baseline:
        return None
    return points[-1], mrss_change(baseline.value, points[-1].value)


def lab_trends(participant: Any) -> list[tuple[Visit, LabPanel]]:
    """The laboratory panels of the participant's visits, in visit order, for the trend table; each graded against
    the site's reference ranges, read once for all of them."""
    panels = list(LabPanel.objects.filter(visit__participant=participant).select_related("visit__participant"))
    ranges = site_lab_ranges(participant.site_id)
    for panel in panels:
        panel.lab_ranges = ranges
    return sorted(((panel.visit, panel) for panel in panels), key=lambda pair: pair[0].sequence)


# The home page's to-do lists: the visits and forms of the sites where the user may record visits.
RECORD_VISITS = "visits.change_visit"


def visits_to_record(user: Any) -> QuerySet[Visit]:
    """The visits of the sites where the user may record visits (``RECORD_VISITS`` there)."""
    return scope_to_user_sites(Visit.objects.all(), user, permission=RECORD_VISITS)


def visits_due_by(visits: QuerySet[Visit], *, until: date) -> QuerySet[Visit]:
    """Of ``visits``, those still open whose window opens by ``until``: overdue ones (window closed) and those in
    window or opening by then; the soonest to close first. Counted and sliced by the caller (no list of all)."""
    return open_among(visits).filter(earliest__lte=until).order_by("latest", "participant__screening_number", "pk")


def mrss_to_score(user: Any, *, today: date | None = None) -> QuerySet[Visit]:
    """Visits whose mRSS form is still required, at the sites where the user may enter the mRSS: those in window
    today (recorded done or not yet) and those recorded done (the score taken at the visit, still to enter); the
    soonest to close first."""
    today = today or timezone.localdate()
    sites = scope_to_user_sites(Visit.objects.all(), user, permission=registry.permission(VisitMrss, "change"))
    return (
        sites.filter(missed=False, cancelled=False)
        .filter(Q(earliest__lte=today, latest__gte=today) | Q(done_on__isnull=False))
        .select_related("participant", "site")
        .filter(required_forms__form=VisitMrss.form_code, required_forms__status=RequiredForm.Status.REQUIRED)
        .order_by("latest", "participant__screening_number", "pk")
    )
