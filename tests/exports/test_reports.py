"""Trial reports: the CONSORT numbers against the database, blinding, permissions and query counts."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from clinical.consort import ArmFlow, ConsortFlow
from exports import reports
from monitoring.models import DataQuery
from randomization.models import Allocation
from screening.models import ConsentWithdrawal, Participant
from tests.exports.conftest import client_for, score_mrss
from tests.factories import make_user
from tests.randomization.factories import list_in_use
from tests.visits.test_schedule import randomised_on
from trial_site.models import Site
from trial_site.protocol import PROTOCOL
from trial_site.roles import Role
from visits.crfs import VisitMrss
from visits.models import EndOfStudy, Visit

PAGES = ("exports:reports", "exports:consort", "exports:consort_svg", "exports:enrolment")
DRUGS = tuple(arm.drug for arm in PROTOCOL.arms)


# --- The expected numbers, counted independently with plain ORM queries --------------------------------------


def expected_flow(*, by_arm: bool) -> ConsortFlow:
    """Each CONSORT box counted directly from the tables (the whole database: the tests use one site)."""
    first_episodes = Participant.objects.filter(first_episode__isnull=True)
    latest = []
    for person in first_episodes:
        episodes = [person, *Participant.objects.filter(first_episode=person)]
        if any(Allocation.objects.filter(participant=e).exists() for e in episodes):
            continue
        latest.append(max(episodes, key=lambda e: e.episode))
    withdrawn = [p for p in latest if ConsentWithdrawal.objects.filter(participant=p).exists()]
    failed = [p for p in latest if p not in withdrawn and hasattr(p, "screen_failure")]
    codes = Counter(code for p in failed for code in set(p.screen_failure.failed_codes))
    order = {code: i for i, code in enumerate([f"I{i}" for i in range(1, 5)] + [f"E{i}" for i in range(1, 18)])}

    def complete_mrss(participant_id: int, code: str) -> bool:
        form = VisitMrss.objects.filter(visit__participant_id=participant_id, visit__code=code).first()
        return form is not None and form.mrss_total is not None

    def arm_flow(allocations: Any) -> ArmFlow:
        ids = list(allocations.values_list("participant_id", flat=True))
        ended = EndOfStudy.objects.filter(participant_id__in=ids)
        consent = ConsentWithdrawal.objects.filter(participant_id__in=ids)
        withdrew = (
            ended.filter(reason="withdrawn").count()
            + consent.filter(scope="follow_up")
            .exclude(participant__end_of_study__reason__in=["withdrawn", "lost", "death"])
            .count()
        )
        return ArmFlow(
            allocated=len(ids),
            received=Visit.objects.filter(participant_id__in=ids, code="D1", done_on__isnull=False).count(),
            lost=ended.filter(reason="lost").count(),
            withdrew=withdrew,
            died=ended.filter(reason="death").count(),
            stopped_treatment=consent.filter(scope="treatment")
            .exclude(participant__end_of_study__reason__in=["withdrawn", "lost", "death"])
            .count(),
            analysed=sum(complete_mrss(pk, "D1") and complete_mrss(pk, "W24") for pk in ids),
        )

    if by_arm:
        arms = tuple(arm_flow(Allocation.objects.filter(arm=arm.code)) for arm in PROTOCOL.arms)
    else:
        arms = (arm_flow(Allocation.objects.all()),)
    return ConsortFlow(
        episodes=Participant.objects.count(),
        assessed=first_episodes.count(),
        not_meeting_criteria=sum(bool(p.screen_failure.failed_codes) for p in failed),
        failed_criteria=tuple(sorted(codes.items(), key=lambda item: order[item[0]])),
        declined=len(withdrawn),
        other=sum(not p.screen_failure.failed_codes for p in failed),
        still_screening=len(latest) - len(withdrawn) - len(failed),
        randomised=Allocation.objects.count(),
        randomised_in_error=Allocation.objects.filter(in_error=True).count(),
        arms=arms,
    )


def test_consort_numbers_equal_direct_counts_for_a_generated_trial(
    trial: dict[str, Any], coordinator: Any, assessor: Any
) -> None:
    flow = reports.consort_flow(coordinator)
    assert flow == expected_flow(by_arm=True)
    assert (flow.assessed, flow.episodes, flow.randomised) == (15, 16, 10)
    assert (flow.not_meeting_criteria, flow.declined, flow.other, flow.still_screening) == (2, 1, 0, 2)
    assert dict(flow.failed_criteria) == {"I4": 1, "E17": 1}
    pooled = flow.pooled
    assert (pooled.received, pooled.lost, pooled.withdrew, pooled.died, pooled.stopped_treatment) == (6, 1, 1, 1, 1)
    assert pooled.analysed == 3
    blinded = reports.consort_flow(assessor)
    assert blinded == expected_flow(by_arm=False)
    assert len(blinded.arms) == 1 and blinded.arms[0] == pooled


def test_consort_numbers_equal_direct_counts_for_the_demo_data(db: Any) -> None:
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    site = Site.objects.get(code="DHK")
    manager = make_user("report-manager", role=Role.DATA_MANAGER, site=site)
    blinded = make_user("report-assessor", role=Role.BLINDED_ASSESSOR, site=site)
    flow = reports.consort_flow(manager)
    assert flow.randomised > 0 and flow.assessed > flow.randomised
    assert flow == expected_flow(by_arm=True)
    assert reports.consort_flow(blinded) == expected_flow(by_arm=False)
    for name in PAGES:
        assert client_for(manager).get(reverse(name)).status_code == 200


def test_other_sites_are_not_counted(trial: dict[str, Any], other_site: Any) -> None:
    elsewhere = make_user("ctg-manager", role=Role.DATA_MANAGER, site=other_site)
    flow = reports.consort_flow(elsewhere)
    assert (flow.assessed, flow.randomised) == (0, 0)
    assert reports.enrolment(elsewhere).months == []


def test_blinded_users_see_pooled_numbers_and_no_arm_on_every_report(trial: dict[str, Any], assessor: Any) -> None:
    client = client_for(assessor)
    for name in PAGES:
        response = client.get(reverse(name))
        assert response.status_code == 200, name
        body = response.content.decode().lower()
        for drug in DRUGS:
            assert drug not in body, (name, drug)
        assert "allocated to" not in body, name
    consort = client.get(reverse("exports:consort")).content.decode()
    assert "Allocated, arms pooled (n = 10)" in consort
    assert 'data-testid="pooled-note"' in consort
    assert client.get(reverse("exports:primary_endpoint")).status_code == 403


def test_unblinded_users_see_the_arms(trial: dict[str, Any], coordinator: Any) -> None:
    client = client_for(coordinator)
    consort = client.get(reverse("exports:consort")).content.decode()
    for arm in PROTOCOL.arms:
        assert f"Allocated to {arm.code}: {arm.drug}" in consort
    body = client.get(reverse("exports:reports")).content.decode()
    assert all(drug in body for drug in DRUGS)  # the SAE table by arm


def test_the_svg_download_is_a_well_formed_attachment(trial: dict[str, Any], coordinator: Any) -> None:
    response = client_for(coordinator).get(reverse("exports:consort_svg"))
    assert response["Content-Type"] == "image/svg+xml"
    assert response["Content-Disposition"] == 'attachment; filename="consort.svg"'
    root = ET.fromstring(response.content)  # noqa: S314 - our own SVG
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "Randomised (n = 10)" in texts


def test_reports_need_an_allocation_view_and_anonymous_users_log_in(trial: dict[str, Any]) -> None:
    for name in (*PAGES, "exports:primary_endpoint"):
        response = Client().get(reverse(name))
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    nobody = make_user("no-role")
    assert client_for(nobody).get(reverse("exports:consort")).status_code == 403


def test_primary_endpoint_table_for_the_statistician(trial: dict[str, Any], statistician: Any) -> None:
    rows = {row.arm.code: row for row in reports.primary_endpoint(statistician)}
    assert sum(row.randomised for row in rows.values()) == 10
    assert sum(row.baseline.n for row in rows.values()) == 6
    assert sum(row.week24.n for row in rows.values()) == 3
    changes = sorted(
        value
        for row in rows.values()
        for value in ([row.change.mean] * row.change.n if row.change.sd in (0.0, None) and row.change.n else [])
    )
    assert sum(row.change.n for row in rows.values()) == 3
    assert all(-17 <= value <= 0 for value in changes)
    response = client_for(statistician).get(reverse("exports:primary_endpoint"))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="primary-endpoint"' in body and "Descriptive only" in body


def test_visit_compliance_completeness_queries_and_saes(trial: dict[str, Any], coordinator: Any) -> None:
    compliance = {row.code: row for row in reports.visit_compliance(coordinator)}
    assert compliance["D1"].on_time == 6
    assert compliance["W24"].on_time == 3
    assert compliance["W2"].no_longer_due == 3  # three ended their study before it was done
    assert compliance["W2"].overdue == 7
    completeness = {row.code: row for row in reports.data_completeness(coordinator)}
    assert completeness["D1"].entered == 6 and completeness["D1"].required > 6
    queries = reports.data_queries(coordinator)
    expected = [DataQuery.objects.filter(status=status).count() for status in DataQuery.Status]
    assert [count for _, _, count in queries.by_status] == expected and sum(expected) > 0  # edit checks raise some
    saes = reports.sae_summary(coordinator, by_arm=True)
    assert [row.label for row in saes] == [reports.arm_label(arm) for arm in PROTOCOL.arms] + [""]
    assert len(reports.sae_summary(coordinator, by_arm=False)) == 1


def test_enrolment_counts_people_per_month_against_the_target(trial: dict[str, Any], coordinator: Any) -> None:
    data = reports.enrolment(coordinator)
    past = [month for month in data.months if month.screened >= 0]
    assert past[-1].screened == 15 and past[-1].randomised == 10
    assert data.target_start == (timezone.localdate() - timedelta(days=200)).replace(day=1)
    assert data.months[-1].target == PROTOCOL.planned_enrolment
    page = client_for(coordinator).get(reverse("exports:enrolment")).content.decode()
    assert 'data-testid="enrolment-chart"' in page and 'data-testid="enrolment-target"' in page


def _queries(user: Any, name: str) -> int:
    client = client_for(user)
    client.get(reverse(name))  # warm the session and caches
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse(name)).status_code == 200
    return len(captured.captured_queries)


@pytest.mark.parametrize("name", [*PAGES, "exports:primary_endpoint"])
def test_pages_make_a_constant_number_of_queries(
    name: str, site: Any, coordinator: Any, investigator: Any, statistician: Any
) -> None:
    list_in_use(statistician)
    day1 = timezone.localdate() - timedelta(days=60)
    participant = randomised_on(day1, site, coordinator, investigator)
    score_mrss(participant.visits.get(code="D1"), investigator, 1)
    one = _queries(coordinator, name)
    for _ in range(4):
        participant = randomised_on(day1, site, coordinator, investigator)
        score_mrss(participant.visits.get(code="D1"), investigator, 1)
    assert _queries(coordinator, name) == one
