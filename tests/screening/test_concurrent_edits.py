"""Two coordinators edit the same screening data. Over HTTP against gunicorn's worker processes on PostgreSQL: the
second save of a screening form, whether it comes after the first (its page opened before the first was saved) or at
the same instant, is refused (409) with a message naming the first editor, shows the first editor's values beside
the second's entries and keeps those entries; nothing is lost, and every history row is attributed to the person who
entered its values, with their reason. The same for the first entry of a form by two people at once, and (through
Django's test client) for the participant's details."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import lxml.html
import pytest
import requests
from django.test import Client

from screening.models import Participant, ScreeningLabs
from tests.http.conftest import live_gunicorn, start_gunicorn  # noqa: F401  (fixtures of the HTTP tests)
from tests.http.server import GunicornServer, StaffSession, fire_together, form_fields
from tests.screening.factories import register, save_form
from trial_site.audit.versions import data_fields
from trial_site.roles import Role

LABS_FORM = "//main//form[.//input[@name='hb_g_dl']]"
LABS = {"hb_g_dl": 12.1, "wbc": 6.4, "platelets": 250.0}
ORDERS = ["rahima first", "karim first", "at the same instant"]


@dataclass(frozen=True)
class Editor:
    """One coordinator's save: the fields they change (form field → value as typed) and their reason."""

    name: str  # as the application names them
    session: StaffSession
    changes: dict[str, str]
    reason: str

    def body(self) -> dict[str, str]:
        return {**self.changes, "reason_for_change": self.reason}


@dataclass(frozen=True)
class Outcome:
    saved: Editor
    refused: Editor
    page: requests.Response  # what the refused editor was shown


@pytest.fixture
def rahima_and_karim(user_with_role: Any) -> tuple[Any, Any]:
    return user_with_role(Role.COORDINATOR, username="rahima"), user_with_role(Role.COORDINATOR, username="karim")


def race(url: str, editors: tuple[Editor, Editor], order: str) -> Outcome:
    """Both open the page; then one saves and the other (or both at the same instant). Exactly one is saved (302)
    and the other refused (409); when they saved one after the other, the second is the one refused."""
    rahima, karim = editors
    first, second = (karim, rahima) if order == "karim first" else (rahima, karim)
    pages = {editor.name: editor.session.get(url) for editor in editors}
    assert all(page.status_code == 200 for page in pages.values()), pages

    def save(editor: Editor) -> requests.Response:
        return editor.session.submit(pages[editor.name], LABS_FORM, **editor.body())

    jobs = [lambda: save(first), lambda: save(second)]
    responses = fire_together(jobs) if order == "at the same instant" else [job() for job in jobs]
    assert all(isinstance(r, requests.Response) for r in responses), responses
    assert sorted(r.status_code for r in responses) == [302, 409], [(r.status_code, r.text[:2000]) for r in responses]
    refused_at = next(i for i, r in enumerate(responses) if r.status_code == 409)
    saved, refused = (second, first) if refused_at == 0 else (first, second)
    if order != "at the same instant":
        assert refused is second
    return Outcome(saved=saved, refused=refused, page=responses[refused_at])


def words(element: Any) -> str:
    return " ".join(element.text_content().split())


def text_of(html: str, xpath: str) -> str:
    return " ".join(words(element) for element in lxml.html.fromstring(html).xpath(xpath))


def same(shown: Any, value: Any) -> bool:
    try:
        return float(shown) == float(value)
    except (TypeError, ValueError):
        return shown == value


def check_refusal(outcome: Outcome) -> None:
    """The refused editor is told who saved meanwhile, sees that person's values beside their own entries, and the
    form shown again holds their own entries on top of the values saved now, with the new version."""
    page, saved, refused = outcome.page, outcome.saved, outcome.refused
    said = text_of(page.text, "//main//*[@role='alert']")
    assert f"Not saved: {saved.name} changed this record after you opened it" in said, said
    rows = {
        words(row.xpath("th")[0]): [words(cell) for cell in row.xpath("td")]
        for row in lxml.html.fromstring(page.text).xpath("//*[@id='edit-conflict']//tbody/tr")
    }
    for name, value in saved.changes.items():  # theirs: opened, saved since, by whom, your entry
        row = next(cells for label, cells in rows.items() if label.startswith(LABEL[name]))
        assert same(row[1], value) and row[2].startswith(saved.name), (name, row)
    for name, value in refused.changes.items():
        row = next(cells for label, cells in rows.items() if label.startswith(LABEL[name]))
        assert same(row[3], value), (name, row)
    fields = form_fields(page.text, LABS_FORM)
    for name, value in {**saved.changes, **refused.changes}.items():
        assert same(fields[name], value), (name, fields[name], value)
    assert fields["reason_for_change"] == refused.reason
    assert "submission_key" not in fields  # an edit of saved data, not a new record


