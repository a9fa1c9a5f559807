"""The form the test app adds through the registry alone (``tests/registry_app/models.py``) is everywhere a form
must be: the roles, the required forms of the visits it names, its page, the monitoring plan, the exports and the
data dictionary, and its history is append-only. Run by ``tests/trial_site/test_adding_a_form.py`` with
``tests.registry_app.settings``; not collected by the main suite (which runs without the test app)."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.utils import timezone

from exports.catalogue import dataset, datasets
from exports.dictionary import entries
from exports.scope import ExportScope
from monitoring.selectors.sdv_plan import sdv_forms, sdv_full, sdv_required
from tests.randomization.factories import list_in_use
from tests.registry_app.models import DigitalUlcers
from tests.visits.test_schedule import randomised_on
from trial_site import registry
from trial_site.permissions import user_can
from trial_site.roles import ROLE_PERMISSIONS, Role, group_name
from visits import services
from visits.models import RequiredForm


@pytest.fixture
def participant(site: Any, coordinator: Any, investigator: Any, statistician: Any) -> Any:
    list_in_use(statistician)
    return randomised_on(timezone.localdate() - timedelta(days=15), site, coordinator, investigator)


def test_the_registry_knows_the_form() -> None:
    form = registry.visit_form("ulcers")
    assert form is not None and form.model is DigitalUlcers
    assert str(form.label) == "Digital ulcers"
    assert registry.visit_form_labels()["ulcers"] == "Digital ulcers"


def test_the_roles_that_enter_it_hold_its_permissions(site: Any, coordinator: Any, user_with_role: Any) -> None:
    monitor = user_with_role(Role.MONITOR, username="monitor")
    wanted = {"registry_app.add_digitalulcers", "registry_app.change_digitalulcers"}
    assert wanted <= ROLE_PERMISSIONS[Role.COORDINATOR]
    assert wanted <= ROLE_PERMISSIONS[Role.INVESTIGATOR]
    assert not wanted & ROLE_PERMISSIONS[Role.MONITOR]
    held = set(Group.objects.get(name=group_name(Role.COORDINATOR)).permissions.values_list("codename", flat=True))
    assert {"add_digitalulcers", "change_digitalulcers"} <= held
    assert user_can(coordinator, "registry_app.change_digitalulcers", site)
    assert not user_can(monitor, "registry_app.change_digitalulcers", site)


def test_the_visits_it_names_require_it_and_the_others_do_not(participant: Any) -> None:
    rows = dict(RequiredForm.objects.filter(visit__participant=participant, form="ulcers").values_list(
        "visit__code", "status"
    ))  # fmt: skip
    assert rows == {"W2": "required", "W24": "required"}


def test_its_page_saves_it_with_history_and_marks_it_entered(participant: Any, coordinator: Any) -> None:
    w2 = participant.visits.get(code="W2")
    services.visit_record_done(visit=w2, by=coordinator, done_on=timezone.localdate())
    client = Client()
    client.force_login(coordinator)
    url = f"/visits/{w2.pk}/forms/ulcers/"
    page = client.get(url)
    assert page.status_code == 200
    assert "active digital ulcers" in page.content.decode().lower()
    schedule = client.get(f"/visits/participants/{participant.screening_number}/").content.decode()
    assert 'data-form="ulcers"' in schedule and url in schedule
    refused = client.post(url, {"complete": "1", "active_ulcers": ""})
    assert refused.status_code == 200 and not DigitalUlcers.objects.exists()
    saved = client.post(url, {"complete": "1", "active_ulcers": "2"})
    assert saved.status_code == 302
    record = DigitalUlcers.objects.get(visit=w2)
    assert record.active_ulcers == 2 and record.created_by == coordinator
    assert record.history.count() == 1
    assert RequiredForm.objects.get(visit=w2, form="ulcers").status == RequiredForm.Status.ENTERED


def test_the_monitoring_plan_verifies_it(participant: Any) -> None:
    assert DigitalUlcers in sdv_forms()
    assert "registry_app.digitalulcers" in sdv_full()
    assert sdv_required(participant.pk, "registry_app.digitalulcers")


def test_the_exports_and_the_dictionary_carry_it(site: Any) -> None:
    assert "ULCERS" in [d.key for d in datasets()]
    ulcers = dataset("ULCERS")
    assert ulcers.model is DigitalUlcers
    assert ulcers.visits == ("W2", "W24")
    assert "active_ulcers" in [v.name for v in ulcers.variables]
    lines = [e for e in entries(ExportScope(site_ids=(site.pk,))) if e.dataset == "ULCERS"]
    assert "active_ulcers" in [line.variable for line in lines]
    assert {line.visits for line in lines} == {"W2 W24"}


def test_makemigrations_writes_the_protection_of_its_history_table(settings: Any, db: Any) -> None:
    settings.MIGRATION_MODULES = {"registry_app": "tests.registry_app.not_migrated_yet"}
    out = StringIO()
    call_command("makemigrations", "registry_app", dry_run=True, verbosity=3, stdout=out)
    written = out.getvalue()
    assert "migrations.CreateModel(" in written and "name='HistoricalDigitalUlcers'" in written
    assert "ProtectAppendOnly(" in written and "model_name='historicaldigitalulcers'" in written


@pytest.mark.django_db(transaction=True)
def test_its_history_is_append_only_without_a_hand_edit(
    site: Any, coordinator: Any, investigator: Any, statistician: Any
) -> None:
    list_in_use(statistician)
    participant = randomised_on(timezone.localdate() - timedelta(days=15), site, coordinator, investigator)
    w2 = participant.visits.get(code="W2")
    services.visit_record_done(visit=w2, by=coordinator, done_on=timezone.localdate())
    DigitalUlcers(visit=w2, site=w2.site, active_ulcers=1).save(by=coordinator)
    table = DigitalUlcers.history.model._meta.db_table
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET active_ulcers = 9")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table}")
