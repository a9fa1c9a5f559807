"""Reads for the trial reports: the CONSORT flow, enrolment over time, visit compliance, data completeness, data
queries, SAEs and the primary endpoint. Counted from the database at the user's sites, in a number of queries
that does not depend on the number of participants; arms only for users who may see them at every site.

Definitions (shown on the pages as well):

- A *person* is a first screening episode and its re-screenings (``Participant.first_episode``); CONSORT counts
  people, so "assessed for eligibility" counts each person once, whatever the number of episodes.
- A person not randomised is classified by their latest episode: consent withdrawn → declined or withdrew;
  a screen failure with failing criteria → not meeting the criteria (counted by each failing code, so the codes
  can add up to more than the people); a screen failure without a code → other reasons; otherwise still in
  screening. "Excluded or not randomised" = assessed − randomised.
- Randomised = allocations, *including* those flagged "randomised in error": CONSORT analyses participants as
  randomised (their number is shown).
- Received the allocated intervention = the Day 1 visit recorded as done (Day 1 is the day of randomisation
  and first dose; the study-drug form starts at week 2).
- Follow-up, one reason per participant: end of study "lost" → lost to follow-up; "death" → died; "withdrawn",
  or consent to follow-up withdrawn → withdrew; consent to treatment only withdrawn → stopped treatment.
- Analysed = a complete (17-area) mRSS on the Day 1 visit and on the week-24 visit: the primary endpoint.
- An emergency unblinding reveals one allocation, never aggregate numbers: it does not unblind these reports.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from django.db.models import Count, Model, Q, QuerySet, Sum
from django.utils import timezone

from clinical.consort import ArmFlow, ConsortFlow
from clinical.mrss import MRSS_AREA_CODES, mrss_total
from clinical.statistics import Summary, describe
from monitoring.models import DataQuery
from randomization.models import Allocation
from safety.models import SERIOUS, AdverseEvent, SaeReport
from screening.models import Participant
from trial_site.permissions import site_ids_where
from trial_site.protocol import PROTOCOL, Arm
from trial_site.protocol_versions import approved_versions
from trial_site.roles import SEES_ARM
from trial_site.scoping import scope_to_user_sites
from visits.crfs import VisitMrss
from visits.models import EndOfStudy, OpenVisitTally, Visit, VisitTally
from visits.progress import TALLY_COUNTS

ModelT = TypeVar("ModelT", bound=Model)

BASELINE_VISIT = PROTOCOL.visits[0].code  # D1
PRIMARY_VISIT = PROTOCOL.visits[-1].code  # W24

# TRIAL.md gives the planned enrolment (24) but no recruitment period; the target line assumes this many
# months from the first randomisation. It belongs in trial_site/protocol.py once the protocol states it.


# The reports count the sites where the user may read them: a role counts at its own site only.
SEE_REPORTS = "randomization.view_allocation"


def _scoped(queryset: QuerySet[ModelT], user: Any, *, site_field: str = "site") -> QuerySet[ModelT]:
    return scope_to_user_sites(queryset, user, site_field=site_field, permission=SEE_REPORTS)


def arms_visible(user: Any) -> bool:
    """True when the user may see arms at every site the reports count. No exception for superusers: they are server
    operators and see data only through the roles they hold at a site."""
    counted = site_ids_where(user, SEE_REPORTS)
    return bool(counted) and counted <= site_ids_where(user, SEES_ARM)


def arm_label(arm: Arm) -> str:
    return f"{arm.code}: {arm.drug}"


# --- CONSORT ----------------------------------------------------------------------------------------------


def _criterion_order(code: str) -> tuple[int, int, str]:
    digits = code[1:]
    return (0 if code.startswith("I") else 1, int(digits) if digits.isdigit() else 0, code)


def consort_flow(user: Any, *, by_arm: bool | None = None) -> ConsortFlow:
    """The CONSORT numbers at the user's sites; ``arms`` per arm (protocol order) for users who may see arms,
    one pooled ``ArmFlow`` otherwise. ``by_arm`` overrides that choice only towards pooling."""
    show_arms = arms_visible(user) if by_arm is None else (by_arm and arms_visible(user))
    participants = _scoped(Participant.objects.all(), user)
    rows = list(
        participants.values(
            "id",
            "first_episode_id",
            "episode",
            "screen_failure__id",
            "screen_failure__failed_codes",
            "withdrawal__id",
            "withdrawal__scope",
            "allocation__id",
            "allocation__arm",
            "allocation__in_error",
            "end_of_study__reason",
        )
    )
    received = set(
        _scoped(Visit.objects.filter(code=BASELINE_VISIT, done_on__isnull=False), user).values_list(
            "participant_id", flat=True
        )
    )
    analysed = primary_endpoint_participants(user)

    people: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        people[row["first_episode_id"] or row["id"]].append(row)
    not_meeting = declined = other = still = 0
    codes: Counter[str] = Counter()
    randomised_rows: list[dict[str, Any]] = []
    for episodes in people.values():
        allocated = [row for row in episodes if row["allocation__id"] is not None]
        if allocated:
            randomised_rows.extend(allocated)
            continue
        latest = max(episodes, key=lambda row: row["episode"])
        if latest["withdrawal__id"] is not None:
            declined += 1
        elif latest["screen_failure__id"] is not None:
            failed = latest["screen_failure__failed_codes"] or []
            if failed:
                not_meeting += 1
                codes.update(set(failed))
            else:
                other += 1
        else:
            still += 1

    def arm_flow(group: list[dict[str, Any]]) -> ArmFlow:
        reasons: Counter[str] = Counter(_follow_up_reason(row) for row in group)
        return ArmFlow(
            allocated=len(group),
            received=sum(row["id"] in received for row in group),
            lost=reasons["lost"],
            withdrew=reasons["withdrew"],
            died=reasons["died"],
            stopped_treatment=reasons["stopped_treatment"],
            analysed=sum(row["id"] in analysed for row in group),
        )

    if show_arms:
        arms = tuple(
            arm_flow([row for row in randomised_rows if row["allocation__arm"] == arm.code]) for arm in PROTOCOL.arms
        )
    else:
        arms = (arm_flow(randomised_rows),)
    return ConsortFlow(
        episodes=len(rows),
        assessed=len(people),
        not_meeting_criteria=not_meeting,
        failed_criteria=tuple(sorted(codes.items(), key=lambda item: _criterion_order(item[0]))),
        declined=declined,
        other=other,
        still_screening=still,
        randomised=len(randomised_rows),
        randomised_in_error=sum(bool(row["allocation__in_error"]) for row in randomised_rows),
        arms=arms,
    )


def _follow_up_reason(row: dict[str, Any]) -> str:
    ended = row["end_of_study__reason"]
    if ended == EndOfStudy.Reason.LOST:
        return "lost"
    if ended == EndOfStudy.Reason.DEATH:
        return "died"
    if ended == EndOfStudy.Reason.WITHDRAWN or row["withdrawal__scope"] == "follow_up":
        return "withdrew"
    if row["withdrawal__scope"] == "treatment":
        return "stopped_treatment"
    return ""


# --- Primary endpoint ---------------------------------------------------------------------------------------


def _mrss_by_participant(user: Any) -> dict[int, dict[str, int]]:
    """{participant id: {visit code: mRSS total}} for complete 17-area scores at Day 1 and week 24 (one query)."""
    forms = _scoped(VisitMrss.objects.filter(visit__code__in=(BASELINE_VISIT, PRIMARY_VISIT)), user).values(
        "visit__participant_id", "visit__code", *MRSS_AREA_CODES
    )
    totals: dict[int, dict[str, int]] = defaultdict(dict)
    for form in forms:
        total = mrss_total({code: form[code] for code in MRSS_AREA_CODES})
        if total is not None:
            totals[form["visit__participant_id"]][form["visit__code"]] = total
    return totals


def primary_endpoint_participants(user: Any) -> set[int]:
    """Participants (ids) with a complete mRSS at Day 1 and at week 24."""
    return {
        pk for pk, totals in _mrss_by_participant(user).items() if BASELINE_VISIT in totals and PRIMARY_VISIT in totals
    }


@dataclass(frozen=True)
class EndpointRow:
    arm: Arm
    randomised: int
    baseline: Summary
    week24: Summary
    change: Summary


def primary_endpoint(user: Any) -> list[EndpointRow]:
    """mRSS at Day 1, at week 24 and the change (week 24 − Day 1, participants with both), by arm. Descriptive
    only. Callers must check ``arms_visible`` first."""
    arms = dict(_scoped(Allocation.objects.all(), user).values_list("participant_id", "arm"))
    totals = _mrss_by_participant(user)
    rows = []
    for arm in PROTOCOL.arms:
        mine = [pk for pk, code in arms.items() if code == arm.code]
        baseline = [totals[pk][BASELINE_VISIT] for pk in mine if BASELINE_VISIT in totals.get(pk, {})]
        week24 = [totals[pk][PRIMARY_VISIT] for pk in mine if PRIMARY_VISIT in totals.get(pk, {})]
        change = [
            totals[pk][PRIMARY_VISIT] - totals[pk][BASELINE_VISIT]
            for pk in mine
            if {BASELINE_VISIT, PRIMARY_VISIT} <= set(totals.get(pk, {}))
        ]
        rows.append(
            EndpointRow(
                arm=arm,
                randomised=len(mine),
                baseline=describe(baseline),
                week24=describe(week24),
                change=describe(change),
            )
        )
    return rows


# --- Enrolment ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonthCount:
    month: date  # the first day of the month
    screened: int  # cumulative people screened by the end of the month
    randomised: int  # cumulative randomised by the end of the month
    target: float | None  # the target line at the end of the month


@dataclass(frozen=True)
class Enrolment:
    months: list[MonthCount]
    planned: int
    target_start: date | None
    target_end: date | None


def _month(day: date) -> date:
    return day.replace(day=1)


def _add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def _months_between(first: date, second: date) -> int:
    return (second.year - first.year) * 12 + second.month - first.month


def enrolment(user: Any, *, today: date | None = None) -> Enrolment:
    """Cumulative people screened (first episodes, by screening date) and randomised (by the local date of
    randomisation) per month, against a straight target line from 0 at the start of the month of the first
    randomisation to ``planned_enrolment`` at the end of ``PROTOCOL.recruitment_months`` months."""
    today = today or timezone.localdate()
    screened_days = list(
        _scoped(Participant.objects.filter(first_episode__isnull=True), user).values_list("screening_date", flat=True)
    )
    randomised_days = [
        timezone.localdate(moment) if isinstance(moment, datetime) else moment
        for moment in _scoped(Allocation.objects.all(), user).values_list("randomised_at", flat=True)
    ]
    planned = PROTOCOL.planned_enrolment
    if not screened_days and not randomised_days:
        return Enrolment(months=[], planned=planned, target_start=None, target_end=None)
    first = _month(min([*screened_days, *randomised_days]))
    target_start = _month(min(randomised_days)) if randomised_days else None
    target_end = _add_months(target_start, PROTOCOL.recruitment_months) if target_start else None
    last = _month(max([today, *screened_days, *randomised_days]))
    if target_end is not None:
        last = max(last, _add_months(target_end, -1))
    screened_by_month = Counter(_month(day) for day in screened_days)
    randomised_by_month = Counter(_month(day) for day in randomised_days)
    months, screened, randomised = [], 0, 0
    for index in range(_months_between(first, last) + 1):
        month = _add_months(first, index)
        screened += screened_by_month[month]
        randomised += randomised_by_month[month]
        target = None
        if target_start is not None and month >= target_start:
            elapsed = _months_between(target_start, month) + 1
            target = planned * min(elapsed, PROTOCOL.recruitment_months) / PROTOCOL.recruitment_months
        future = month > _month(today)
        months.append(
            MonthCount(
                month=month,
                screened=screened if not future else -1,
                randomised=randomised if not future else -1,
                target=target,
            )
        )
    return Enrolment(months=months, planned=planned, target_start=target_start, target_end=target_end)


# --- Visits, forms, queries, SAEs -----------------------------------------------------------------------------


def _visit_codes() -> list[str]:
    """Every scheduled visit of any approved protocol version (an amendment may add one), in study-day order, then
    the safety follow-up."""
    days: dict[str, int] = {}
    for protocol in approved_versions():
        for visit in protocol.visits:
            days.setdefault(visit.code, visit.target_day)
    return [*sorted(days, key=lambda code: days[code]), PROTOCOL.follow_up.code]


@dataclass(frozen=True)
class VisitCompliance:
    code: str
    on_time: int
    out_of_window: int
    missed: int
    overdue: int
    not_yet_due: int
    no_longer_due: int


def visit_compliance(
    user: Any, *, today: date | None = None, tallies: dict[str, dict[str, int]] | None = None
) -> list[VisitCompliance]:
    """Scheduled visits by code: done within the window, done outside it, missed, overdue (window closed, not
    done), not yet due, no longer due (end of study). Two queries of tallies kept by ``visits.progress``: the
    sites' ``VisitTally`` rows (pending = overdue + not yet due), and the ``OpenVisitTally`` rows of the pending
    visits whose window closed before today (the overdue ones). ``tallies``: ``visit_tallies(user)`` when the
    caller has read them."""
    today = today or timezone.localdate()
    counts = visit_tallies(user) if tallies is None else tallies
    overdue = dict(
        _scoped(OpenVisitTally.objects.filter(visits__gt=0, closes_on__lt=today), user)
        .values("code")
        .annotate(count=Sum("visits"))
        .order_by()
        .values_list("code", "count")
    )
    return [
        VisitCompliance(
            code=code,
            on_time=counts[code]["on_time"],
            out_of_window=counts[code]["out_of_window"],
            missed=counts[code]["missed"],
            overdue=overdue.get(code, 0),
            not_yet_due=counts[code]["pending"] - overdue.get(code, 0),
            no_longer_due=counts[code]["no_longer_due"],
        )
        for code in _visit_codes()
        if code in counts and any(counts[code][name] for name in COMPLIANCE)
    ]


COMPLIANCE = ("on_time", "out_of_window", "missed", "no_longer_due", "pending")


def visit_tallies(user: Any) -> dict[str, dict[str, int]]:
    """The ``VisitTally`` counts of the user's sites, added up per visit code. One query of a few rows."""
    rows = (
        _scoped(VisitTally.objects.all(), user)
        .values("code")
        .annotate(**{f"total_{name}": Sum(name) for name in TALLY_COUNTS})
        .order_by()
    )
    return {row["code"]: {name: row[f"total_{name}"] for name in TALLY_COUNTS} for row in rows}