LABEL = {"hb_g_dl": "Haemoglobin", "wbc": "White cells", "platelets": "Platelets"}


def history_of(record: Any) -> list[tuple[str, str, set[str]]]:
    """Each history row after the first: who saved it, with what reason, and which data fields it changed."""
    fields = data_fields(type(record))
    rows = list(type(record).history.filter(id=record.pk).select_related("history_user").order_by("history_id"))
    return [
        (
            row.history_user.get_full_name(),
            row.history_change_reason or "",
            {f.name for f in fields if getattr(row, f.attname) != getattr(before, f.attname)},
        )
        for before, row in pairwise(rows)
    ]


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("order", ORDERS)
def test_two_coordinators_editing_a_screening_form_lose_nothing(
    live_gunicorn: GunicornServer,  # noqa: F811
    site: Any,
    rahima_and_karim: tuple[Any, Any],
    order: str,
) -> None:
    rahima, karim = rahima_and_karim
    participant = register(site, rahima)
    labs = save_form(ScreeningLabs, participant, rahima, dict(LABS))
    url = f"/screening/{participant.screening_number}/forms/labs/"
    editors = (
        Editor("Rahima", live_gunicorn.login(rahima), {"hb_g_dl": "13.4"}, "lab report re-read"),
        Editor("Karim", live_gunicorn.login(karim), {"wbc": "7.2"}, "white cells typed wrong"),
    )

    outcome = race(url, editors, order)

    check_refusal(outcome)
    labs.refresh_from_db()
    for name, value in outcome.saved.changes.items():
        assert same(getattr(labs, name), value)  # what the first saved is kept
    for name in outcome.refused.changes:
        assert getattr(labs, name) == LABS[name]  # nothing of the refused save was written
    assert labs.history.count() == 2

    again = outcome.refused.session.submit(outcome.page, LABS_FORM)  # the form shown again, as it is
    assert again.status_code == 302, again.text[:2000]
    labs.refresh_from_db()
    assert (labs.hb_g_dl, labs.wbc, labs.platelets) == (13.4, 7.2, 250.0)
    assert history_of(labs) == [
        (outcome.saved.name, outcome.saved.reason, set(outcome.saved.changes)),
        (outcome.refused.name, outcome.refused.reason, set(outcome.refused.changes)),
    ]


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_two_coordinators_entering_the_same_new_screening_form_at_once_lose_nothing(
    live_gunicorn: GunicornServer,  # noqa: F811
    site: Any,
    rahima_and_karim: tuple[Any, Any],
) -> None:
    rahima, karim = rahima_and_karim
    participant = register(site, rahima)
    url = f"/screening/{participant.screening_number}/forms/labs/"
    sessions = {"Rahima": live_gunicorn.login(rahima), "Karim": live_gunicorn.login(karim)}
    pages = {name: session.get(url) for name, session in sessions.items()}
    entries = {"Rahima": {"hb_g_dl": "12.1", "platelets": "250"}, "Karim": {"wbc": "6.4", "platelets": "240"}}
    assert all("submission_key" in form_fields(page.text, LABS_FORM) for page in pages.values())

    responses = fire_together(
        [lambda name=name: sessions[name].submit(pages[name], LABS_FORM, **entries[name]) for name in sessions]
    )

    assert all(isinstance(r, requests.Response) for r in responses), responses
    assert sorted(r.status_code for r in responses) == [302, 409], [r.text[:2000] for r in responses]
    names = list(sessions)
    first, second = names if responses[1].status_code == 409 else names[::-1]
    page = responses[names.index(second)]
    assert f"Not saved: {first} changed this record" in text_of(page.text, "//main//*[@role='alert']")
    assert first in text_of(page.text, "//*[@id='edit-conflict']")
    labs = ScreeningLabs.objects.get(participant=participant)
    assert labs.history.count() == 1 and labs.created_by.get_full_name() == first
    shown = form_fields(page.text, LABS_FORM)
    for name, value in {**entries[first], **entries[second]}.items():  # theirs, with the own entries on top
        assert same(shown[name], value), (name, shown[name])

    again = sessions[second].submit(page, LABS_FORM, reason_for_change="entered at the same time")
    assert again.status_code == 302, again.text[:2000]
    labs.refresh_from_db()
    for name, value in {**entries[first], **entries[second]}.items():
        assert same(getattr(labs, name), value)
    assert history_of(labs) == [(second, "entered at the same time", set(entries[second]))]


