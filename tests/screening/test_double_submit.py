"""A form that creates something, sent more than once with the same one-time submission key: registration with
consent over HTTP against gunicorn's worker processes on PostgreSQL (2, 5 and 20 copies at the same instant, and once
more afterwards), and the other creating forms of screening through Django's test client. Exactly one record and one
history row; every copy is taken to what the first one made; never a 500."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import requests
from django.test import Client
from django.utils import timezone

from screening import services
from screening.models import (
    Consent,
    ConsentWithdrawal,
    EligibilityConfirmation,
    Participant,
    ScreenFailure,
    ScreeningLabs,
)
from tests.http.conftest import live_gunicorn, start_gunicorn  # noqa: F401  (fixtures of the HTTP tests)
from tests.http.server import GunicornServer, fire_together, form_fields
from tests.screening.factories import register, save_form, screen_eligible

REPEAT_MESSAGE = "This form had been sent already: nothing was saved twice."
REGISTRATION_FORM = "//main//form[.//input[@name='submission_key']]"


def registration_entries() -> dict[str, str]:
    """What a coordinator types on the registration page (the consent's other fields keep the page's values)."""
    today = timezone.localdate()
    return {
        "initials": "MRK",
        "date_of_birth": (today.replace(year=today.year - 40) - timedelta(days=10)).isoformat(),
        "sex": "F",
        "mobile_phone": "+8801712345678",
        "preferred_language": "bn",
        "reminder_channel": "sms",
        "reminder_consent": "on",
        "consent-signature_method": "signature",
        "consent-copy_given": "on",
    }


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("copies", [2, 5, 20])
def test_a_registration_sent_many_times_at_once_and_again_later_registers_one_participant(
    live_gunicorn: GunicornServer,  # noqa: F811
    site: Any,
    coordinator: Any,
    copies: int,
) -> None:
    browser = live_gunicorn.login(coordinator)
    page = browser.get("/screening/register/DHK/")
    assert page.status_code == 200
    body = {**form_fields(page.text, REGISTRATION_FORM), **registration_entries()}
    assert body["submission_key"]
    tabs = [browser.twin() for _ in range(copies)]  # the same browser: one connection per copy in flight

    responses = fire_together([lambda tab=tab: tab.post("/screening/register/DHK/", body) for tab in tabs])
    later = browser.post("/screening/register/DHK/", body)

    assert all(isinstance(r, requests.Response) for r in responses), responses
    statuses = [r.status_code for r in [*responses, later]]
    assert 500 not in statuses and set(statuses) == {302}, statuses
    participant = Participant.objects.get()
    assert participant.screening_number == "DHK-S-0001"
    where = f"/screening/{participant.screening_number}/"
    assert {r.headers["Location"] for r in [*responses, later]} == {where}
    assert Participant.history.filter(id=participant.pk).count() == 1
    assert Consent.objects.filter(participant=participant).count() == 1 and Consent.history.count() == 1
    shown = browser.get(where)
    assert REPEAT_MESSAGE in shown.text and "DHK-S-0001" in shown.text


# --- the other creating forms of screening (Django's test client: the same views, one process) -----------------


def not_eligible(participant: Participant, by: Any) -> Participant:
    """Screened with every form: the skin score too low (I4) and the haemoglobin too (E17)."""
    participant = screen_eligible(participant, by, mrss_per_area=0)
    save_form(ScreeningLabs, participant, by, {"hb_g_dl": 7.9}, reason="result received")
    return Participant.objects.get(pk=participant.pk)


def page_key(client: Client, path: str) -> str:
    fields = form_fields(client.get(path).content.decode(), "//main//form[.//input[@name='submission_key']]")
    return str(fields["submission_key"])


def twice(client: Client, path: str, body: dict[str, str]) -> tuple[Any, Any]:
    """The same POST twice (a double click): the first, and the repeat."""
    return client.post(path, body), client.post(path, body)


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_eligibility_confirmed_twice_with_one_key_is_one_confirmation(
    site: Any, coordinator: Any, investigator: Any
) -> None:
    participant = screen_eligible(register(site, coordinator), coordinator)
    client = logged_in(investigator)
    summary = f"/screening/{participant.screening_number}/"
    confirmation_page = client.get(f"{summary}confirm/").content.decode()
    key = str(form_fields(confirmation_page, "//form[.//button[@data-testid='confirm-eligibility']]")["submission_key"])

    first, repeat = twice(client, f"{summary}confirm/", {"submission_key": key, "confirmed": "yes"})

    assert (first.status_code, repeat.status_code) == (302, 302)
    assert first["Location"] == repeat["Location"] == summary
    assert EligibilityConfirmation.objects.count() == 1 and EligibilityConfirmation.history.count() == 1
    assert REPEAT_MESSAGE in client.get(summary).content.decode()


@pytest.mark.django_db
def test_a_screen_failure_sent_twice_with_one_key_is_recorded_once(site: Any, coordinator: Any) -> None:
    participant = not_eligible(register(site, coordinator), coordinator)
    client = logged_in(coordinator)
    summary = f"/screening/{participant.screening_number}/"
    key = str(
        form_fields(client.get(summary).content.decode(), "//form[.//button[@data-testid='screen-fail']]")[
            "submission_key"
        ]
    )

    first, repeat = twice(client, f"{summary}screen-failure/", {"submission_key": key, "note": "skin too mild"})

    assert (first.status_code, repeat.status_code) == (302, 302) and repeat["Location"] == summary
    assert ScreenFailure.objects.count() == 1 and ScreenFailure.history.count() == 1


@pytest.mark.django_db
def test_a_withdrawal_sent_twice_with_one_key_is_recorded_once(site: Any, coordinator: Any) -> None:
    participant = register(site, coordinator)
    client = logged_in(coordinator)
    path = f"/screening/{participant.screening_number}/withdraw/"
    body = {
        "submission_key": page_key(client, path),
        "withdrawn_on": timezone.localdate().isoformat(),
        "scope": ConsentWithdrawal._meta.get_field("scope").choices[0][0],
        "note": "moved away",
    }

    first, repeat = twice(client, path, body)

    assert (first.status_code, repeat.status_code) == (302, 302), first.content.decode()[:2000]
    assert repeat["Location"] == first["Location"] == f"/screening/{participant.screening_number}/"
    assert ConsentWithdrawal.objects.count() == 1 and ConsentWithdrawal.history.count() == 1


@pytest.mark.django_db
def test_a_new_screening_sent_twice_with_one_key_makes_one_episode(site: Any, coordinator: Any) -> None:
    participant = not_eligible(register(site, coordinator), coordinator)
    services.screen_failure_record(participant=participant, by=coordinator)
    client = logged_in(coordinator)
    path = f"/screening/{participant.screening_number}/rescreen/"
    page = client.get(path).content.decode()
    body = {
        **form_fields(page, "//main//form[.//input[@name='submission_key']]"),
        "screening_date": timezone.localdate().isoformat(),
        "consent-signature_method": "signature",
        "consent-copy_given": "on",
    }

    first, repeat = twice(client, path, body)

    assert (first.status_code, repeat.status_code) == (302, 302), first.content.decode()[:2000]
    assert repeat["Location"] == first["Location"] == "/screening/DHK-S-0002/"
    assert Participant.objects.count() == 2 and Consent.objects.count() == 2


@pytest.mark.django_db
def test_a_first_screening_form_sent_twice_with_one_key_is_saved_once(site: Any, coordinator: Any) -> None:
    participant = register(site, coordinator)
    client = logged_in(coordinator)
    path = f"/screening/{participant.screening_number}/forms/labs/"
    body = {**form_fields(client.get(path).content.decode(), "//main//form[.//input[@name='hb_g_dl']]")}
    body.update(hb_g_dl="12.1", wbc="6.4")

    first, repeat = twice(client, path, body)

    assert (first.status_code, repeat.status_code) == (302, 302), first.content.decode()[:2000]
    assert repeat["Location"] == first["Location"] == f"/screening/{participant.screening_number}/"
    labs = Participant.objects.get(pk=participant.pk).screening_labs
    assert (labs.hb_g_dl, labs.wbc) == (12.1, 6.4) and labs.history.count() == 1