@dataclass(frozen=True)
class Completeness:
    code: str
    required: int
    entered: int

    @property
    def percent(self) -> float | None:
        return 100.0 * self.entered / self.required if self.required else None


def data_completeness(user: Any, *, tallies: dict[str, dict[str, int]] | None = None) -> list[Completeness]:
    """Per visit code, for visits done: the forms required (entered or not; "not required" left out) and the
    forms entered as complete. From the sites' tallies (``VisitTally``, or ``tallies`` read by the caller): one
    query of a few rows."""
    tallies = visit_tallies(user) if tallies is None else tallies
    counts = {code: row for code, row in tallies.items() if row["forms_required"]}
    codes = _visit_codes() + sorted(set(counts) - set(_visit_codes()))
    return [
        Completeness(code=code, required=counts[code]["forms_required"], entered=counts[code]["forms_entered"])
        for code in codes
        if code in counts
    ]


@dataclass(frozen=True)
class QueryCounts:
    by_status: list[tuple[str, str, int]]  # (status, label, count)
    open_overdue: int


def data_queries(user: Any, *, today: date | None = None) -> QueryCounts:
    today = today or timezone.localdate()
    queries = _scoped(DataQuery.objects.all(), user)
    counts = dict(queries.values("status").annotate(count=Count("id")).order_by().values_list("status", "count"))
    overdue = queries.filter(status=DataQuery.Status.OPEN, due_date__lt=today).count()
    return QueryCounts(
        by_status=[(status.value, status.label, counts.get(status.value, 0)) for status in DataQuery.Status],
        open_overdue=overdue,
    )


