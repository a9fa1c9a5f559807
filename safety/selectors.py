"""Reads of safety, scoped to the user's sites, with a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import Count, DateField, DurationField, ExpressionWrapper, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, Greatest, TruncDate
from django.utils import timezone

from clinical.safety import DAYS_PER_YEAR, RELATED, rate_per_100_patient_years, sae_overdue, sae_time_left
from randomization.models import Allocation
from safety.models import SERIOUS, AdverseEvent, LabAlert, SaeReport
from trial_site.permissions import site_ids_where
from trial_site.protocol import PROTOCOL
from trial_site.roles import SEES_ARM
from trial_site.scoping import scope_to_user_sites

# Each read asks for the permission at the site the rows belong to: a role counts at its own site only.
SEE_EVENTS = "safety.view_adverseevent"
SEE_REPORTS = "safety.view_saereport"
SEE_ALERTS = "safety.view_labalert"


def alert_site_ids(user: Any) -> list[int]:
    """The sites whose laboratory alerts ``user`` may see: every alert follows a hold or dose rule of the
    participant's arm, so only where the user holds both the alerts' permission and the arm's."""
    return sorted(site_ids_where(user, SEE_ALERTS) & site_ids_where(user, SEES_ARM))


def summary_site_ids(user: Any) -> list[int]:
    """The sites the summary by arm counts: where the user may read adverse events and see arms."""
    return sorted(site_ids_where(user, SEE_EVENTS) & site_ids_where(user, SEES_ARM))


@dataclass(frozen=True)
class OpenReport:
    report: SaeReport
    time_left: timedelta
    overdue: bool


def unsent_sae_reports(user: Any) -> QuerySet[SaeReport]:
    """SAE reports not yet sent to the sponsor, soonest deadline first: a queryset, counted and sliced in SQL."""
    return (
        scope_to_user_sites(SaeReport.objects.filter(submitted_at__isnull=True), user, permission=SEE_REPORTS)
        .select_related("adverse_event__participant", "site")
        .order_by("deadline", "pk")
    )


def open_report(report: SaeReport, now: Any = None) -> OpenReport:
    """A report with the time left of its clock at ``now`` (default: now)."""
    now = now or timezone.now()
    return OpenReport(report, sae_time_left(report.deadline, now), sae_overdue(report.deadline, now, None))


def open_sae_reports(user: Any) -> list[OpenReport]:
    """SAE reports not yet sent to the sponsor, soonest deadline first, with the time left."""
    now = timezone.now()
    return [open_report(report, now) for report in unsent_sae_reports(user)]


def open_lab_alerts(user: Any) -> list[LabAlert]:
    return list(
        LabAlert.objects.filter(acknowledged_at__isnull=True, site_id__in=alert_site_ids(user))
        .select_related("participant", "lab_panel__visit")
        .order_by("-created_at")
    )


@dataclass(frozen=True)
class ArmSummary:
    arm: str
    drug: str
    participants: int
    patient_years: float
    events: int
    serious: int
    related: int
    by_grade: dict[int, int]
    special_interest: dict[str, int]
    rate_per_100_patient_years: float | None


def safety_summary(user: Any) -> list[ArmSummary]:
    """Adverse events by arm with exposure from Day 1 to the end of study (or today), at the sites where the user
    may read adverse events and see arms (``summary_site_ids``); allocations made in error are left out.

    Two GROUP BY queries whatever the size of the trial: the allocations by arm (participants and exposure days:
    for each, the local date of randomisation to the end of study or today, both days counted, as
    ``clinical.safety.patient_years`` counts them) and the adverse events by arm (all, serious, related, per grade,
    per topic of special interest)."""
    today = timezone.localdate()
    sites = summary_site_ids(user)
    start = TruncDate("randomised_at", tzinfo=timezone.get_current_timezone())
    end = Greatest(Coalesce("participant__end_of_study__ended_on", Value(today, output_field=DateField())), start)
    exposure = {
        row["arm"]: row
        for row in Allocation.objects.filter(in_error=False, site_id__in=sites)
        .values("arm")
        .annotate(participants=Count("id"), length=Sum(ExpressionWrapper(end - start, output_field=DurationField())))
        .order_by()
    }
    grades = [grade.value for grade in AdverseEvent.Grade]
    topics = list(AdverseEvent.SpecialInterest)
    events = {
        row["participant__allocation__arm"]: row
        for row in AdverseEvent.objects.filter(site_id__in=sites, participant__allocation__in_error=False)
        .values("participant__allocation__arm")
        .annotate(
            events=Count("id"),
            serious=Count("id", filter=SERIOUS),
            related=Count("id", filter=Q(relationship__in=[str(relationship) for relationship in RELATED])),
            **{f"grade_{grade}": Count("id", filter=Q(grade=grade)) for grade in grades},
            **{f"topic_{topic.value}": Count("id", filter=Q(special_interest=topic.value)) for topic in topics},
        )
        .order_by()
    }
    summaries = []
    for arm in PROTOCOL.arms:
        allocated = exposure.get(arm.code, {})
        participants = allocated.get("participants", 0)
        days = allocated["length"].days + participants if participants else 0
        years = days / DAYS_PER_YEAR
        counted = events.get(arm.code, {})
        total = counted.get("events", 0)
        summaries.append(
            ArmSummary(
                arm=arm.code,
                drug=arm.drug,
                participants=participants,
                patient_years=years,
                events=total,
                serious=counted.get("serious", 0),
                related=counted.get("related", 0),
                by_grade={grade: counted[f"grade_{grade}"] for grade in grades if counted.get(f"grade_{grade}")},
                special_interest={
                    str(topic.label): counted[f"topic_{topic.value}"]
                    for topic in topics
                    if counted.get(f"topic_{topic.value}")
                },
                rate_per_100_patient_years=rate_per_100_patient_years(total, years),
            )
        )
    return summaries


SIGN_REPORTS = "safety.sign_saereport"


def reports_to_assess(user: Any) -> QuerySet[SaeReport]:
    """SAE reports the investigator has not yet assessed (no causality and signature), at the sites where the user
    may sign them; the soonest deadline first."""
    return (
        scope_to_user_sites(SaeReport.objects.filter(signed_by__isnull=True), user, permission=SIGN_REPORTS)
        .select_related("adverse_event__participant", "site")
        .order_by("deadline", "pk")
    )
