"""The form and visit states read for many visits at once (``visits.record_status``): what was entered, the
monitoring flags, the links a user may follow, and a fixed number of queries."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinical.mrss import MRSS_AREAS
from monitoring.services.locks import lock_data
from monitoring.services.queries import query_raise
from tests.randomization.factories import list_in_use
from tests.visits.test_crfs import FULL_LABS, save
from tests.visits.test_schedule import randomised_on
from trial_site.roles import Role
from visits import services
from visits.crfs import LabPanel, VisitMrss, VitalSigns
from visits.models import Visit
from visits.record_status import CellState, FormEntry, form_states, visit_cells

pytestmark = pytest.mark.django_db


@pytest.fixture
def in_use(statistician: Any) -> Any:
    return list_in_use(statistician)


@pytest.fixture
def d1(site: Any, coordinator: Any, investigator: Any, in_use: Any) -> Visit:
    """Baseline (D1), done, of a woman randomised 10 days ago."""
    participant = randomised_on(timezone.localdate() - timedelta(days=10), site, coordinator, investigator)
    visit = participant.visits.get(code="D1")
    return services.visit_record_done(visit=visit, by=coordinator, done_on=visit.target_date)


def visits_of(visit: Visit) -> list[Visit]:
    return list(Visit.objects.filter(participant_id=visit.participant_id).select_related("site"))


def test_empty_draft_and_complete_forms_are_told_apart(d1: Visit, coordinator: Any) -> None:
    save(LabPanel, d1, coordinator, {"hb_g_dl": 12.5}, complete=False)
    vitals = {"weight_kg": 60.0, "height_cm": 160.0, "systolic_bp": 120, "diastolic_bp": 80, "heart_rate": 70,
              "temperature_c": 36.8}  # fmt: skip
    save(VitalSigns, d1, coordinator, vitals, complete=True)
    states = form_states(visits_of(d1), coordinator)[d1.pk]
    assert states["labs"].state == FormEntry.DRAFT
    assert states["vitals"].state == FormEntry.COMPLETE
    empty = [code for code, state in states.items() if state.state == FormEntry.EMPTY]
    assert empty and "labs" not in empty
    assert states["labs"].label != states["vitals"].label != states[empty[0]].label
    assert states["labs"].icon != states[empty[0]].icon  # the draft is no longer the empty form's ○
    assert visit_cells(visits_of(d1), coordinator)[d1.pk].state == CellState.DRAFT


def test_an_open_query_and_a_lock_show_on_the_form_and_the_visit(
    d1: Visit, coordinator: Any, user_with_role: Any
) -> None:
    monitor = user_with_role(Role.MONITOR, username="monitor")
    manager = user_with_role(Role.DATA_MANAGER, username="manager")
    panel = save(LabPanel, d1, coordinator, FULL_LABS, complete=True)
    query_raise(record=panel, field="hb_g_dl", message="Check the haemoglobin", by=monitor)
    cell = visit_cells(visits_of(d1), coordinator)[d1.pk]
    assert cell.forms["labs"].open_queries == 1
    assert cell.open_queries == 1
    assert not cell.locked
    lock_data(scope="visit", by=manager, reason="reviewed", visit=d1)
    cell = visit_cells(visits_of(d1), coordinator)[d1.pk]
    assert cell.locked and cell.forms["labs"].locked


def test_a_visit_not_yet_due_is_not_due_and_offers_no_form_links_to_nobody(d1: Visit) -> None:
    cells = visit_cells(visits_of(d1))
    w24 = next(cell for cell in cells.values() if cell.visit.code == "W24")
    assert w24.state == CellState.NOT_DUE
    assert all(not form.url for form in w24.forms.values())


def test_a_blinded_assessor_gets_no_link_to_a_complete_mrss(d1: Visit, assessor: Any) -> None:
    save(VisitMrss, d1, assessor, {"assessor": assessor, **{code: 1 for code, _ in MRSS_AREAS}}, complete=True)
    states = form_states(visits_of(d1), assessor)[d1.pk]
    assert states["mrss"].state == FormEntry.COMPLETE
    assert not states["mrss"].url
    w4 = next(visit for visit in visits_of(d1) if visit.code == "W4")
    assert form_states([w4], assessor)[w4.pk]["mrss"].opens  # the one to be scored next: yes


def test_the_number_of_queries_does_not_grow_with_the_visits(
    site: Any, coordinator: Any, investigator: Any, in_use: Any, d1: Visit
) -> None:
    def count() -> int:
        visits = list(Visit.objects.select_related("site"))
        with CaptureQueriesContext(connection) as queries:
            visit_cells(visits, coordinator)
        return len(queries)

    one = count()
    for days in (20, 30):
        randomised_on(timezone.localdate() - timedelta(days=days), site, coordinator, investigator)
    assert count() == one
