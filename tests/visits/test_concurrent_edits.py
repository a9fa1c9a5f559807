"""Two coordinators edit the same visit form over HTTP, against gunicorn's worker processes on PostgreSQL: the
second save, whether it comes after the first or at the same instant, is refused with a message that names the
first editor, keeps the second editor's entries and shows the first one's values; nothing is lost, and every
history row is attributed to the person who entered its values, with their reason."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import pairwise
from typing import Any

import lxml.html
import pytest
import requests
from django.utils import timezone

from tests.faults.support import WriteHold, backends_waiting_for_locks, wait_for
from tests.http.conftest import live_gunicorn, start_gunicorn  # noqa: F401  (fixtures of the HTTP tests)
from tests.http.server import WAIT_SECONDS, GunicornServer, StaffSession, fire_together, form_fields
from tests.monitoring.casebook import visit_records
from tests.randomization.factories import list_in_use
from tests.visits.test_schedule import randomised_on
from trial_site.audit.versions import data_fields
from trial_site.roles import Role
from visits import services
from visits.crf_services import visit_form_save
from visits.crfs import VitalSigns
from visits.invariants import visit_tallies_hold
from visits.models import RequiredForm, Visit, VisitProgress

CRF_FORM = "//form[.//button[@name='complete']]"
VITALS = {"weight_kg": 60.0, "height_cm": 160.0, "systolic_bp": 120.0, "diastolic_bp": 80.0, "heart_rate": 72.0,
          "temperature_c": 36.8}  # fmt: skip


@dataclass(frozen=True)
class Editor:
    """One member of staff's edit: the fields they change (form field → value) and their reason (or none)."""

    name: str  # as the application names them (first name)
    session: StaffSession
    changes: dict[str, str]
    reason: str = ""
    extra: dict[str, str] = field(default_factory=dict)  # sent as well, e.g. the button
    form: str = ""  # the XPath of the editor's form, when not the one of the race

    def body(self) -> dict[str, str]:
        return {**self.changes, **({"reason_for_change": self.reason} if self.reason else {}), **self.extra}


@dataclass(frozen=True)
class Outcome:
    saved: Editor
    refused: Editor
    refused_page: requests.Response


def race(url: str, form: str, first: Editor, second: Editor, *, together: bool) -> Outcome:
    """Both open the edit page; then ``first`` saves and ``second`` saves (or both at the same instant). Checks that
    exactly one was saved (302) and the other refused (409); returns which."""
    pages = {editor.name: editor.session.get(url) for editor in (first, second)}
    assert all(page.status_code == 200 for page in pages.values()), pages

    def save(editor: Editor) -> requests.Response:
        return editor.session.submit(pages[editor.name], editor.form or form, **editor.body())

    both = [lambda: save(first), lambda: save(second)]
    responses = fire_together(both) if together else [job() for job in both]
    assert all(isinstance(r, requests.Response) for r in responses), responses
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [302, 409], [(r.status_code, r.text[:3000]) for r in responses]
    refused_at = next(i for i, r in enumerate(responses) if r.status_code == 409)
    saved, refused = (second, first) if refused_at == 0 else (first, second)
    if not together:
        assert (saved, refused) == (first, second)  # the one that came second is refused
    return Outcome(saved=saved, refused=refused, refused_page=responses[refused_at])


def text_of(html: str, xpath: str) -> str:
    found = lxml.html.fromstring(html).xpath(xpath)
    return " ".join(" ".join(element.text_content().split()) for element in found)


