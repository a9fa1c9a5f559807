"""A form that creates something, sent again and again over HTTP against gunicorn's worker processes on PostgreSQL
(a double click, an impatient user, a resend of an old page): it creates one record with one history row, the
repeats are taken to what the first created, and no answer is a server error."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from django.utils import timezone

from screening.models import Participant
from tests.http.conftest import live_gunicorn, start_gunicorn  # noqa: F401  (fixtures of the HTTP tests)
from tests.http.server import GunicornServer, StaffSession, fire_together, html_form
from tests.visits.test_concurrent_edits import CRF_FORM, VITALS, d1, rahima_and_karim, text_of  # noqa: F401
from trial_site.submission import FIELD
from visits.crfs import VitalSigns
from visits.models import ConcomitantMedication, EndOfStudy, Visit

TIMES = [2, 5, 20]


def burst(session: StaffSession, path: str, body: dict[str, Any], times: int) -> list[requests.Response]:
    """``body`` posted ``times`` times at the same instant from tabs of one browser, then once more after."""
    answers = fire_together(lambda: session.twin().post(path, body), n_threads=times)
    answers.append(session.post(path, body))
    assert all(isinstance(answer, requests.Response) for answer in answers), answers
    return answers  # type: ignore[return-value]


def check_taken_to_the_first(answers: list[requests.Response]) -> None:
    """No server error; every answer is a redirect to what the first created."""
    statuses = [answer.status_code for answer in answers]
    assert 500 not in statuses and set(statuses) == {302}, [(a.status_code, a.text[:2000]) for a in answers]
    assert len({answer.headers["Location"] for answer in answers}) == 1


def create_body(page: requests.Response, form: str, button: str | None = None, **values: str) -> dict[str, Any]:
    found = html_form(page.text, form, button=button)
    assert FIELD in found.fields, f"the form that creates carries no {FIELD}"
    return {**found.fields, **values}


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("times", TIMES)
def test_a_new_visit_form_sent_many_times_at_once_is_saved_once(
    live_gunicorn: GunicornServer,  # noqa: F811
    d1: Visit,  # noqa: F811
    coordinator: Any,
    times: int,
) -> None:
    session = live_gunicorn.login(coordinator)
    url = f"/visits/{d1.pk}/forms/vitals/"
    body = create_body(session.get(url), CRF_FORM, "1", **{name: str(value) for name, value in VITALS.items()})

    answers = burst(session, url, body, times)

    check_taken_to_the_first(answers)
    assert answers[0].headers["Location"] == f"/visits/{d1.pk}/"  # back to the visit page, where its forms are
    vitals = VitalSigns.objects.get()
    assert vitals.weight_kg == 60.0 and vitals.status == "complete" and vitals.history.count() == 1
    assert d1.required_forms.get(form="vitals").status == "entered"


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_the_new_form_sent_again_without_its_key_is_a_conflict_or_nothing_never_a_server_error(
    live_gunicorn: GunicornServer,  # noqa: F811
    d1: Visit,  # noqa: F811
    coordinator: Any,
) -> None:
    """An old page of the new form (no submission key, no version): the same entries again write nothing; other
    entries are refused as a conflict with the saved form, which is not overwritten."""
    session = live_gunicorn.login(coordinator)
    url = f"/visits/{d1.pk}/forms/vitals/"
    body = create_body(session.get(url), CRF_FORM, "1", **{name: str(value) for name, value in VITALS.items()})
    assert session.post(url, body).status_code == 302
    without_key = {name: value for name, value in body.items() if name != FIELD}

    same = session.post(url, without_key)
    assert same.status_code == 302
    other = session.post(url, {**without_key, "weight_kg": "65"})
    assert other.status_code == 409
    said = text_of(other.text, "//main//*[contains(@class, 'alert')]")
    assert "Not saved: Coordinator changed this record after you opened it" in said
    vitals = VitalSigns.objects.get()
    assert vitals.weight_kg == 60.0 and vitals.history.count() == 1


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_two_coordinators_saving_the_same_new_form_at_once_get_one_record_and_a_conflict(
    live_gunicorn: GunicornServer,  # noqa: F811
    d1: Visit,  # noqa: F811
    rahima_and_karim: tuple[Any, Any],  # noqa: F811
) -> None:
    """Two pages of the new form, two submission keys, saved at the same instant: the unique form per visit is
    not a server error; one is saved, the other is shown the first one's values beside its own."""
    url = f"/visits/{d1.pk}/forms/vitals/"
    sessions = [live_gunicorn.login(user) for user in rahima_and_karim]
    values = {name: str(value) for name, value in VITALS.items()}
    bodies = [
        create_body(session.get(url), CRF_FORM, "1", **{**values, "heart_rate": rate})
        for session, rate in zip(sessions, ("70", "90"), strict=True)
    ]
    answers = fire_together(
        [lambda s=session, b=body: s.post(url, b) for session, body in zip(sessions, bodies, strict=True)]
    )
    assert sorted(getattr(answer, "status_code", 0) for answer in answers) == [302, 409], answers
    vitals = VitalSigns.objects.get()
    assert vitals.history.count() == 1 and vitals.heart_rate in {70.0, 90.0}
    refused = next(answer for answer in answers if answer.status_code == 409)
    assert text_of(refused.text, "//*[@id='edit-conflict']")


