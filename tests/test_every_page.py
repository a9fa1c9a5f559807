"""Every page, opened by every role on realistic data, answers without a server error (and anonymous users
are sent to the login page). The URL configuration is walked, so pages added later are covered too."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from exports.scope import ExportScope
from exports.services import export_request, export_run
from randomization.models import AllocationList
from reminders.models import Reminder
from tests.factories import make_user
from tests.randomization.factories import list_in_use
from tests.randomization.test_blinding import concrete_paths
from tests.visits.test_schedule import randomised_on
from trial_site.roles import Role
from visits import services as visit_services


def _an_export(site: Any) -> Any:
    """A data manager's export in the log, so its job, status and download pages are walked too."""
    data_manager = make_user("walker-exporter", role=Role.DATA_MANAGER, site=site)
    scope = ExportScope(site_ids=(site.pk,))
    job = export_request(user=data_manager, kind="odm", scope=scope)
    return export_run(job.pk)


@pytest.fixture
def paths(site: Any, coordinator: Any, investigator: Any, statistician: Any, settings: Any, tmp_path: Any) -> list[str]:
    settings.EXPORT_ROOT = tmp_path / "exports"
    list_in_use(statistician)
    participant = randomised_on(timezone.localdate() - timedelta(days=40), site, coordinator, investigator)
    d1 = participant.visits.get(code="D1")
    visit_services.visit_record_done(visit=d1, by=coordinator, done_on=d1.target_date)
    values = {
        "number": participant.screening_number,
        "code": "DHK",
        "site_code": "DHK",
        "version": "1.0",
        "slug": "labs",
        "pk": str(AllocationList.objects.get().pk),
        "visits:pk": str(d1.pk),
        "visits:code": "labs",
        "reminders:pk": str(Reminder.objects.filter(participant=participant, status="planned").first().pk),
        "job_id": str(_an_export(site).pk),
    }
    return concrete_paths(values)


@pytest.mark.parametrize("role", list(Role), ids=[role.value for role in Role])
def test_no_page_fails_for_any_role(paths: list[str], user_with_role: Any, role: Role) -> None:
    client = Client()
    client.force_login(user_with_role(role, username=f"walker-{role.value}"))
    statuses = {path: client.get(path).status_code for path in paths}
    failing = {path: status for path, status in statuses.items() if status >= 500}
    assert not failing, failing
    assert sum(status == 200 for status in statuses.values()) >= 5, statuses


def test_anonymous_users_are_sent_to_the_login_page(paths: list[str]) -> None:
    client = Client()
    for path in paths:
        response = client.get(path)
        if path in {"/accounts/login/", "/accounts/set-password/"}:  # the one-time password link's page too
            assert response.status_code == 200
            continue
        assert response.status_code in {302, 405}, (path, response.status_code)
        if response.status_code == 302:
            assert response["Location"].startswith("/accounts/login/"), path


GARBAGE = {
    "action": "nonsense", "done_on": "not a date", "reason": "x" * 5000, "planned_date": "2026-13-45",
    "hb_g_dl": "eighty", "name": "", "csv_file": "", "complete": "maybe", "token": "abc", "medication": "99999",
    "stopped_on": "yesterday", "language": "xx", "screening_date": "1900-01-01", "mobile_phone": "++",
}  # fmt: skip


EDGES = {
    "hb_g_dl": "nan", "wbc": "1e309", "anc": "-1", "platelets": "inf", "creatinine": "-5", "alt": "1e308",
    "alt_uln": "0", "date_of_birth": "0001-01-01", "first_non_raynaud_date": "9999-12-31",
    "screening_date": "0001-01-01",
    "slots_per_stratum": "99999999999999", "block_sizes": "0,-2", "weight_kg": "nan", "height_cm": "0",
    "dispensed": "-3", "returned": "99999999", "tablets_per_week": "nan", "done_on": "0001-01-01",
    "planned_date": "9999-12-31", "on": "0001-01-01", "last_dose": "0001-01-01", "ended_on": "0001-01-01",
    "start_date": "0001-01-01", "stop_date": "9999-12-31", "steroid_daily_mg": "nan", "steroid_dose_mg_day": "inf",
    "consent-consented_at": "0001-01-01T00:00", "assessed_on": "0001-01-01", "sampled_on": "9999-12-31",
    "patient_global": "nan", "swollen_28": "-1", "fvc_percent": "1e400", "mycophenolate_g_day": "nan",
}  # fmt: skip


POSTS = (
    {},
    GARBAGE,
    EDGES,
    {**EDGES, "action": "add"},
    {**EDGES, "action": "done"},
    {**EDGES, "action": "generate", "name": "x"},
    {**EDGES, "action": "end", "reason": "lost"},
)


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.INVESTIGATOR, Role.STATISTICIAN, Role.BLINDED_ASSESSOR])
def test_empty_or_garbage_posts_never_fail_with_a_server_error(
    paths: list[str], user_with_role: Any, role: Role
) -> None:
    client = Client()
    client.force_login(user_with_role(role, username=f"poster-{role.value}"))
    for path in [path for path in paths if path != "/accounts/logout/"]:  # stay logged in throughout
        for data in POSTS:
            status = client.post(path, data).status_code
            assert status < 500, (path, data, status)