def check_refusal(outcome: Outcome, form: str, shown: Callable[[str], str]) -> None:
    """The refused editor is told who saved meanwhile, sees their values beside the own, and keeps the own entries
    in the form, which now carries the new version; ``shown(value)`` is how a value reads in the panel."""
    page, saved, refused = outcome.refused_page, outcome.saved, outcome.refused
    said = text_of(page.text, "//main//*[contains(@class, 'alert')]")
    assert f"Not saved: {saved.name} changed this record after you opened it" in said, said
    panel = text_of(page.text, "//*[@id='edit-conflict']")
    for name, value in saved.changes.items():
        assert shown(value) in panel and saved.name in panel, (name, panel)
    for value in refused.changes.values():
        assert shown(value) in panel, panel
    fields = form_fields(page.text, refused.form or form)
    for name, value in refused.changes.items():
        assert same(fields[name], value), (name, fields[name], value)
    for name, value in saved.changes.items():
        if name in fields and name not in refused.changes:  # the values saved now (the own entries on top)
            assert same(fields[name], value), (name, fields[name], value)
    if refused.reason:
        assert fields["reason_for_change"] == refused.reason
    assert fields["opened_version"]


def same(shown: Any, value: str) -> bool:
    if isinstance(shown, str):
        shown = shown.removeprefix("\n")  # a textarea's first line break is markup, not a value (HTML spec)
    try:
        return float(shown) == float(value)
    except (TypeError, ValueError):
        return shown == value


def save_again(outcome: Outcome, form: str) -> None:
    """The refused editor saves the form shown again, as it is: it applies their changes in one step."""
    refused = outcome.refused
    again = refused.session.submit(outcome.refused_page, refused.form or form, **refused.extra)
    assert again.status_code == 302, again.text[:3000]


def changes_in_history(record: Any) -> list[tuple[str, str, set[str]]]:
    """Each history row after the first: who saved it, their reason, and the data fields it changed."""
    fields = [f for f in data_fields(type(record)) if f.name != "status"]
    rows = list(type(record).history.filter(id=record.pk).select_related("history_user").order_by("history_id"))
    return [
        (
            row.history_user.get_full_name(),
            row.history_change_reason or "",
            {f.name for f in fields if getattr(row, f.attname) != getattr(before, f.attname)},
        )
        for before, row in pairwise(rows)
    ]


def check_nothing_lost(record: Any, outcome: Outcome) -> None:
    """Both editors' values are saved, and the history attributes each to the person who entered it."""
    record.refresh_from_db()
    for editor in (outcome.saved, outcome.refused):
        for name, value in editor.changes.items():
            assert same(getattr(record, name), value), (name, getattr(record, name), value)
    assert changes_in_history(record) == [
        (outcome.saved.name, outcome.saved.reason, set(outcome.saved.changes)),
        (outcome.refused.name, outcome.refused.reason, set(outcome.refused.changes)),
    ]


# --- the visit case report form ---------------------------------------------------------------------------------


@pytest.fixture
def d1(site: Any, coordinator: Any, investigator: Any, statistician: Any) -> Visit:
    """Baseline (D1), done, of a participant randomised 10 days ago."""
    list_in_use(statistician)
    participant = randomised_on(timezone.localdate() - timedelta(days=10), site, coordinator, investigator)
    visit = participant.visits.get(code="D1")
    return services.visit_record_done(visit=visit, by=coordinator, done_on=visit.target_date)


