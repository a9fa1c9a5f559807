"""Randomising and unblinding go through a page that says what will happen: the participant, the stratum as the
randomise service computes it, the list in use, that it cannot be undone (never the arm before); the action
refuses a POST that did not come from that page (400, nothing saved) and does it once when it did."""

from __future__ import annotations

import html
from typing import Any

import pytest
from django.test import Client

from randomization import services
from randomization.models import Allocation, Unblinding
from tests.randomization.factories import confirmed_participant, list_in_use
from trial_site.protocol import PROTOCOL

pytestmark = pytest.mark.django_db


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def in_use(statistician: Any) -> Any:
    return list_in_use(statistician)


def text(response: Any) -> str:
    return html.unescape(response.content.decode())


@pytest.mark.parametrize(("duration_days", "stratum"), [(400, "DHK/early"), (900, "DHK/late")])
def test_the_confirmation_page_shows_the_participant_and_the_stratum_the_service_will_use_but_no_arm(
    site: Any, coordinator: Any, investigator: Any, in_use: Any, duration_days: int, stratum: str
) -> None:
    participant = confirmed_participant(site, coordinator, investigator, duration_days=duration_days)
    page = text(logged_in(investigator).get(f"/randomization/participants/{participant.screening_number}/randomise/"))
    assert f'data-testid="stratum">{stratum}<' in page
    assert participant.screening_number in page and in_use.name in page and "It cannot be undone" in page
    assert not any(arm.drug in page for arm in PROTOCOL.arms)
    assert not Allocation.objects.exists()  # looking is not randomising
    assert services.participant_randomize(participant=participant, by=investigator).stratum == stratum


def test_a_randomise_post_without_the_confirmation_is_refused_and_allocates_nothing(
    site: Any, coordinator: Any, investigator: Any, in_use: Any
) -> None:
    participant = confirmed_participant(site, coordinator, investigator)
    url = f"/randomization/participants/{participant.screening_number}/randomise/"
    refused = logged_in(investigator).post(url)
    assert refused.status_code == 400 and "Not randomised: confirm on this page first" in text(refused)
    assert 'data-testid="stratum"' in text(refused)  # the confirmation page again
    assert not Allocation.objects.exists()


def test_a_randomise_post_from_the_confirmation_page_randomises_once(
    site: Any, coordinator: Any, investigator: Any, in_use: Any
) -> None:
    participant = confirmed_participant(site, coordinator, investigator)
    url = f"/randomization/participants/{participant.screening_number}/randomise/"
    client = logged_in(investigator)
    assert client.post(url, {"confirmed": "yes"}).status_code == 302
    assert client.post(url, {"confirmed": "yes"}).status_code == 302
    assert Allocation.objects.filter(participant=participant).count() == 1
    assert 'data-testid="already-randomised"' in text(client.get(url))  # no second button


def test_the_participant_page_leads_to_the_confirmation_page_not_straight_to_randomising(
    site: Any, coordinator: Any, investigator: Any, in_use: Any
) -> None:
    participant = confirmed_participant(site, coordinator, investigator)
    page = text(logged_in(investigator).get(f"/randomization/participants/{participant.screening_number}/"))
    url = f"/randomization/participants/{participant.screening_number}/randomise/"
    assert f'href="{url}"' in page and f'action="{url}"' not in page


def test_the_unblinding_page_says_who_and_that_it_is_logged_and_cannot_be_undone_and_refuses_without_a_reason(
    site: Any, coordinator: Any, investigator: Any, assessor: Any, in_use: Any, password: str
) -> None:
    participant = confirmed_participant(site, coordinator, investigator)
    services.participant_randomize(participant=participant, by=investigator)
    url = f"/randomization/participants/{participant.screening_number}/unblind/"
    client = logged_in(assessor)
    page = text(client.get(url))
    assert f'data-testid="unblinded-by">{assessor.get_full_name() or assessor.username}<' in page
    assert "recorded in the access log" in page and "It cannot be undone" in page
    refused = client.post(url, {"reason": "", "password": password})
    assert refused.status_code == 400 and not Unblinding.objects.exists()
    assert client.post(url, {"reason": "severe reaction", "password": password}).status_code == 302
    assert Unblinding.objects.count() == 1
