"""Confirming eligibility goes through a page that names the participant, shows the decision with each criterion
in words that cannot be misread, and says what confirming permits; the action refuses a POST that did not come
from that page (400, nothing saved) and confirms once when it did."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from django.test import Client

from screening.models import EligibilityConfirmation, ScreeningLabs
from tests.screening.factories import register, save_form, screen_eligible

pytestmark = pytest.mark.django_db


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response: Any) -> str:
    return html.unescape(response.content.decode())


def results(page: str, testid: str = "criteria") -> dict[str, str]:
    """Criterion code → the words of its result badge, in the table ``testid``."""
    table = page.split(f'data-testid="{testid}"', 1)[1].split("</table>", 1)[0]
    return dict(
        re.findall(r'data-code="(\w+)">.*?<span class="badge [^"]*" data-in-favour="\w+">([^<]+)</span>', table, re.S)
    )


@pytest.fixture
def eligible(site: Any, coordinator: Any) -> Any:
    return screen_eligible(register(site, coordinator), coordinator)


def test_the_page_names_the_participant_the_decision_and_what_confirming_permits(
    eligible: Any, investigator: Any
) -> None:
    page = text(logged_in(investigator).get(f"/screening/{eligible.screening_number}/confirm/"))
    assert 'data-testid="confirm-participant"' in page and eligible.screening_number in page
    assert "Eligible" in page.split('data-testid="confirm-decision"', 1)[1][:300]
    assert "It permits randomisation (Day 1) from" in page
    assert not EligibilityConfirmation.objects.exists()  # looking is not confirming


def test_criteria_read_inclusion_met_and_exclusion_absent_in_green(eligible: Any, investigator: Any) -> None:
    client = logged_in(investigator)
    for url in (f"/screening/{eligible.screening_number}/", f"/screening/{eligible.screening_number}/confirm/"):
        page = text(client.get(url))
        words = results(page)
        assert words["I1"] == "inclusion met" and words["E5"] == "exclusion absent", url
        assert set(words.values()) == {"inclusion met", "exclusion absent"}, url
        assert 'data-in-favour="no"' not in page.split('data-testid="criteria"', 1)[1].split("</table>", 1)[0]
        assert 'text-bg-success" data-in-favour="yes">exclusion absent' in page


def test_a_present_exclusion_reads_present_in_red(site: Any, coordinator: Any, investigator: Any) -> None:
    participant = screen_eligible(register(site, coordinator), coordinator)
    save_form(ScreeningLabs, participant, coordinator, {"hb_g_dl": 7.0}, reason="lab report re-read")
    page = text(logged_in(investigator).get(f"/screening/{participant.screening_number}/"))
    assert results(page)["E17"] == "exclusion present"
    assert 'text-bg-danger" data-in-favour="no">exclusion present' in page
    assert "Against eligibility: E17" in page


def test_a_confirm_post_without_the_confirmation_is_refused_and_saves_nothing(eligible: Any, investigator: Any) -> None:
    refused = logged_in(investigator).post(f"/screening/{eligible.screening_number}/confirm/")
    assert refused.status_code == 400 and "Eligibility not confirmed: confirm on this page first" in text(refused)
    assert not EligibilityConfirmation.objects.exists()


def test_a_confirm_post_from_the_page_confirms_once(eligible: Any, investigator: Any) -> None:
    client = logged_in(investigator)
    url = f"/screening/{eligible.screening_number}/confirm/"
    assert client.post(url, {"confirmed": "yes"}).status_code == 302
    client.post(url, {"confirmed": "yes"})
    assert EligibilityConfirmation.objects.filter(participant=eligible).count() == 1
    assert 'data-testid="already-confirmed"' in text(client.get(url))


def test_the_summary_leads_to_the_confirmation_page_not_straight_to_confirming(
    eligible: Any, investigator: Any
) -> None:
    page = text(logged_in(investigator).get(f"/screening/{eligible.screening_number}/"))
    url = f"/screening/{eligible.screening_number}/confirm/"
    assert f'href="{url}"' in page and f'action="{url}"' not in page
