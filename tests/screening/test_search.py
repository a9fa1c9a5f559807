"""The participant search of the header: partial numbers, exact numbers open the participant, initials only for the
roles that may see them, only the user's sites, never the arm, a message for a query too short to search."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from screening import search
from tests.factories import make_user
from tests.randomization.factories import list_in_use
from tests.screening.factories import register
from tests.visits.test_schedule import randomised_on
from trial_site.roles import Role
from trial_site.services import membership_grant, system_user

pytestmark = pytest.mark.django_db


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def hits(response: Any) -> list[str]:
    """The screening numbers listed on a results page."""
    return [hit.participant.screening_number for hit in response.context["page"].object_list]


def test_a_partial_number_in_any_case_lists_the_matches_with_their_status(site: Any, coordinator: Any) -> None:
    for initials in ("MRK", "SBA", "TKH"):
        register(site, coordinator, initials=initials)
    response = logged_in(coordinator).get("/search/", {"q": "s-000"})
    assert response.status_code == 200
    assert hits(response) == ["DHK-S-0001", "DHK-S-0002", "DHK-S-0003"]
    page = response.content.decode()
    assert 'href="/screening/DHK-S-0002/"' in page and "Consented" in page
    one = logged_in(coordinator).get("/search/", {"q": "0002"})
    assert one.status_code == 200 and hits(one) == ["DHK-S-0002"]  # a part of a number: listed, not opened


def test_an_exact_screening_number_opens_the_participant(site: Any, coordinator: Any) -> None:
    register(site, coordinator)
    register(site, coordinator)
    response = logged_in(coordinator).get("/search/", {"q": " dhk-s-0002 "})
    assert response.status_code == 302 and response["Location"] == "/screening/DHK-S-0002/"
    assert logged_in(coordinator).get(response["Location"]).status_code == 200


def test_an_exact_randomisation_number_opens_the_schedule_without_the_arm_for_a_blinded_assessor(
    site: Any, coordinator: Any, investigator: Any, statistician: Any, assessor: Any
) -> None:
    list_in_use(statistician)
    participant = randomised_on(timezone.localdate() - timedelta(days=3), site, coordinator, investigator)
    number = participant.allocation.randomisation_number
    for user in (coordinator, assessor):
        response = logged_in(user).get("/search/", {"q": number.lower()})
        assert response.status_code == 302
        assert response["Location"] == f"/visits/participants/{participant.screening_number}/"
        assert logged_in(user).get(response["Location"]).status_code == 200
    listed = logged_in(assessor).get("/search/", {"q": "DHK"})
    page = listed.content.decode().lower()
    assert hits(listed) == [participant.screening_number] and number.lower() in page and "randomised" in page
    assert "baricitinib" not in page and "methotrexate" not in page


def test_a_part_of_a_randomisation_number_lists_the_participant_once(
    site: Any, coordinator: Any, investigator: Any, statistician: Any
) -> None:
    list_in_use(statistician)
    participant = randomised_on(timezone.localdate() - timedelta(days=3), site, coordinator, investigator)
    register(site, coordinator)  # not randomised: no randomisation number to find
    assert participant.allocation.randomisation_number == "DHK-R-001"
    response = logged_in(coordinator).get("/search/", {"q": "k-r-00"})  # in no screening number
    assert response.status_code == 200 and hits(response) == [participant.screening_number]
    both = logged_in(coordinator).get("/search/", {"q": "DHK-"})  # in both of its numbers, and the other's
    assert hits(both) == [participant.screening_number, "DHK-S-0002"]


def test_another_sites_participant_is_not_found_by_number_or_initials(
    site: Any, other_site: Any, coordinator: Any
) -> None:
    elsewhere = make_user("ctg_coordinator", role=Role.COORDINATOR, site=other_site)
    register(other_site, elsewhere, initials="QWZ")
    client = logged_in(coordinator)
    by_number = client.get("/search/", {"q": "CTG-S-0001"})
    assert by_number.status_code == 200 and hits(by_number) == []
    assert "No participant at your sites matches" in by_number.content.decode()
    assert hits(client.get("/search/", {"q": "qwz"})) == []
    assert hits(logged_in(elsewhere).get("/search/", {"q": "qwz"})) == ["CTG-S-0001"]


def test_initials_find_participants_only_where_the_role_may_see_them(
    site: Any, other_site: Any, coordinator: Any
) -> None:
    register(site, coordinator, initials="NHB")
    ctg_coordinator = make_user("ctg_coordinator", role=Role.COORDINATOR, site=other_site)
    register(other_site, ctg_coordinator, initials="NHB")
    # A coordinator at DHK who is the administrator at CTG: administrators see no identifying data.
    membership_grant(user=coordinator, site=other_site, role=Role.ADMINISTRATOR, by=system_user())
    found = logged_in(coordinator).get("/search/", {"q": "nhb"})
    assert hits(found) == ["DHK-S-0001"]
    assert "NHB" in found.content.decode()

    administrator = make_user("admin_dhk", role=Role.ADMINISTRATOR, site=site)
    refused = logged_in(administrator).get("/search/", {"q": "NHB"})
    assert refused.status_code == 200 and refused.context["page"] is None
    assert "no one to find" in refused.content.decode()
    assert 'data-testid="nav-search"' not in logged_in(administrator).get("/").content.decode()
    assert 'data-testid="nav-search"' in logged_in(coordinator).get("/").content.decode()


@pytest.mark.parametrize("query", ["", " ", "D", "  s "])
def test_an_empty_or_too_short_query_asks_for_more(site: Any, coordinator: Any, query: str) -> None:
    register(site, coordinator)
    response = logged_in(coordinator).get("/search/", {"q": query})
    assert response.status_code == 200 and response.context["page"] is None
    assert "Type at least 2 characters" in response.content.decode()


@pytest.mark.parametrize("query", ["' OR 1=1 --", "%%", "__", "DHK-S-0001'; DROP TABLE x; --"])
def test_sql_and_wildcards_are_searched_as_text(site: Any, coordinator: Any, query: str) -> None:
    register(site, coordinator)
    response = logged_in(coordinator).get("/search/", {"q": query})
    assert response.status_code == 200 and hits(response) == []


def test_results_are_paged(site: Any, coordinator: Any, monkeypatch: Any) -> None:
    for _ in range(3):
        register(site, coordinator)
    monkeypatch.setattr(search, "PAGE_SIZE", 2)
    client = logged_in(coordinator)
    first = client.get("/search/", {"q": "DHK"})
    assert hits(first) == ["DHK-S-0001", "DHK-S-0002"] and "Page 1 of 2" in first.content.decode()
    assert 'href="?q=DHK&page=2"' in first.content.decode()
    assert hits(client.get("/search/", {"q": "DHK", "page": "2"})) == ["DHK-S-0003"]
    assert hits(client.get("/search/", {"q": "DHK", "page": "x"})) == ["DHK-S-0001", "DHK-S-0002"]


def test_the_number_of_queries_does_not_grow_with_the_participants(site: Any, coordinator: Any) -> None:
    def queries(count: int) -> int:
        while search.Participant.objects.count() < count:
            register(site, coordinator)
        client = logged_in(coordinator)
        client.get("/search/", {"q": "DHK-S"})  # the session and the menu's caches warm
        with CaptureQueriesContext(connection) as captured:
            response = client.get("/search/", {"q": "DHK-S"})
        assert len(hits(response)) == count
        return len(captured.captured_queries)

    assert queries(2) == queries(10)
