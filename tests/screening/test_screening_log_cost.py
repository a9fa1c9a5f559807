"""The screening log at flat cost (issue #21): as many queries for a larger trial as for a small one, whatever the
filters and the page; and the filters and keyset pages show exactly the right rows.

The trials are made by the benchmark's generator (``bench.generate``), which writes past the services, so the stored
screening states are rebuilt with ``screening.status_store.refresh_all`` as the generator does at its end.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bench.generate import generate_trial
from screening.models import Participant, ScreeningState
from screening.status_store import refresh_all, stored_differs
from tests.generated import generated_user
from trial_site.models import StaffMembership
from trial_site.roles import Role

pytestmark = [pytest.mark.django_db, pytest.mark.needs_postgres]

SMALL, LARGE = 30, 300
QUERIES = ("", "status=screen_failed", "decision=not_eligible", "site={site}", "status=randomised&site={site}")


def _client(role: Role) -> Client:
    client = Client()
    client.force_login(generated_user(role))
    return client


def _trial(participants: int) -> Any:
    trial = generate_trial(participants, sites=2, seed=7)
    refresh_all()
    return trial


def _older(page: str) -> str | None:
    found = re.search(r'href="\?([^"]*)" rel="next"', page)
    return found.group(1).replace("&amp;", "&") if found else None


def _numbers(page: str) -> list[str]:
    table = page[page.index('data-testid="screening-log"') :]
    return re.findall(r'<a href="/screening/([A-Z]+-S-\d+)/">', table)


def _counts(site: Any) -> dict[str, int]:
    counts = {}
    for role in (Role.COORDINATOR, Role.DATA_MANAGER):
        client = _client(role)
        for query in QUERIES:
            url = "/screening/?" + query.format(site=site)
            assert client.get(url).status_code == 200  # the warm-up
            with CaptureQueriesContext(connection) as queries:
                page = client.get(url)
            assert page.status_code == 200
            counts[f"{role} {query}"] = len(queries)
            older = _older(page.content.decode())
            if older:  # the next page costs the same
                with CaptureQueriesContext(connection) as queries:
                    assert client.get(f"/screening/?{older}").status_code == 200
                counts[f"{role} {query} next page"] = len(queries)
    return counts


class _RolledBack(Exception):
    pass


def test_the_log_runs_as_many_queries_for_300_participants_as_for_30() -> None:
    small: dict[str, int] = {}
    try:
        with transaction.atomic():
            trial = _trial(SMALL)
            small = _counts(_site_code(trial))
            raise _RolledBack
    except _RolledBack:
        pass
    trial = _trial(LARGE)
    large = _counts(_site_code(trial))
    assert small, "no page was counted"
    # The small trial has no second page for some filters: compare what both have.
    assert {key: large[key] for key in small} == small
    assert any(key.endswith("next page") for key in large)


def _site_code(trial: Any) -> str:
    from trial_site.models import Site

    return Site.objects.get(pk=trial.site_ids[0]).code


def test_the_pages_walk_every_row_once_newest_first_and_the_filters_hold() -> None:
    trial = _trial(130)
    client = _client(Role.DATA_MANAGER)
    user = generated_user(Role.DATA_MANAGER)
    sites = list(StaffMembership.objects.filter(user=user, is_active=True).values_list("site_id", flat=True))
    expected = list(
        Participant.objects.filter(site_id__in=sites).order_by("-pk").values_list("screening_number", flat=True)
    )
    assert len(expected) > 50
    seen: list[str] = []
    query: str | None = ""
    pages = []
    while query is not None:
        assert len(pages) <= len(expected) // 50 + 1, f"the pages do not end: {[q for q, _ in pages][-3:]}"
        page = client.get(f"/screening/?{query}").content.decode()
        pages.append((query, page))
        seen += _numbers(page)
        query = _older(page)
    assert seen == expected and len(pages) == -(-len(expected) // 50)
    # Back from the second page to the first.
    newer = re.search(r'href="\?([^"]*)" rel="prev"', pages[1][1])
    assert (
        newer
        and _numbers(client.get(f"/screening/?{newer.group(1).replace('&amp;', '&')}").content.decode())
        == (expected[:50])
    )
    # Each filter: the rows whose stored value matches, and that value is the rule's.
    for name, value in (("status", "screen_failed"), ("decision", "incomplete"), ("status", "randomised")):
        page = client.get(f"/screening/?{name}={value}").content.decode()
        wanted = list(
            ScreeningState.objects.filter(site_id__in=sites, **{name: value})
            .order_by("-participant_id")
            .values_list("participant__screening_number", flat=True)[:50]
        )
        assert wanted and _numbers(page) == wanted, (name, value)
    sample = Participant.objects.filter(site_id__in=sites).order_by("pk")[:40]
    assert stored_differs(list(sample)) == []
    assert trial.site_ids
