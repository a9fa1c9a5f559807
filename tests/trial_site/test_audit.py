"""The audit kernel, on a clinical model used only by tests (tests.audit_probe.AuditProbe)."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from tests.audit_probe.models import AuditProbe
from trial_site.audit.actor import acting_as
from trial_site.audit.errors import AttributionRequired, BulkChangeRefused, ReasonForChangeRequired
from trial_site.audit.protection import protected_tables
from trial_site.checks import append_only_models, check_history_is_protected
from trial_site.database_roles import owner_connection
from trial_site.protocol import PROTOCOL
from trial_site.roles import Role


@pytest.fixture
def coordinator(user_with_role: Any) -> Any:
    return user_with_role(Role.COORDINATOR)


@pytest.fixture
def probe(site: Any, coordinator: Any) -> AuditProbe:
    record = AuditProbe(site=site, label="first", severity=AuditProbe.Severity.MILD, score=3)
    record.save(by=coordinator)
    return record


def stored(record: AuditProbe) -> AuditProbe:
    return AuditProbe.objects.get(pk=record.pk)


def test_creating_needs_no_reason_and_is_attributed(probe: AuditProbe, coordinator: Any) -> None:
    row = probe.history.get()
    assert row.history_type == "+"
    assert row.history_user == coordinator
    assert row.history_change_reason is None
    assert probe.created_by == coordinator and probe.modified_by == coordinator
    assert probe.protocol_version == PROTOCOL.version


def test_update_without_reason_is_refused_and_writes_nothing(probe: AuditProbe, coordinator: Any) -> None:
    probe.score = 7
    with pytest.raises(ReasonForChangeRequired):
        probe.save(by=coordinator)
    assert stored(probe).score == 3
    assert probe.history.count() == 1


def test_blank_reason_is_no_reason(probe: AuditProbe, coordinator: Any) -> None:
    probe.score = 7
    with pytest.raises(ReasonForChangeRequired):
        probe.save(by=coordinator, reason="   ")
    assert stored(probe).score == 3


def test_update_with_reason_keeps_user_time_old_and_new_values_and_reason(
    probe: AuditProbe, coordinator: Any, user_with_role: Any
) -> None:
    investigator = user_with_role(Role.INVESTIGATOR)
    probe.score = 7
    probe.severity = AuditProbe.Severity.SEVERE
    probe.save(by=investigator, reason="transcription error, source document page 2")

    latest, previous = probe.history.all()[:2]
    assert latest.history_type == "~"
    assert latest.history_user == investigator
    assert latest.history_change_reason == "transcription error, source document page 2"
    assert latest.history_date >= previous.history_date
    changes = {change.field: (change.old, change.new) for change in latest.diff_against(previous).changes}
    assert changes["score"] == (3, 7)
    assert changes["severity"] == (AuditProbe.Severity.MILD, AuditProbe.Severity.SEVERE)
    assert stored(probe).modified_by == investigator
    assert stored(probe).created_by == coordinator


def test_reason_does_not_carry_over_to_the_next_save(probe: AuditProbe, coordinator: Any) -> None:
    probe.score = 4
    probe.save(by=coordinator, reason="corrected")
    probe.score = 5
    with pytest.raises(ReasonForChangeRequired):
        probe.save(by=coordinator)
    assert stored(probe).score == 4


def test_delete_needs_a_reason_and_history_keeps_the_record(probe: AuditProbe, coordinator: Any) -> None:
    with pytest.raises(ReasonForChangeRequired):
        probe.delete(by=coordinator)
    assert AuditProbe.objects.filter(pk=probe.pk).exists()

    record_id = probe.pk
    probe.delete(by=coordinator, reason="entered for the wrong participant")
    assert not AuditProbe.objects.filter(pk=record_id).exists()
    deleted = AuditProbe.history.filter(id=record_id).latest("history_date")
    assert deleted.history_type == "-"
    assert deleted.history_change_reason == "entered for the wrong participant"
    assert deleted.label == "first"


def test_a_change_without_a_user_is_refused(site: Any) -> None:
    with pytest.raises(AttributionRequired):
        AuditProbe(site=site, label="x", severity=1).save()
    assert not AuditProbe.objects.exists()


def test_tasks_and_commands_pass_the_user_explicitly(site: Any, coordinator: Any) -> None:
    with acting_as(coordinator):
        record = AuditProbe(site=site, label="from a task", severity=1)
        record.save()
    assert record.history.get().history_user == coordinator


def test_model_validation_runs_on_every_save(site: Any, coordinator: Any) -> None:
    with pytest.raises(ValidationError) as error:
        AuditProbe(site=site, label="x", severity=9).save(by=coordinator)
    assert "severity" in error.value.message_dict
    assert not AuditProbe.objects.exists()


def test_bulk_writes_that_skip_history_are_refused(probe: AuditProbe) -> None:
    with pytest.raises(BulkChangeRefused):
        AuditProbe.objects.filter(pk=probe.pk).update(score=9)
    with pytest.raises(BulkChangeRefused):
        AuditProbe.objects.all().delete()
    assert stored(probe).score == 3


@pytest.mark.parametrize(
    "statement",
    ["UPDATE {table} SET score = 51", "DELETE FROM {table}"],
    ids=["update", "delete"],
)
def test_raw_sql_cannot_change_history(probe: AuditProbe, statement: str) -> None:
    table = connection.ops.quote_name(AuditProbe.history.model._meta.db_table)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement.format(table=table))
    assert list(probe.history.values_list("score", flat=True)) == [3]


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_postgresql_trigger_refuses_truncating_history(site: Any, user_with_role: Any) -> None:
    # Committed data (a transactional test), so PostgreSQL reaches the TRUNCATE trigger itself. As the tables'
    # owner: the application's role (CI's tests) may not TRUNCATE at all; the trigger stops even the owner.
    coordinator = user_with_role(Role.COORDINATOR)
    AuditProbe(site=site, label="kept", severity=1).save(by=coordinator)
    table = connection.ops.quote_name(AuditProbe.history.model._meta.db_table)
    refused = pytest.raises(DatabaseError, match="audit history is append-only: TRUNCATE on")
    with owner_connection(connection, settings.MIGRATION_DATABASE_URL) as owner, refused, owner.cursor() as cursor:
        cursor.execute(f"TRUNCATE {table}")
    assert AuditProbe.history.count() == 1


def test_every_history_table_in_the_database_is_append_only(db: Any) -> None:
    tables = {model._meta.db_table for model in append_only_models()}
    assert "audit_probe_historicalauditprobe" in tables
    assert "trial_site_accessevent" in tables
    assert tables <= set(protected_tables(connection))
    assert check_history_is_protected() == []


def test_flush_is_refused_outside_the_test_suite(probe: AuditProbe, settings: Any) -> None:
    settings.HISTORY_FLUSH_ALLOWED = False
    with pytest.raises(CommandError, match="audit trail"):
        call_command("flush", interactive=False, verbosity=0)
    assert probe.history.count() == 1


@pytest.mark.django_db(transaction=True)
def test_flush_in_the_test_suite_erases_everything_and_puts_the_protection_back(probe: AuditProbe) -> None:
    call_command("flush", interactive=False, verbosity=0)
    assert not AuditProbe.history.exists()
    tables = {model._meta.db_table for model in append_only_models()}
    assert tables <= set(protected_tables(connection))
