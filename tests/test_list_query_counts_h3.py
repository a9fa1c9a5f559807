"""Lists at flat cost (#21): the participant list (randomisation overview), the safety summary, the reports dashboard
and the home pages' to-do lists run as many queries with 300 participants as with 30, and show the right numbers:

- the safety summary counted in SQL equals the Python computation it replaced (over every allocation and event);
- the overview's counts per site and its first page are those of the allocations, arms concealed from the blinded;
- the reports dashboard's SAE counts equal a count over the events and reports;
- the monitor's "forms to verify" equals the SDV progress page's forms not verified yet (the plan's sample drawn in
  SQL as ``sdv_in_sample`` draws it in Python).

The trials are made by the benchmark's generator (``bench.generate``); each page is counted after one warm-up.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from bench.generate import generate_trial
from clinical.safety import patient_years, rate_per_100_patient_years
from exports import reports
from monitoring.selectors import to_verify, verification
from randomization import selectors as randomization_selectors
from randomization.models import Allocation
from safety.models import AdverseEvent, SaeReport
from safety.selectors import safety_summary
from tests.generated import generated_user, queries_of_page
from trial_site.models import StaffMembership
from trial_site.protocol import PROTOCOL
from trial_site.roles import Role

pytestmark = [pytest.mark.django_db, pytest.mark.needs_postgres]

SMALL, LARGE = 30, 300

# (role, URL name, query string; "{site}" is the first generated site's id).
PAGES: tuple[tuple[Role, str, str], ...] = (
    (Role.COORDINATOR, "randomization:index", ""),
    (Role.COORDINATOR, "randomization:index", "site={site}&page=2"),
    (Role.BLINDED_ASSESSOR, "randomization:index", ""),
    (Role.DATA_MANAGER, "randomization:index", ""),
    (Role.INVESTIGATOR, "safety:summary", ""),
    (Role.DATA_MANAGER, "safety:summary", ""),
    (Role.COORDINATOR, "exports:reports", ""),
    (Role.DATA_MANAGER, "exports:reports", ""),
    (Role.MONITOR, "home", ""),
    (Role.INVESTIGATOR, "home", ""),
)


def _counts(site_id: int) -> dict[tuple[str, str, str], int]:
    counts = {}
    for role, name, query in PAGES:
        url = reverse(name) + (f"?{query.format(site=site_id)}" if query else "")
        counts[(str(role), name, query)] = queries_of_page(generated_user(role), url)
    return counts


class _RolledBack(Exception):
    pass


def _python_safety_summary(user: Any) -> dict[str, tuple[Any, ...]]:
    """The summary as it was computed before #21: every allocation and adverse event loaded and counted in Python."""
    from safety.selectors import summary_site_ids

    today = timezone.localdate()
    sites = summary_site_ids(user)
    allocations = list(
        Allocation.objects.filter(in_error=False, site_id__in=sites).select_related("participant__end_of_study")
    )
    events = list(
        AdverseEvent.objects.filter(site_id__in=sites, participant__allocation__in_error=False).select_related(
            "participant__allocation"
        )
    )
    summary = {}
    for arm in PROTOCOL.arms:
        mine = [a for a in allocations if a.arm == arm.code]
        periods = []
        for allocation in mine:
            start = timezone.localdate(allocation.randomised_at)
            ended = getattr(allocation.participant, "end_of_study", None)
            periods.append((start, max(start, ended.ended_on if ended else today)))
        exposure = patient_years(periods)
        arm_events = [e for e in events if e.participant.allocation.arm == arm.code]
        summary[arm.code] = (
            len(mine),
            round(exposure, 9),
            len(arm_events),
            sum(e.serious for e in arm_events),
            sum(e.related for e in arm_events),
            dict(sorted(Counter(e.grade for e in arm_events).items())),
            dict(Counter(e.get_special_interest_display() for e in arm_events if e.special_interest)),
            rate_per_100_patient_years(len(arm_events), exposure),
        )
    return summary


