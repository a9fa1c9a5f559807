"""Reads of safety, scoped to the user's sites, with a fixed number of queries."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from clinical.safety import patient_years, rate_per_100_patient_years, sae_overdue, sae_time_left
from randomization.models import Allocation
from safety.models import AdverseEvent, LabAlert, SaeReport
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


def open_sae_reports(user: Any) -> list[OpenReport]:
    """SAE reports not yet sent to the sponsor, soonest deadline first, with the time left."""
    now = timezone.now()
    reports = scope_to_user_sites(
        SaeReport.objects.filter(submitted_at__isnull=True), user, permission=SEE_REPORTS
    ).select_related("adverse_event__participant", "site")
    return [
        OpenReport(report, sae_time_left(report.deadline, now), sae_overdue(report.deadline, now, None))
        for report in reports.order_by("deadline")
    ]


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
    may read adverse events and see arms (``summary_site_ids``)."""
    today = timezone.localdate()
    sites = summary_site_ids(user)
    allocations = list(
        Allocation.objects.filter(in_error=False, site_id__in=sites).select_related("participant__end_of_study")
    )
    events = list(
        AdverseEvent.objects.filter(site_id__in=sites, participant__allocation__in_error=False)
        .select_related("participant__allocation")
    )  # fmt: skip
    summaries = []
    for arm in PROTOCOL.arms:
        mine = [a for a in allocations if a.arm == arm.code]
        periods = []
        for allocation in mine:
            start = timezone.localdate(allocation.randomised_at)
            ended = getattr(allocation.participant, "end_of_study", None)
            periods.append((start, max(start, ended.ended_on if ended else today)))
        exposure = patient_years(periods)
        arm_events = [e for e in events if e.participant.allocation.arm == arm.code]
        summaries.append(
            ArmSummary(
                arm=arm.code,
                drug=arm.drug,
                participants=len(mine),
                patient_years=exposure,
                events=len(arm_events),
                serious=sum(e.serious for e in arm_events),
                related=sum(e.related for e in arm_events),
                by_grade=dict(sorted(Counter(e.grade for e in arm_events).items())),
                special_interest=dict(
                    Counter(e.get_special_interest_display() for e in arm_events if e.special_interest)
                ),
                rate_per_100_patient_years=rate_per_100_patient_years(len(arm_events), exposure),
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