@pytest.fixture
def rahima_and_karim(user_with_role: Any) -> tuple[Any, Any]:
    return user_with_role(Role.COORDINATOR, username="rahima"), user_with_role(Role.COORDINATOR, username="karim")


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("complete", [True, False], ids=["complete form", "draft form"])
@pytest.mark.parametrize("order", ["rahima first", "karim first", "at the same instant"])
def test_two_coordinators_editing_the_vital_signs_lose_nothing(
    live_gunicorn: GunicornServer,  # noqa: F811
    d1: Visit,
    rahima_and_karim: tuple[Any, Any],
    complete: bool,
    order: str,
) -> None:
    rahima, karim = rahima_and_karim
    vitals = VitalSigns(visit=d1, **VITALS)
    visit_form_save(record=vitals, by=rahima, complete=complete)
    button = {"complete": "1" if complete else "0"}
    weight = Editor(
        "Rahima", live_gunicorn.login(rahima), {"weight_kg": "70"}, "re-weighed" if complete else "", button
    )
    heart = Editor(
        "Karim", live_gunicorn.login(karim), {"heart_rate": "88"}, "heart rate counted again" if complete else "",
        button,
    )  # fmt: skip
    first, second = (heart, weight) if order == "karim first" else (weight, heart)

    outcome = race(f"/visits/{d1.pk}/forms/vitals/", CRF_FORM, first, second, together=order == "at the same instant")

    check_refusal(outcome, CRF_FORM, shown=lambda value: f"{float(value)}")
    vitals.refresh_from_db()
    for name, value in outcome.saved.changes.items():
        assert getattr(vitals, name) == float(value)  # what the first saved is still there
    for name in outcome.refused.changes:
        assert getattr(vitals, name) == VITALS[name]  # and nothing of the refused save was written
    assert vitals.history.count() == 2

    save_again(outcome, CRF_FORM)
    check_nothing_lost(vitals, outcome)
    assert (vitals.weight_kg, vitals.heart_rate) == (70.0, 88.0)
    assert vitals.status == ("complete" if complete else "draft")


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_form_saved_by_someone_else_after_the_page_opened_empty_is_a_conflict_not_an_overwrite(
    live_gunicorn: GunicornServer,  # noqa: F811
    d1: Visit,
    rahima_and_karim: tuple[Any, Any],
) -> None:
    """Both open the new vital-signs form; Rahima saves it first. Karim's save (another page, another submission
    key) would have overwritten her form: it is refused, naming her, with his entries kept on top of hers."""
    rahima, karim = rahima_and_karim
    url = f"/visits/{d1.pk}/forms/vitals/"
    as_rahima, as_karim = live_gunicorn.login(rahima), live_gunicorn.login(karim)
    her_page, his_page = as_rahima.get(url), as_karim.get(url)
    assert "opened_version" not in form_fields(his_page.text, CRF_FORM)  # a new form: nothing to be a version of
    hers = {name: str(value) for name, value in VITALS.items()}
    assert as_rahima.submit(her_page, CRF_FORM, button="1", **hers).status_code == 302

    refused = as_karim.submit(his_page, CRF_FORM, button="1", **{**hers, "weight_kg": "61", "heart_rate": "90"})

    assert refused.status_code == 409
    said = text_of(refused.text, "//main//*[contains(@class, 'alert')]")
    assert "Not saved: Rahima changed this record after you opened it" in said
    fields = form_fields(refused.text, CRF_FORM)
    assert (float(fields["weight_kg"]), float(fields["heart_rate"])) == (61.0, 90.0)
    assert float(fields["height_cm"]) == 160.0 and fields["opened_version"]
    vitals = VitalSigns.objects.get()
    assert (vitals.weight_kg, vitals.heart_rate, vitals.history.count()) == (60.0, 72.0, 1)

    again = as_karim.submit(refused, CRF_FORM, button="1", reason_for_change="measured again")
    assert again.status_code == 302
    vitals.refresh_from_db()
    assert (vitals.weight_kg, vitals.heart_rate) == (61.0, 90.0)
    assert changes_in_history(vitals) == [("Karim", "measured again", {"weight_kg", "heart_rate"})]


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_the_edit_page_carries_the_version_it_was_opened_on(
    live_gunicorn: GunicornServer,  # noqa: F811
    d1: Visit,
    coordinator: Any,
) -> None:
    vitals = VitalSigns(visit=d1, **VITALS)
    visit_form_save(record=vitals, by=coordinator, complete=True)
    page = live_gunicorn.login(coordinator).get(f"/visits/{d1.pk}/forms/vitals/")
    hidden = lxml.html.fromstring(page.text).xpath(f"{CRF_FORM}//input[@type='hidden'][@name='opened_version']")
    assert [element.get("value") for element in hidden] == [str(vitals.history.latest("history_id").history_id)]
    assert "submission_key" not in form_fields(page.text, CRF_FORM)  # an edit creates nothing


