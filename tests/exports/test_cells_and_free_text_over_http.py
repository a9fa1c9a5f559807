"""Every export kind of the centre downloaded over HTTP (gunicorn's worker processes, PostgreSQL):

- no text cell of any CSV (single files, CSVs inside ZIPs, the data dictionary, the audit trail, the analysis
  datasets) starts with a character a spreadsheet runs as a formula (=, +, -, @, tab, carriage return, also
  after leading spaces), while numbers (negative ones too) stay numbers (#18 finding 4);
- a reason for change naming a patient and the date of a call is in no de-identified export, and is in the
  audit trail and ODM when free text is asked for (#18 finding 6).

The kinds are those the centre's form offers the data manager, so a new kind is covered without a change here.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import lxml.html
import pytest
from django.utils import timezone

from safety import services as safety_services
from safety.models import AdverseEvent
from tests.exports.test_deidentification import files
from tests.http.conftest import live_gunicorn, start_gunicorn  # noqa: F401  (fixtures of the HTTP tests)
from tests.http.server import GunicornServer, StaffSession, form_fields, wait_for
from tests.randomization.factories import list_in_use
from tests.safety.test_safety import event_for
from tests.visits.test_schedule import randomised_on
from trial_site.roles import Role
from visits import services as visit_services
from visits.models import ConcomitantMedication

CENTRE = "/exports/"
FORMULAS = ('=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "@SUM(1)", "-2+3", '  =HYPERLINK("http://z")')
FORMULA_STARTS = "=+-@\t\r"
CALL_NOTE = "Rang Rahima Begum on 2026-11-03, she confirmed the onset"


def export_kinds(session: StaffSession) -> list[str]:
    page = session.get(CENTRE)
    assert page.status_code == 200
    return lxml.html.fromstring(page.text).xpath("//form[@data-testid='export-form']//input[@name='kind']/@value")


def download(session: StaffSession, **choices: str) -> bytes:
    """Ask the centre for an export and return the file (streamed at once, or the job's download when ready)."""
    page = session.get(CENTRE)
    data = {**form_fields(page.text, "//form[@data-testid='export-form']"), **choices}
    if "free_text" in data and not choices.get("free_text"):
        del data["free_text"]
    answer = session.post(CENTRE, data)
    if answer.status_code == 200:
        return answer.content
    assert answer.status_code == 302, (choices, answer.status_code, answer.text[:2000])
    job = answer.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    url = wait_for(
        lambda: session.get(f"/exports/jobs/{job}/status/").json()["download_url"], f"export {choices} ready"
    )
    file = session.get(url)
    assert file.status_code == 200
    return file.content


def csv_cells(name: str, data: bytes) -> list[str]:
    """Every cell of every CSV in the download (inside ZIPs too)."""
    cells = []
    for path, content in files(name, data):
        if path.lower().endswith(".csv"):
            for row in csv.reader(io.StringIO(content.decode("utf-8-sig"))):
                cells.extend(row)
    return cells


def runs_as_formula(cell: str) -> bool:
    first = cell.lstrip(" \n\t\r")[:1]
    if not cell or not (cell[0] in FORMULA_STARTS or (first and first in FORMULA_STARTS)):
        return False
    try:
        float(cell)
    except ValueError:
        return True
    return False  # a number, such as -2.5


@pytest.fixture
def planted(site: Any, coordinator: Any, investigator: Any, statistician: Any) -> Any:
    """A participant whose free text holds formulas (an adverse event's description and its reason for change,
    a concomitant medication) and whose reason for change names a patient and the date of a call."""
    list_in_use(statistician)
    participant = randomised_on(timezone.localdate() - timedelta(days=30), site, coordinator, investigator)
    event = safety_services.adverse_event_record(
        event=event_for(participant, description=FORMULAS[0], treatment_given=FORMULAS[1]), by=coordinator
    )
    event = AdverseEvent.objects.get(pk=event.pk)
    event.description = FORMULAS[2]
    safety_services.adverse_event_change(event=event, by=coordinator, reason=FORMULAS[3])
    event = AdverseEvent.objects.get(pk=event.pk)
    event.grade = 3
    safety_services.adverse_event_change(event=event, by=coordinator, reason=CALL_NOTE)
    visit_services.medication_add(
        medication=ConcomitantMedication(
            participant=participant, drug=FORMULAS[4], dose="-5 mg", frequency="@daily", indication="=1+1",
            start_date=timezone.localdate() - timedelta(days=20),
        ),
        by=coordinator,
    )  # fmt: skip
    return participant


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_no_cell_of_any_export_kind_runs_as_a_formula_and_numbers_stay_numbers(
    live_gunicorn: GunicornServer,  # noqa: F811
    planted: Any,
    user_with_role: Any,
) -> None:
    session = live_gunicorn.login(user_with_role(Role.DATA_MANAGER, username="dana"))
    kinds = export_kinds(session)
    assert {"csv", "analysis", "dictionary_csv", "audit", "full"} <= set(kinds)
    every_cell: list[str] = []
    for kind in kinds:
        for choices in (
            {"identified": "identified", "date_mode": "actual"},
            {"identified": "deidentified", "free_text": "on", "codes": "labels"},
        ):
            cells = csv_cells(kind, download(session, kind=kind, **choices))
            assert not [cell for cell in cells if runs_as_formula(cell)], (kind, choices)
            every_cell += cells
    ae_csv = csv_cells("AE.csv", download(session, kind="csv", dataset="AE", identified="identified"))
    assert not [cell for cell in ae_csv if runs_as_formula(cell)]
    every_cell += ae_csv

    for formula in FORMULAS:  # each was exported, neutralised
        assert "'" + formula in every_cell, formula
    assert "'-2+3" in every_cell and "'=1+1" in every_cell and "'@daily" in every_cell
    assert any(cell.startswith("-") and float(cell) < 0 for cell in every_cell if _number(cell))  # e.g. study days


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_reason_for_change_naming_a_patient_is_in_no_de_identified_export_unless_free_text_is_asked_for(
    live_gunicorn: GunicornServer,  # noqa: F811
    planted: Any,
    user_with_role: Any,
) -> None:
    session = live_gunicorn.login(user_with_role(Role.DATA_MANAGER, username="dana"))
    for kind in export_kinds(session):
        for path, content in files(kind, download(session, kind=kind, identified="deidentified")):
            for form in (b"Rahima Begum", b"2026-11-03"):
                assert form not in content, (kind, path, form)
    for kind in ("audit", "odm"):
        kept = b"".join(content for _path, content in files(kind, download(session, kind=kind, free_text="on")))
        assert CALL_NOTE.encode() in kept, kind
    audit_rows = list(csv.DictReader(io.StringIO(download(session, kind="audit").decode("utf-8"))))
    assert "(free text left out)" in {row["reason"] for row in audit_rows}