# --- the participant's details (Django's test client: the same views, one process) ---------------------------


def details_body(page: Any, **changes: str) -> dict[str, Any]:
    return {**form_fields(page.content.decode(), "//main//form[.//input[@name='initials']]"), **changes}


@pytest.mark.django_db
def test_a_stale_save_of_the_participant_s_details_is_refused_with_both_entries(
    site: Any, rahima_and_karim: tuple[Any, Any]
) -> None:
    rahima, karim = rahima_and_karim
    participant = register(site, rahima)
    url = f"/screening/{participant.screening_number}/details/"
    as_rahima, as_karim = Client(), Client()
    as_rahima.force_login(rahima)
    as_karim.force_login(karim)
    page_rahima, page_karim = as_rahima.get(url), as_karim.get(url)

    saved = as_rahima.post(url, details_body(page_rahima, email="mrk@example.org", reason_for_change="new e-mail"))
    assert saved.status_code == 302
    refused = as_karim.post(
        url, details_body(page_karim, mobile_phone="+8801812345678", reason_for_change="new phone number")
    )

    assert refused.status_code == 409
    html = refused.content.decode()
    assert "Not saved: Rahima changed this record after you opened it" in text_of(html, "//main//*[@role='alert']")
    assert "mrk@example.org" in text_of(html, "//*[@id='edit-conflict']")
    shown = form_fields(html, "//main//form[.//input[@name='initials']]")
    assert (shown["email"], shown["mobile_phone"]) == ("mrk@example.org", "+8801812345678")
    participant.refresh_from_db()
    assert (participant.email, participant.mobile_phone) == ("mrk@example.org", "+8801712345678")

    assert as_karim.post(url, shown).status_code == 302  # saved again as shown: both changes kept
    participant.refresh_from_db()
    assert (participant.email, participant.mobile_phone) == ("mrk@example.org", "+8801812345678")
    assert history_of(participant) == [
        ("Rahima", "new e-mail", {"email"}),
        ("Karim", "new phone number", {"mobile_phone"}),
    ]
    assert Participant.history.filter(id=participant.pk).count() == 3


@pytest.mark.django_db
def test_a_new_form_sent_after_someone_else_saved_it_is_an_edit_conflict_not_a_change_without_reason(
    site: Any, rahima_and_karim: tuple[Any, Any]
) -> None:
    """Both open the empty laboratory form; Rahima saves first; Karim's page was opened as a new form, so his save
    is refused as a conflict (409, Rahima's values beside his) and never read as a change needing a reason."""
    rahima, karim = rahima_and_karim
    participant = register(site, rahima)
    url = f"/screening/{participant.screening_number}/forms/labs/"
    as_rahima, as_karim = Client(), Client()
    as_rahima.force_login(rahima)
    as_karim.force_login(karim)
    page_rahima, page_karim = as_rahima.get(url), as_karim.get(url)
    body_rahima = {**form_fields(page_rahima.content.decode(), LABS_FORM), "hb_g_dl": "12.1", "platelets": "250"}
    body_karim = {**form_fields(page_karim.content.decode(), LABS_FORM), "wbc": "6.4", "platelets": "240"}
    assert as_rahima.post(url, body_rahima).status_code == 302

    refused = as_karim.post(url, body_karim)

    assert refused.status_code == 409, refused.content.decode()[:3000]
    html = refused.content.decode()
    assert "Not saved: Rahima changed this record" in text_of(html, "//main//*[@role='alert']")
    assert "Give the reason" not in html
    labs = ScreeningLabs.objects.get(participant=participant)
    assert (labs.hb_g_dl, labs.platelets, labs.wbc) == (12.1, 250, None)
    shown = form_fields(html, LABS_FORM)
    assert same(shown["wbc"], "6.4") and same(shown["platelets"], "240") and same(shown["hb_g_dl"], "12.1")
