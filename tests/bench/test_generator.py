"""The benchmark's trial generator writes a coherent trial: what the services would have written, with history."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from django.apps import apps
from django.db.models import Q

from bench.generate import generate_trial
from exports.reports import arms_visible, consort_flow
from exports.rows import people
from exports.scope import ExportScope
from randomization.models import Allocation
from screening.models import Participant
from trial_site.audit.base import ClinicalRecord
from trial_site.protocol import PROTOCOL
from trial_site.protocol_versions import base_protocol
from visits.crfs import crf_by_code
from visits.models import RequiredForm, Visit

pytestmark = [pytest.mark.django_db, pytest.mark.needs_postgres]


@pytest.fixture
def generated(db: Any) -> Any:
    return generate_trial(30, sites=2, seed=3)


def test_every_randomised_participant_has_a_slot_a_schedule_and_day_1_done(generated: Any) -> None:
    allocations = list(Allocation.objects.select_related("slot", "participant"))
    assert allocations, "some participants are randomised"
    assert Participant.objects.count() == 30
    assert len({a.slot_id for a in allocations}) == len(allocations)
    for allocation in allocations:
        assert allocation.arm == allocation.slot.arm and allocation.stratum == allocation.slot.stratum
        codes = list(allocation.participant.visits.order_by("sequence").values_list("code", flat=True))
        assert codes[: len(PROTOCOL.visits)] == [v.code for v in PROTOCOL.visits]
        day1 = allocation.participant.visits.get(code="D1")
        assert day1.done_on == day1.target_date
    # Only randomised participants have visits.
    assert set(Visit.objects.values_list("participant_id", flat=True)) == {a.participant_id for a in allocations}


def test_each_done_visit_has_the_forms_its_schedule_asks_for(generated: Any) -> None:
    definitions = {v.code: v for v in base_protocol().visit_definitions()}
    for visit in Visit.objects.prefetch_related("required_forms"):
        rows = {row.form: row.status for row in visit.required_forms.all()}
        assert set(rows) == set(definitions[visit.code].forms)
        for form, status in rows.items():
            exists = crf_by_code(form).objects.filter(visit=visit).exists()
            assert exists == (status == RequiredForm.Status.ENTERED), (visit.code, form, status)
            if status == RequiredForm.Status.ENTERED:
                assert visit.done_on is not None


def test_every_record_has_one_creation_row_in_its_history_and_changes_have_reasons(generated: Any) -> None:
    changes_with_reason = 0
    for model in apps.get_models():
        history = getattr(model, "history", None)
        if history is None or not model._default_manager.exists():
            continue
        created = Counter(history.filter(history_type="+").values_list("id", flat=True))
        assert set(created) == set(model._default_manager.values_list("id", flat=True)), model
        assert set(created.values()) == {1}, model
        if issubclass(model, ClinicalRecord):  # a change of clinical data always carries its reason
            changed = history.filter(history_type="~")
            assert not changed.filter(Q(history_change_reason__isnull=True) | Q(history_change_reason="")).exists()
            changes_with_reason += changed.count()
    assert changes_with_reason > 0


def test_the_consort_numbers_add_up(generated: Any) -> None:
    statistician = generated.staff["statistician"]
    assert arms_visible(statistician)
    flow = consort_flow(statistician)
    randomised = Allocation.objects.count()
    assert flow.randomised == randomised
    assert flow.assessed == Participant.objects.count()
    assert flow.not_meeting_criteria + flow.declined + flow.other + flow.still_screening + randomised == flow.assessed
    assert sum(arm.allocated for arm in flow.arms) == randomised
    assert [arm.allocated for arm in flow.arms] == [
        Allocation.objects.filter(arm=arm.code).count() for arm in PROTOCOL.arms
    ]
    assert sum(arm.received for arm in flow.arms) == randomised  # Day 1 done for everyone randomised


def test_the_exports_see_day_1_of_each_randomised_participant(generated: Any) -> None:
    persons = people(ExportScope(site_ids=tuple(generated.site_ids)))
    assert len(persons) == 30
    for allocation in Allocation.objects.select_related("participant"):
        day1 = allocation.participant.visits.get(code="D1").done_on
        assert persons[allocation.participant_id].day1 == day1