@dataclass(frozen=True)
class SaeCounts:
    label: str  # the arm, or "" for every participant
    serious_events: int
    participants: int
    ongoing: int
    reports_open: int
    reports_overdue: int


def sae_summary(user: Any, *, by_arm: bool) -> list[SaeCounts]:
    """Serious adverse events: events, participants with one, ongoing; SAE reports not yet sent to the sponsor
    and those past their deadline. Pooled (one row), or one row per arm then the total when ``by_arm``. Two GROUP
    BY queries (by arm), whatever the number of events."""
    now = timezone.now()
    events = {
        row["participant__allocation__arm"]: row
        for row in _scoped(AdverseEvent.objects.filter(SERIOUS), user)
        .values("participant__allocation__arm")
        .annotate(
            events=Count("id"),
            participants=Count("participant_id", distinct=True),
            ongoing=Count("id", filter=Q(ongoing=True)),
        )
        .order_by()
    }
    reports = {
        row["adverse_event__participant__allocation__arm"]: row
        for row in _scoped(SaeReport.objects.filter(submitted_at__isnull=True), user)
        .values("adverse_event__participant__allocation__arm")
        .annotate(open=Count("id"), overdue=Count("id", filter=Q(deadline__lt=now)))
        .order_by()
    }

    def counts(label: str, arm: str | None) -> SaeCounts:
        # A participant has one arm (or none): the participants of the groups add up without double counting.
        mine = [row for key, row in events.items() if arm is None or key == arm]
        open_ = [row for key, row in reports.items() if arm is None or key == arm]
        return SaeCounts(
            label=label,
            serious_events=sum(row["events"] for row in mine),
            participants=sum(row["participants"] for row in mine),
            ongoing=sum(row["ongoing"] for row in mine),
            reports_open=sum(row["open"] for row in open_),
            reports_overdue=sum(row["overdue"] for row in open_),
        )

    rows = [counts(arm_label(arm), arm.code) for arm in PROTOCOL.arms] if by_arm else []
    return [*rows, counts("", None)]