def _check_numbers() -> None:
    # Safety summary: SQL = the Python computation it replaced, for a user at one site and one at both.
    for role in (Role.INVESTIGATOR, Role.DATA_MANAGER):
        user = generated_user(role)
        sql = {
            arm.arm: (
                arm.participants,
                round(arm.patient_years, 9),
                arm.events,
                arm.serious,
                arm.related,
                arm.by_grade,
                arm.special_interest,
                arm.rate_per_100_patient_years,
            )
            for arm in safety_summary(user)
        }
        expected = _python_safety_summary(user)
        assert sql.keys() == expected.keys()
        for code in sql:
            assert sql[code][:7] == expected[code][:7], code
            assert sql[code][7] == pytest.approx(expected[code][7]), code
        assert sum(row[2] for row in sql.values()) > 0, "the generated trial has adverse events"

    # The overview: counts per site, the newest first, arms concealed from the blinded assessor.
    coordinator = generated_user(Role.COORDINATOR)
    overview = randomization_selectors.randomisation_overview(coordinator)
    at_sites = Allocation.objects.filter(site_id__in=[site.site_id for site in overview.sites])
    assert {site.code: site.randomised for site in overview.sites} == dict(
        Counter(at_sites.values_list("site__code", flat=True))
    )
    newest = list(at_sites.order_by("-randomised_at", "-pk")[: randomization_selectors.OVERVIEW_ROWS])
    assert [row.randomisation_number for row in overview.rows] == [a.randomisation_number for a in newest]
    assert [row.arm.code if row.arm else None for row in overview.rows] == [a.arm for a in newest]
    assert overview.page.paginator.count == at_sites.count()
    in_error = dict(Counter(at_sites.filter(in_error=True).values_list("site__code", flat=True)))
    assert {site.code: site.in_error for site in overview.sites} == {
        site.code: in_error.get(site.code, 0) for site in overview.sites
    }
    by_arm = Counter(at_sites.values_list("site__code", "arm"))
    for site in overview.sites:
        assert dict(site.per_arm or ()) == {arm.code: by_arm[(site.code, arm.code)] for arm in PROTOCOL.arms}
    blinded = randomization_selectors.randomisation_overview(generated_user(Role.BLINDED_ASSESSOR))
    assert blinded.rows and all(row.arm is None for row in blinded.rows)
    assert all(site.per_arm is None for site in blinded.sites)
    own = overview.sites[0].site_id
    one_site = randomization_selectors.randomisation_overview(coordinator, site_id=own)
    assert one_site.site_id == own
    assert one_site.page.paginator.count == Allocation.objects.filter(site_id=own).count()
    elsewhere = randomization_selectors.randomisation_overview(generated_user(Role.BLINDED_ASSESSOR), site_id=-1)
    assert elsewhere.site_id is None  # a site the user may not read: all the user's sites

    # The reports dashboard's SAE counts.
    data_manager = generated_user(Role.DATA_MANAGER)
    saes = reports.sae_summary(data_manager, by_arm=True)
    serious = [e for e in AdverseEvent.objects.select_related("participant__allocation") if e.serious]
    open_reports = list(SaeReport.objects.filter(submitted_at__isnull=True))
    total = saes[-1]
    assert (total.serious_events, total.participants, total.ongoing) == (
        len(serious),
        len({e.participant_id for e in serious}),
        sum(e.ongoing for e in serious),
    )
    now = timezone.now()
    assert (total.reports_open, total.reports_overdue) == (
        len(open_reports),
        sum(r.deadline < now for r in open_reports),
    )
    assert sum(row.serious_events for row in saes[:-1]) <= total.serious_events

    # Forms to verify: the SDV progress page's forms not verified yet, at the monitor's sites, in the same order.
    monitor = generated_user(Role.MONITOR)
    _sites, participants = verification.sdv_progress(monitor)
    codes = set(StaffMembership.objects.filter(user=monitor, role=Role.MONITOR).values_list("site__code", flat=True))
    expected_forms = [
        (row.label, label, form, pk) for row in participants if row.site in codes for label, form, pk in row.to_verify
    ]
    count, forms = to_verify.forms_to_verify(monitor, limit=10_000, cap=10_000)
    assert count == len(expected_forms) > 0
    assert sorted((f.screening_number, f.name, f.form, f.pk) for f in forms) == sorted(expected_forms)
    # Read participant by participant, the rows come in the order of the whole list's first rows.
    assert [(f.screening_number, f.pk) for f in forms] == sorted(
        ((f.screening_number, f.pk) for f in forms), key=lambda row: row[0]
    )
    for limit in (5, 60):
        first = [(f.screening_number, f.form, f.pk) for f in to_verify.forms_to_verify(monitor, limit=limit)[1]]
        assert first == [(f.screening_number, f.form, f.pk) for f in forms[:limit]]
    # The count stops after the cap: cap + 1 says "more".
    assert to_verify.forms_to_verify(monitor, limit=5, cap=3)[0] == 4


def test_lists_run_as_many_queries_at_300_participants_as_at_30_and_show_the_right_numbers() -> None:
    small: dict[tuple[str, str, str], int] = {}
    try:
        with transaction.atomic():
            trial = generate_trial(SMALL, sites=2, seed=7)
            small = _counts(trial.site_ids[0])
            _check_numbers()
            raise _RolledBack
    except _RolledBack:
        pass
    trial = generate_trial(LARGE, sites=2, seed=7)
    large = _counts(trial.site_ids[0])
    _check_numbers()
    assert small, "no page was counted"
    assert large == small
