"""The slots of an allocation list in use are append-only: neither the application nor raw SQL from its database role
can change or delete one (triggers, as on the audit history), and using a slot is recorded in the allocation's
history."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from randomization import services
from randomization.models import AllocationSlot
from tests.randomization.factories import confirmed_participant, list_in_use
from trial_site.audit.errors import AppendOnlyViolation
from trial_site.database_roles import owner_connection


@pytest.fixture
def in_use(statistician: Any) -> Any:
    return list_in_use(statistician, slots_per_stratum=8)


def slots_as_stored(allocation_list: Any) -> list[tuple[Any, ...]]:
    return list(
        AllocationSlot.objects.filter(allocation_list=allocation_list)
        .order_by("pk")
        .values_list("pk", "stratum", "sequence", "block", "block_size", "arm")
    )


def refused(sql: str, params: list[Any]) -> DatabaseError:
    """Run ``sql`` as the application's database role, in a savepoint; return the error the database raised."""
    with pytest.raises(DatabaseError) as raised, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    return raised.value


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE randomization_allocationslot SET arm = CASE arm WHEN 'A' THEN 'B' ELSE 'A' END WHERE id = %s",
        "UPDATE randomization_allocationslot SET sequence = sequence + 1000 WHERE allocation_list_id = "
        "(SELECT allocation_list_id FROM randomization_allocationslot WHERE id = %s)",
        "DELETE FROM randomization_allocationslot WHERE id = %s",
        "DELETE FROM randomization_allocationslot WHERE allocation_list_id = "
        "(SELECT allocation_list_id FROM randomization_allocationslot WHERE id = %s)",
    ],
    ids=["update one arm", "update the whole list", "delete one", "delete the whole list"],
)
def test_raw_sql_cannot_change_or_delete_the_slots_of_a_list_in_use(in_use: Any, sql: str) -> None:
    before = slots_as_stored(in_use)
    first = AllocationSlot.objects.filter(allocation_list=in_use).order_by("stratum", "sequence").first()

    error = refused(sql, [first.pk])

    assert "append-only" in str(error)
    assert slots_as_stored(in_use) == before


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_raw_sql_cannot_truncate_the_slots(in_use: Any) -> None:
    before = slots_as_stored(in_use)
    # As the tables' owner: the application's role (CI's tests) may not TRUNCATE at all; the trigger stops even the
    # owner.
    with (
        owner_connection(connection, settings.MIGRATION_DATABASE_URL) as owner,
        pytest.raises(DatabaseError, match="append-only"),
        owner.cursor() as cursor,
    ):
        cursor.execute("TRUNCATE randomization_allocationslot CASCADE")
    assert slots_as_stored(in_use) == before


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_used_slot_cannot_be_freed_or_given_another_arm_by_raw_sql(
    site: Any, coordinator: Any, investigator: Any, in_use: Any
) -> None:
    allocation = services.participant_randomize(
        participant=confirmed_participant(site, coordinator, investigator), by=investigator
    )
    other_arm = "B" if allocation.slot.arm == "A" else "A"

    refused("UPDATE randomization_allocationslot SET arm = %s WHERE id = %s", [other_arm, allocation.slot_id])
    refused("DELETE FROM randomization_allocationslot WHERE id = %s", [allocation.slot_id])

    assert AllocationSlot.objects.get(pk=allocation.slot_id).arm == allocation.arm


def test_the_model_refuses_to_save_or_delete_a_slot(in_use: Any) -> None:
    before = slots_as_stored(in_use)
    slot = AllocationSlot.objects.filter(allocation_list=in_use).first()

    slot.arm = "B" if slot.arm == "A" else "A"
    with pytest.raises(AppendOnlyViolation):
        slot.save()
    with pytest.raises(AppendOnlyViolation):
        slot.delete()

    assert slots_as_stored(in_use) == before


def test_using_a_slot_is_recorded_in_the_allocations_history(
    site: Any, coordinator: Any, investigator: Any, in_use: Any
) -> None:
    allocation = services.participant_randomize(
        participant=confirmed_participant(site, coordinator, investigator), by=investigator
    )
    row = allocation.history.get()
    assert row.history_type == "+" and row.history_user == investigator
    assert row.slot_id == allocation.slot_id and row.arm == allocation.slot.arm
    assert AllocationSlot.objects.filter(allocation_list=in_use, allocation__isnull=False).get() == allocation.slot
