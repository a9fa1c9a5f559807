"""Blinding: a blinded user never sees an arm or a drug name, on any page, and no page depends on the arm.

The test walks the whole URL configuration, so a page added later is covered without editing this test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from randomization import services
from randomization.models import Allocation, AllocationList
from tests.randomization.factories import confirmed_participant, list_in_use
from trial_site.protocol import PROTOCOL
from visits.services import visit_record_done as record_visit_done
from visits.services import visit_schedule_create

FORBIDDEN = [re.compile(rf"\b{re.escape(arm.drug)}\b", re.IGNORECASE) for arm in PROTOCOL.arms] + [
    re.compile(rf"\barm {arm.code}\b", re.IGNORECASE) for arm in PROTOCOL.arms
] + [re.compile(re.escape(arm.dose), re.IGNORECASE) for arm in PROTOCOL.arms]  # fmt: skip
# What differs between two renderings of one page: the CSRF token, the one-time submission key, the time.
VOLATILE = re.compile(
    r'name="(csrfmiddlewaretoken|submission_key)" value="[^"]+"|\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?'
)


def walk(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def concrete_paths(values: dict[str, str]) -> list[str]:
    """Every URL of the project, its parameters filled with sample values (admin and i18n left out).

    ``values`` maps a parameter name to its value, or ``"<app>:<name>"`` to the value for one app's URLs.
    """
    paths = []
    for route, _pattern in walk(get_resolver().url_patterns):
        if route.startswith(("admin/", "i18n/")) or "(?P" in route or route.startswith("^"):
            continue
        app = route.split("/", 1)[0]

        def value(match: re.Match[str], app: str = app) -> str:
            return values.get(f"{app}:{match.group(1)}", values[match.group(1)])

        paths.append("/" + re.sub(r"<(?:\w+:)?(\w+)>", value, route))
    return sorted(set(paths))


@pytest.fixture
def randomised(site: Any, coordinator: Any, investigator: Any, statistician: Any) -> Allocation:
    list_in_use(statistician)
    participant = confirmed_participant(site, coordinator, investigator)
    allocation = services.participant_randomize(participant=participant, by=investigator)
    visit_schedule_create(allocation_id=allocation.pk)
    return allocation


def render_all(client: Client, paths: list[str]) -> dict[str, str]:
    pages = {}
    for path in paths:
        response = client.get(path)
        assert response.status_code < 500, path
        pages[path] = VOLATILE.sub("", response.content.decode()) if response.status_code == 200 else ""
    return pages


def test_a_blinded_user_sees_no_arm_and_no_drug_name_on_any_page(
    randomised: Allocation, assessor: Any, coordinator: Any
) -> None:
    d1 = randomised.participant.visits.get(code="D1")
    record_visit_done(visit=d1, by=coordinator, done_on=d1.target_date)  # so its forms can be opened
    client = Client()
    client.force_login(assessor)
    values = {
        "number": randomised.participant.screening_number,
        "code": "DHK",
        "site_code": "DHK",
        "version": "1.0",
        "slug": "mrss",
        "pk": str(AllocationList.objects.get().pk),
        "visits:pk": str(randomised.participant.visits.get(code="D1").pk),
        "visits:code": "mrss",
        "job_id": "1",  # no such export: the export pages are refused to a blinded assessor anyway
    }
    paths = concrete_paths(values)
    for page in (
        "/randomization/participants/DHK-S-0001/",
        "/screening/DHK-S-0001/",
        "/visits/participants/DHK-S-0001/",
    ):
        assert page in paths
    pages = render_all(client, paths)
    seen = [path for path, page in pages.items() if page]
    assert len(seen) >= 8, seen
    assert (
        f"/visits/{d1.pk}/forms/mrss/" in seen
    )  # the blinded assessor's own form  # the walk really reached the blinded user's pages
    for path, page in pages.items():
        for pattern in FORBIDDEN:
            assert not pattern.search(page), f"{path} shows {pattern.pattern!r} to a blinded user"

    # The same pages with the other arm allocated are identical: nothing on them depends on the arm.
    other = "B" if randomised.arm == "A" else "A"
    randomised.arm = other
    randomised.save(by=randomised.randomised_by, reason="blinding test: the other arm")
    assert render_all(client, paths) == pages