@dataclass(frozen=True)
class Creation:
    """A page with a form that creates something, what to enter, and how many of the things exist."""

    path: Callable[[Participant], str]
    form: str
    values: Callable[[], dict[str, str]]
    count: Callable[[Participant], int]


def form_posting_to(ending: str) -> str:
    """The form whose action ends with ``ending`` (a view of its own: ``unscheduled/``)."""
    return f"//form[substring(@action, string-length(@action) - {len(ending) - 1}) = '{ending}']"


def today(days: int = 0) -> str:
    return (timezone.localdate() + timedelta(days=days)).isoformat()


CREATIONS = {
    "unscheduled visit": Creation(
        path=lambda p: f"/visits/participants/{p.screening_number}/",
        form=form_posting_to("/unscheduled/"),
        values=lambda: {"on": today(), "reason": "flare of Raynaud's"},
        count=lambda p: p.visits.filter(code="UNS").count(),
    ),
    "safety follow-up": Creation(
        path=lambda p: f"/visits/participants/{p.screening_number}/",
        form=form_posting_to("/follow-up/"),
        values=lambda: {"last_dose": today(-1)},
        count=lambda p: p.visits.filter(code="FU").count(),
    ),
    "end of study": Creation(
        path=lambda p: f"/visits/participants/{p.screening_number}/",
        form=form_posting_to("/end/"),
        values=lambda: {"ended_on": today(), "reason": "withdrawn", "details": "moved abroad"},
        count=lambda p: EndOfStudy.objects.filter(participant=p).count(),
    ),
    "medication": Creation(
        path=lambda p: f"/visits/participants/{p.screening_number}/medications/",
        form=form_posting_to("/medications/add/"),
        values=lambda: {
            "drug": "Omeprazole",
            "dose": "20 mg",
            "frequency": "once daily",
            "route": "oral",
            "indication": "reflux",
            "start_date": today(-30),
        },
        count=lambda p: ConcomitantMedication.objects.filter(participant=p).count(),
    ),
}


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("what", list(CREATIONS))
def test_a_creating_form_of_the_schedule_sent_five_times_at_once_creates_once(
    live_gunicorn: GunicornServer,  # noqa: F811
    d1: Visit,  # noqa: F811
    coordinator: Any,
    what: str,
) -> None:
    creation, participant = CREATIONS[what], d1.participant
    session = live_gunicorn.login(coordinator)
    page = session.get(creation.path(participant))
    body = create_body(page, creation.form, **creation.values())
    posts_to = urlsplit(urljoin(page.url, html_form(page.text, creation.form).action)).path

    answers = burst(session, posts_to, body, 5)

    check_taken_to_the_first(answers)
    assert creation.count(participant) == 1


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_medication_stopped_five_times_at_once_is_stopped_once(
    live_gunicorn: GunicornServer,  # noqa: F811
    d1: Visit,  # noqa: F811
    coordinator: Any,
) -> None:
    """Stopping a medication is an edit: the same form sent again changes nothing (no second history row)."""
    from visits.services import medication_add

    participant = d1.participant
    medication = medication_add(
        medication=ConcomitantMedication(
            participant=participant, drug="Omeprazole", dose="20 mg", frequency="once daily", indication="reflux",
            start_date=timezone.localdate() - timedelta(days=30),
        ),
        by=coordinator,
    )  # fmt: skip
    session = live_gunicorn.login(coordinator)
    url = f"/visits/participants/{participant.screening_number}/medications/"
    form = f"//form[.//input[@name='medication'][@value='{medication.pk}']]"
    body = {**html_form(session.get(url).text, form).fields, "stopped_on": today()}
    assert body["opened_version"] == str(medication.history.get().history_id)

    answers = burst(session, f"{url}stop/", body, 5)

    check_taken_to_the_first(answers)
    medication.refresh_from_db()
    assert medication.stop_date == timezone.localdate() and medication.history.count() == 2