# --- the visit itself ------------------------------------------------------------------------------------------


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_visit_rescheduled_meanwhile_is_not_overwritten_by_a_page_opened_before(
    live_gunicorn: GunicornServer,  # noqa: F811
    site: Any,
    coordinator: Any,
    investigator: Any,
    statistician: Any,
    rahima_and_karim: tuple[Any, Any],
) -> None:
    list_in_use(statistician)
    participant = randomised_on(timezone.localdate(), site, coordinator, investigator)
    w4 = participant.visits.get(code="W4")
    rahima, karim = rahima_and_karim
    form = f"//form[@action='/visits/{w4.pk}/reschedule/']"
    later, earlier = (w4.latest.isoformat(), w4.earliest.isoformat())
    outcome = race(
        f"/visits/{w4.pk}/",
        form,
        Editor("Rahima", live_gunicorn.login(rahima), {"planned_date": later}, extra={"reason": "patient travels"}),
        Editor("Karim", live_gunicorn.login(karim), {"planned_date": earlier}, extra={"reason": "clinic closed"}),
        together=False,
    )
    check_refusal(outcome, form, shown=str)
    w4.refresh_from_db()
    assert w4.planned_date.isoformat() == later
    save_again(outcome, form)
    w4.refresh_from_db()
    assert w4.planned_date.isoformat() == earlier
    assert [(who, reason) for who, reason, _changed in changes_in_history(w4)] == [
        ("Rahima", "patient travels"),
        ("Karim", "clinic closed"),
    ]


# --- the visit's state, when its last forms are saved at once ----------------------------------------------------


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_the_last_two_forms_of_a_visit_saved_at_once_leave_the_visit_complete(
    live_gunicorn: GunicornServer,  # noqa: F811
    d1: Visit,
    rahima_and_karim: tuple[Any, Any],
    coordinator: Any,
    investigator: Any,
    assessor: Any,
) -> None:
    """Every form of Day 1 is entered but two: Rahima saves the vital signs and Karim the inflammation markers,
    complete, at the same moment. The record status dashboard then shows the visit complete, and the reports count
    both forms entered. Before, each save counted the other's form as still empty, and the visit stayed "partly
    entered" with every form complete.

    The first save is held just before it writes the visit's state (a trigger), until the second has come as far
    as it can: its own state write, or (now) its turn at the visit's state."""
    rahima, karim = rahima_and_karim
    last_two = {"vitals": {name: str(value) for name, value in VITALS.items()},
                "inflammation": {"esr_mm_h": "20", "crp_mg_l": "4"}}  # fmt: skip
    required = set(RequiredForm.objects.filter(visit=d1, status="required").values_list("form", flat=True))
    assert set(last_two) <= required
    records = visit_records(d1, {"coordinator": coordinator, "investigator": investigator, "assessor": assessor})
    for code in sorted(required - set(last_two)):
        record, by = records[code]()
        record.unusual_values_confirmed = True
        visit_form_save(record=record, by=by, complete=True)
    assert VisitProgress.objects.get(visit=d1).forms == VisitProgress.Forms.DRAFT

    sessions = {"vitals": live_gunicorn.login(rahima), "inflammation": live_gunicorn.login(karim)}
    pages = {code: session.get(f"/visits/{d1.pk}/forms/{code}/") for code, session in sessions.items()}
    assert {page.status_code for page in pages.values()} == {200}

    def save(code: str) -> requests.Response:
        return sessions[code].submit(pages[code], CRF_FORM, button="1", **last_two[code])

    with WriteHold("visits_visitprogress", timing="BEFORE INSERT") as hold, ThreadPoolExecutor(2) as pool:
        with hold.closed():
            first = pool.submit(save, "vitals")
            wait_for(hold.waiting_backend, "the vital signs' save, held before it writes the visit's state")
            second = pool.submit(save, "inflammation")
            wait_for(lambda: backends_waiting_for_locks() == 2, "the inflammation markers' save, waiting too")
        responses = [first.result(WAIT_SECONDS), second.result(WAIT_SECONDS)]

    assert [response.status_code for response in responses] == [302, 302]
    assert set(RequiredForm.objects.filter(visit=d1).values_list("status", flat=True)) <= {"entered", "not_required"}
    assert VisitProgress.objects.get(visit=d1).forms == VisitProgress.Forms.COMPLETE
    assert visit_tallies_hold(repair=False).holds  # the reports count both forms entered, once each
