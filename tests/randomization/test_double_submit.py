"""Randomise (and the other creating forms of randomisation) sent more than once. Over HTTP against gunicorn's
worker processes on PostgreSQL, with e-mail to a real SMTP server: the randomise button pressed 2, 5 and 20 times at
the same instant, and once more afterwards, makes one allocation with one history row, one schedule, one outbox row
and one e-mail to the investigator; every press is taken to the allocation; never a 500. Through Django's test
client: a second randomise POST without a key still makes no second allocation; an unblinding, a generated list and
putting a list in use sent twice with one key happen once."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import requests
from django.test import Client

from randomization.models import Allocation, AllocationList, Unblinding
from tests.http.conftest import smtp_address, start_gunicorn  # noqa: F401  (fixtures of the HTTP tests)
from tests.http.server import GunicornServer, fire_together, form_fields, wait_for
from tests.randomization.factories import confirmed_participant, list_in_use
from trial_site.models import OutboxMessage

REPEAT_MESSAGE = "This form had been sent already: nothing was saved twice."
RANDOMISE_FORM = "//main//form[.//button[@data-testid='randomise-confirm']]"  # on the confirmation page
EMAIL_HANDLER = "randomization.tasks.email_randomisation"


@pytest.fixture
def in_use(statistician: Any) -> AllocationList:
    return list_in_use(statistician)


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("copies", [2, 5, 20])
def test_randomise_pressed_many_times_at_once_and_again_later_randomises_once_with_one_email(
    start_gunicorn: Any,  # noqa: F811
    smtp_address: tuple[str, int],  # noqa: F811
    smtp_inbox: Any,
    site: Any,
    coordinator: Any,
    investigator: Any,
    in_use: AllocationList,
    copies: int,
) -> None:
    server: GunicornServer = start_gunicorn(smtp=smtp_address)
    participant = confirmed_participant(site, coordinator, investigator)
    page_path = f"/randomization/participants/{participant.screening_number}/"
    browser = server.login(investigator)
    page = browser.get(f"{page_path}randomise/")
    body = form_fields(page.text, RANDOMISE_FORM)
    assert body["submission_key"]
    tabs = [browser.twin() for _ in range(copies)]

    responses = fire_together([lambda tab=tab: tab.post(f"{page_path}randomise/", body) for tab in tabs])
    later = browser.post(f"{page_path}randomise/", body)

    assert all(isinstance(r, requests.Response) for r in responses), responses
    statuses = [r.status_code for r in [*responses, later]]
    assert 500 not in statuses and set(statuses) == {302}, statuses
    assert {r.headers["Location"] for r in [*responses, later]} == {page_path}
    allocation = Allocation.objects.get()
    assert allocation.participant_id == participant.pk and allocation.history.count() == 1
    visits = Counter(participant.visits.values_list("code", flat=True))
    assert visits and set(visits.values()) == {1}  # one schedule
    [outbox] = OutboxMessage.objects.filter(handler=EMAIL_HANDLER)
    wait_for(lambda: OutboxMessage.objects.get(pk=outbox.pk).status == "delivered", "the e-mail delivered")
    to_investigator = [m for m in smtp_inbox.messages if m["X-Envelope-To"] == investigator.email]
    assert len(to_investigator) == 1, [m["Subject"] for m in smtp_inbox.messages]
    assert allocation.randomisation_number in to_investigator[0]["Subject"]
    assert len(smtp_inbox.messages) == 1
    shown = browser.get(page_path)
    assert REPEAT_MESSAGE in shown.text and allocation.randomisation_number in shown.text


# --- Django's test client: the same views, one process ---------------------------------------------------------


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_a_second_randomise_post_without_a_key_makes_no_second_allocation(
    site: Any, coordinator: Any, investigator: Any, in_use: AllocationList
) -> None:
    participant = confirmed_participant(site, coordinator, investigator)
    client = logged_in(investigator)
    path = f"/randomization/participants/{participant.screening_number}/"

    first = client.post(f"{path}randomise/", {"confirmed": "yes"})  # a client that sends no key
    second = client.post(f"{path}randomise/", {"confirmed": "yes"})

    assert (first.status_code, second.status_code) == (302, 302)
    assert first["Location"] == second["Location"] == path
    allocation = Allocation.objects.get()
    assert allocation.history.count() == 1
    assert OutboxMessage.objects.filter(handler=EMAIL_HANDLER).count() == 1
    assert f"Randomised: {allocation.randomisation_number}." in client.get(path).content.decode()


@pytest.mark.django_db
def test_an_unblinding_sent_twice_with_one_key_unblinds_once_and_tells_once(
    site: Any, coordinator: Any, investigator: Any, assessor: Any, in_use: AllocationList, password: str
) -> None:
    from randomization import services

    participant = confirmed_participant(site, coordinator, investigator)
    services.participant_randomize(participant=participant, by=investigator)
    client = logged_in(assessor)
    path = f"/randomization/participants/{participant.screening_number}/unblind/"
    fields = form_fields(client.get(path).content.decode(), "//main//form[.//input[@name='submission_key']]")
    body = {**fields, "reason": "severe reaction", "password": password}

    first, repeat = client.post(path, body), client.post(path, body)

    assert (first.status_code, repeat.status_code) == (302, 302)
    assert repeat["Location"] == first["Location"]
    assert Unblinding.objects.count() == 1 and Unblinding.history.count() == 1
    assert OutboxMessage.objects.filter(handler="randomization.tasks.notify_unblinding").count() == 1


@pytest.mark.django_db
def test_a_list_generated_and_put_in_use_twice_with_one_key_is_made_and_used_once(statistician: Any) -> None:
    client = logged_in(statistician)
    page = client.get("/randomization/lists/").content.decode()
    fields = form_fields(page, "//main//form[.//input[@value='generate']]")
    body = {**fields, "name": "list 1", "slots_per_stratum": "20", "block_sizes": "2, 4"}

    first, repeat = client.post("/randomization/lists/", body), client.post("/randomization/lists/", body)

    assert (first.status_code, repeat.status_code) == (302, 302), first.content.decode()[:2000]
    allocation_list = AllocationList.objects.get()
    assert first["Location"] == repeat["Location"] == f"/randomization/lists/{allocation_list.pk}/"
    assert allocation_list.history.count() == 1

    detail = client.get(f"/randomization/lists/{allocation_list.pk}/").content.decode()
    activate = form_fields(detail, "//main//form[contains(@action, 'activate')]")
    path = f"/randomization/lists/{allocation_list.pk}/activate/"
    first, repeat = client.post(path, activate), client.post(path, activate)

    assert (first.status_code, repeat.status_code) == (302, 302)
    allocation_list.refresh_from_db()
    assert allocation_list.is_active and allocation_list.history.count() == 2
    assert REPEAT_MESSAGE in client.get(repeat["Location"]).content.decode()
