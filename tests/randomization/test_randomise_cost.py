"""What randomising one participant costs in SQL, and that the audited bulk path writes the same history as the
per-row save path (issue #21, item 3b)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinical.schedule import VisitRule, visit_schedule
from monitoring.services.locks import DataLocked, lock_data
from randomization import services
from randomization.models import Allocation, AllocationSlot
from reminders.models import Reminder
from tests.factories import make_user
from tests.randomization.factories import confirmed_participant, list_in_use
from trial_site.audit.bulk import create_audited
from trial_site.audit.errors import AttributionRequired, BulkChangeRefused
from trial_site.protocol_versions import protocol_on
from trial_site.roles import Role
from visits.models import RequiredForm, Visit

MAX_STATEMENTS = 30  # issue #21: randomise one participant (schedule, forms, reminders, history) in ≤ 30 statements

# Values that differ between two participants whatever the path: ids, the moment of writing, whose they are.
NOT_COMPARED = {"id", "history_id", "history_date", "created_at", "modified_at", "participant_id"}


def test_randomising_one_participant_takes_at_most_thirty_statements_with_every_history_row(
    site: Any, coordinator: Any, investigator: Any, statistician: Any
) -> None:
    list_in_use(statistician)
    participant = confirmed_participant(site, coordinator, investigator)
    participant.reminder_consent = True  # reminders are made too
    participant.save(by=coordinator, reason="agreed to reminders")

    with CaptureQueriesContext(connection) as queries:
        allocation = services.participant_randomize(participant=participant, by=investigator)

    assert len(queries.captured_queries) <= MAX_STATEMENTS, "\n".join(q["sql"][:160] for q in queries.captured_queries)
    visits = list(Visit.objects.filter(participant=participant).order_by("sequence"))
    assert [v.code for v in visits] == [v.code for v in protocol_on(timezone.localdate()).visits]
    history = Visit.history.model.objects.filter(participant_id=participant.pk)
    assert sorted(history.values_list("id", "history_type", "history_user_id")) == sorted(
        (v.pk, "+", investigator.pk) for v in visits
    )
    assert allocation.history.get().history_user == investigator
    assert RequiredForm.objects.filter(visit__participant=participant).count() == sum(
        len(v.forms) for v in protocol_on(timezone.localdate()).visits
    )
    assert Reminder.objects.filter(participant=participant).exists()


def _per_row_schedule(allocation: Allocation, by: Any) -> None:
    """The schedule as it was made before the bulk path: one audited ``save`` per visit."""
    participant = allocation.participant
    day1 = timezone.localtime(allocation.randomised_at, ZoneInfo(participant.site.time_zone)).date()
    protocol = protocol_on(day1)
    rules = [VisitRule(v.code, v.target_day, v.days_before, v.days_after) for v in protocol.visits]
    for order, (definition, window) in enumerate(zip(protocol.visits, visit_schedule(rules, day1), strict=True)):
        Visit(
            site=participant.site, participant=participant, code=definition.code, name=definition.name,
            sequence=(order + 1) * 10, target_date=window.target, earliest=window.earliest, latest=window.latest,
            planned_date=window.target,
        ).save(by=by)  # fmt: skip


def _history(model: Any, participant_id: int) -> list[dict[str, Any]]:
    rows = model.history.model.objects.filter(participant_id=participant_id).order_by("history_id").values()
    return [{name: value for name, value in row.items() if name not in NOT_COMPARED} for row in rows]


def test_the_bulk_path_writes_the_history_rows_the_per_row_path_writes(
    site: Any, coordinator: Any, investigator: Any, statistician: Any
) -> None:
    list_in_use(statistician)
    bulk, per_row = (confirmed_participant(site, coordinator, investigator) for _ in range(2))
    services.participant_randomize(participant=bulk, by=investigator)
    slot = AllocationSlot.objects.filter(stratum="DHK/early", allocation__isnull=True).order_by("sequence").first()
    allocation = Allocation(
        site=site, participant=per_row, slot=slot, randomisation_number="DHK-R-002", stratum=slot.stratum,
        arm=slot.arm, randomised_at=timezone.now(), randomised_by=investigator,
    )  # fmt: skip
    allocation.save(by=investigator)
    _per_row_schedule(allocation, investigator)

    bulk_visits, per_row_visits = _history(Visit, bulk.pk), _history(Visit, per_row.pk)
    assert len(bulk_visits) == len(per_row_visits) == len(protocol_on(timezone.localdate()).visits)
    assert bulk_visits == per_row_visits
    differ = {"slot_id", "randomisation_number", "arm", "randomised_at"}
    bulk_allocation, per_row_allocation = (
        [{k: v for k, v in row.items() if k not in differ} for row in _history(Allocation, pk)]
        for pk in (bulk.pk, per_row.pk)
    )
    assert bulk_allocation == per_row_allocation and len(bulk_allocation) == 1


def test_a_locked_casebook_gets_no_new_rows_through_the_bulk_path(
    site: Any, coordinator: Any, investigator: Any, statistician: Any
) -> None:
    list_in_use(statistician)
    participant = confirmed_participant(site, coordinator, investigator)
    data_manager = make_user("data-manager", role=Role.DATA_MANAGER, site=site)
    lock_data(scope="casebook", participant=participant, by=data_manager, reason="reviewed before analysis")

    with pytest.raises(DataLocked):
        services.participant_randomize(participant=participant, by=investigator)
    assert not Allocation.objects.exists() and not Visit.objects.exists()
    assert not Visit.history.model.objects.exists() and not Allocation.history.model.objects.exists()


def test_the_bulk_path_validates_attributes_and_leaves_bulk_create_refused(
    site: Any, coordinator: Any, investigator: Any
) -> None:
    participant = confirmed_participant(site, coordinator, investigator)
    today = timezone.localdate()

    def visit(**values: Any) -> Visit:
        fields = dict(site=site, participant=participant, code="X1", name="x", sequence=10, target_date=today,
                      earliest=today, latest=today, planned_date=today)  # fmt: skip
        return Visit(**{**fields, **values})

    with pytest.raises(AttributionRequired):
        create_audited(Visit, [visit()], by=None)
    with pytest.raises(ValidationError, match="visit 2 of 2"):  # done tomorrow: not a possible day
        create_audited(Visit, [visit(), visit(code="X2", done_on=today + timedelta(days=1))], by=investigator)
    with pytest.raises(BulkChangeRefused):
        Visit.objects.bulk_create([visit()])
    assert not Visit.objects.exists() and not Visit.history.model.objects.exists()
