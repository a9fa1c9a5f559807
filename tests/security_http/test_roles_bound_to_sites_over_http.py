"""Issue 18, finding 2, replayed as the testers found it: over real HTTP against gunicorn's worker processes on
PostgreSQL. A role held at one site counted at every site in exports, safety and the logs:

- a data manager at site A who is the blinded assessor at site B exported B's allocation with its arms;
- a statistician at A who is the blinded assessor at B had B's arms in the analysis dataset;
- a coordinator at A who is the blinded assessor at B saw B in the safety summary by arm and B's laboratory alerts
  ("hold baricitinib" for B's participants);
- the access log and the export log showed every site.

Now each site's data are read with the role held at that site. The matrix of every pair of roles is in
``test_roles_bound_to_sites.py``; these are the examples over HTTP.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from exports.models import ExportJob
from exports.scope import ExportScope
from exports.services import export_request, export_run
from safety import services as safety_services
from safety.models import AdverseEvent, LabAlert
from screening.models import Participant
from tests.factories import make_user
from tests.http.conftest import live_gunicorn, start_gunicorn  # noqa: F401  (fixtures of the HTTP tests)
from tests.http.server import GunicornServer
from tests.randomization.factories import list_in_use
from tests.visits.test_schedule import randomised_on
from trial_site.roles import Role
from trial_site.services import access_event_record, membership_grant, system_user
from visits import services as visit_services
from visits.crf_services import visit_form_save
from visits.crfs import LabPanel

pytestmark = [pytest.mark.needs_postgres, pytest.mark.django_db(transaction=True)]


@dataclass
class TwoSites:
    a: Any
    b: Any
    number_a: str
    number_b: str
    b_staff: dict[Role, Any]


def _randomised_with_alert_and_event(site: Any, coordinator: Any, investigator: Any, event: str) -> Participant:
    participant = randomised_on(timezone.localdate() - timedelta(days=40), site, coordinator, investigator)
    d1 = participant.visits.get(code="D1")
    d1 = visit_services.visit_record_done(visit=d1, by=coordinator, done_on=d1.target_date)
    labs = LabPanel(visit=d1, hb_g_dl=7.2, wbc=6.0, anc=0.9, alc=0.4, platelets=240.0, alt=20.0, alt_uln=40.0,
                    creatinine=0.8, creatinine_unit="mg/dL", unusual_values_confirmed=True)  # fmt: skip
    visit_form_save(record=labs, by=coordinator, complete=True)
    safety_services.lab_alerts_check(panel_id=labs.pk)
    safety_services.adverse_event_record(
        event=AdverseEvent(participant=participant, description=event, onset_date=timezone.localdate(), grade=2,
                           relationship="possible", action_taken="none", outcome="recovering"),
        by=coordinator,
    )  # fmt: skip
    return participant


@pytest.fixture
def two_sites(site: Any, other_site: Any, statistician: Any) -> TwoSites:
    """Site A (DHK) and site B (CTG), each with a randomised participant, a laboratory alert and an adverse event."""
    list_in_use(statistician)
    staff = {
        (code, role): make_user(f"{code.lower()}-{role.value}", role=role, site=at)
        for code, at in (("DHK", site), ("CTG", other_site))
        for role in (Role.COORDINATOR, Role.INVESTIGATOR, Role.DATA_MANAGER)
    }
    a = _randomised_with_alert_and_event(site, staff["DHK", Role.COORDINATOR], staff["DHK", Role.INVESTIGATOR], "Rash")
    b = _randomised_with_alert_and_event(
        other_site, staff["CTG", Role.COORDINATOR], staff["CTG", Role.INVESTIGATOR], "Cellulitis of the left leg"
    )
    assert LabAlert.objects.filter(participant=b).exists()
    b_staff = {role: staff["CTG", role] for role in (Role.COORDINATOR, Role.INVESTIGATOR, Role.DATA_MANAGER)}
    return TwoSites(site, other_site, a.screening_number, b.screening_number, b_staff)


def _two_roles(two_sites: TwoSites, at_a: Role, at_b: Role) -> Any:
    user = make_user(f"{at_a.value}-at-a", role=at_a, site=two_sites.a)
    membership_grant(user=user, site=two_sites.b, role=at_b, by=system_user())
    return user


def _export_form(kind: str, site: Any | None, dataset: str = "") -> dict[str, str]:
    return {"kind": kind, "dataset": dataset, "site": str(site.pk) if site else "", "identified": "deidentified",
            "date_mode": "study_day", "codes": "codes"}  # fmt: skip


def test_a_data_manager_at_a_who_is_blinded_at_b_exports_no_allocation_of_b(
    live_gunicorn: GunicornServer,  # noqa: F811
    two_sites: TwoSites,
) -> None:
    user = _two_roles(two_sites, Role.DATA_MANAGER, Role.BLINDED_ASSESSOR)
    session = live_gunicorn.login(user)
    centre = session.get("/exports/")
    assert centre.status_code == 200
    assert "DHK — " in centre.text and "CTG — " not in centre.text  # site B is not offered

    refused = session.post("/exports/", _export_form("csv", two_sites.b, "ALLOC"), from_page=centre)
    assert refused.status_code == 400
    assert "is not one of the available choices" in refused.text  # said at the site field
    assert not ExportJob.objects.filter(requested_by=user).exists()

    allocations = session.post("/exports/", _export_form("csv", None, "ALLOC"), from_page="/exports/")
    assert allocations.status_code == 200, allocations.text[:500]
    assert two_sites.number_a in allocations.text and two_sites.number_b not in allocations.text
    assert ExportJob.objects.get(requested_by=user).scope["site_ids"] == [two_sites.a.pk]


def test_a_statistician_at_a_who_is_blinded_at_b_gets_no_arms_of_b_in_the_analysis_dataset(
    live_gunicorn: GunicornServer,  # noqa: F811
    two_sites: TwoSites,
    tmp_path: Path,
) -> None:
    user = _two_roles(two_sites, Role.STATISTICIAN, Role.BLINDED_ASSESSOR)
    session = live_gunicorn.login(user)
    refused = session.post("/exports/", _export_form("analysis", two_sites.b), from_page="/exports/")
    assert refused.status_code == 400
    assert not ExportJob.objects.filter(requested_by=user).exists()

    asked = session.post("/exports/", _export_form("analysis", None), from_page="/exports/")
    assert asked.status_code == 302
    job = ExportJob.objects.get(requested_by=user)
    assert job.scope["site_ids"] == [two_sites.a.pk]
    job.refresh_from_db()
    if job.status == ExportJob.Status.DONE:  # the server's queue ran it: the file as the statistician downloads it
        download = session.get(f"/exports/jobs/{job.pk}/download/")
        assert download.status_code == 200
        archive = zipfile.ZipFile(io.BytesIO(download.content))
    else:  # no worker: written here, as the worker would
        with override_settings(EXPORT_ROOT=tmp_path):
            done = export_run(job.pk)
        archive = zipfile.ZipFile(tmp_path / done.file_path)
    with archive:
        text = "".join(archive.read(name).decode() for name in archive.namelist())
    assert two_sites.number_a in text and two_sites.number_b not in text


def test_a_coordinator_at_a_who_is_blinded_at_b_sees_nothing_of_b_in_safety(
    live_gunicorn: GunicornServer,  # noqa: F811
    two_sites: TwoSites,
) -> None:
    user = _two_roles(two_sites, Role.COORDINATOR, Role.BLINDED_ASSESSOR)
    session = live_gunicorn.login(user)
    summary = session.get("/safety/summary/")
    assert summary.status_code == 200
    # One participant randomised, at A: B's participant is not counted in any arm.
    assert "Cellulitis" not in summary.text
    front = session.get("/safety/")
    assert front.status_code == 200
    assert two_sites.number_a in front.text and two_sites.number_b not in front.text  # B's alerts are not listed
    assert session.get(f"/safety/participants/{two_sites.number_b}/").status_code == 404
    alert_b = LabAlert.objects.filter(participant__screening_number=two_sites.number_b).first()
    acknowledged = session.post(
        f"/safety/alerts/{alert_b.pk}/acknowledge/", {"action_taken": "held"}, from_page="/safety/"
    )
    assert acknowledged.status_code in (403, 404)
    alert_b.refresh_from_db()
    assert alert_b.acknowledged_at is None


def test_the_access_log_and_the_export_log_show_only_the_sites_where_the_reader_may_read_them(
    live_gunicorn: GunicornServer,  # noqa: F811
    two_sites: TwoSites,
    tmp_path: Path,
) -> None:
    access_event_record(kind="login", user=two_sites.b_staff[Role.COORDINATOR], detail="seen-only-at-ctg")
    with override_settings(EXPORT_ROOT=tmp_path):
        b_export = export_request(
            user=two_sites.b_staff[Role.DATA_MANAGER], kind="odm", scope=ExportScope(site_ids=(two_sites.b.pk,))
        )
    monitor = _two_roles(two_sites, Role.MONITOR, Role.COORDINATOR)
    log = live_gunicorn.login(monitor).get("/access-log/")
    assert log.status_code == 200
    assert "seen-only-at-ctg" not in log.text and "ctg-coordinator" not in log.text

    manager = _two_roles(two_sites, Role.DATA_MANAGER, Role.BLINDED_ASSESSOR)
    centre = live_gunicorn.login(manager).get("/exports/")
    assert centre.status_code == 200
    assert b_export.requested_by.get_full_name() not in centre.text
