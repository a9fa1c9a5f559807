"""Only reachable links (#20): a crawl of the pages as every role finds no link that answers 403.

The crawl works on the security world (``conftest.py``: two sites, a randomised participant with visits and forms
entered, an adverse event with its SAE report, a laboratory alert, a data query, a lock) with what a site's day adds
here: a participant only registered, one who failed screening, and a signed form. Logged in as one role (or as one
person holding two roles at two sites), it starts at the home page and follows every link (``<a href>``) of every
page breadth-first, within the site: the Django admin, static files, language and logout, and the big downloads are
left out. Each URL pattern (the view, the path with its numbers blanked, the names of its query string) is opened
at most ``PER_PATTERN`` times, which bounds the crawl while still reaching every kind of page. No link opened may
answer 403; the failure names each page and the forbidden link on it.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from html import unescape
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
from django.urls import Resolver404, resolve

from monitoring.services.signatures import signature_sign
from screening import services as screening_services
from screening.models import ScreeningLabs
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.screening.factories import register, save_form, screen_eligible
from tests.security.conftest import World, client_as
from trial_site.models import Site
from trial_site.roles import Role
from trial_site.services import membership_grant, system_user
from visits.crfs import VitalSigns

PER_PATTERN = 2
LEFT_OUT_PREFIXES = ("/admin/", "/i18n/", "/static/", "/media/", "/accounts/logout/")
# Downloads: large files, nothing to follow in them.
LEFT_OUT_VIEWS = frozenset({"exports:download", "monitoring:audit_export"})
DIGITS = re.compile(r"\d+")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)


def links_of(page: str, html: str) -> list[str]:
    """The same-site paths (with their query strings, without fragments) the page links to, in order."""
    parser = _Links()
    parser.feed(html)
    found = []
    for href in parser.hrefs:
        parts = urlsplit(urljoin(page, unescape(href)))
        if parts.scheme not in ("", "http") or parts.netloc not in ("", "testserver"):
            continue
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        if path.startswith(LEFT_OUT_PREFIXES):
            continue
        found.append(path)
    return found


def pattern_of(path: str) -> str | None:
    """The crawl's budget key: the view, the path with its numbers blanked and the names (not the values) of its
    query string; None for a path left out."""
    parts = urlsplit(path)
    shape = DIGITS.sub("#", parts.path) + "?" + "&".join(sorted(parse_qs(parts.query)))
    try:
        match = resolve(parts.path)
    except Resolver404:
        return shape
    return None if match.view_name in LEFT_OUT_VIEWS else f"{match.view_name} {shape}"


def crawl(user: Any) -> tuple[list[str], int]:
    """Every forbidden link seen by ``user`` ("page → link (403)"), and how many pages were opened."""
    client = client_as(user)
    seen: set[str] = {"/"}
    budget: dict[str, int] = {}
    queue: deque[tuple[str, str]] = deque([("(start)", "/")])
    forbidden: list[str] = []
    opened = 0
    while queue:
        referrer, path = queue.popleft()
        response = client.get(path)
        opened += 1
        if response.status_code == 403:
            forbidden.append(f"{referrer} → {path}")
            continue
        if response.status_code in (301, 302) and response.get("Location", "").startswith("/"):
            targets = [response["Location"]]
        elif response.status_code == 200 and "html" in response.get("Content-Type", "") and not response.streaming:
            targets = links_of(path, response.content.decode(errors="replace"))
        else:
            continue
        for target in targets:
            if target in seen:
                continue
            seen.add(target)
            key = pattern_of(target)
            if key is None or budget.get(key, 0) >= PER_PATTERN:
                continue
            budget[key] = budget.get(key, 0) + 1
            queue.append((path, target))
    return forbidden, opened


@pytest.fixture
def site_day(world: World) -> Iterator[World]:
    """The world with a participant only registered, one who failed screening, and a signed form (in the test's
    savepoint)."""
    dhk = world.participant.site
    coordinator, investigator = world.staff[Role.COORDINATOR], world.staff[Role.INVESTIGATOR]
    register(dhk, coordinator, mobile_phone="+8801711000001")
    failed = screen_eligible(register(dhk, coordinator, mobile_phone="+8801711000002"), coordinator, mrss_per_area=0)
    save_form(ScreeningLabs, failed, coordinator, {"hb_g_dl": 7.9}, reason="result received")
    screening_services.screen_failure_record(participant=failed, by=coordinator, note="skin too mild")
    vitals = VitalSigns.objects.get(pk=world.objects["vitals"])
    signature_sign(scope="form", record=vitals, by=investigator, password=DEFAULT_PASSWORD)
    yield world


def _two_roles(world: World) -> Any:
    """One person: coordinator at DHK and monitor at CTG."""
    person = make_user("two-roles", role=Role.COORDINATOR, site=world.participant.site)
    membership_grant(user=person, site=Site.objects.get(code="CTG"), role=Role.MONITOR, by=system_user())
    return person


# Every role, and one person with two roles at two sites; cut in two modules (``_2``) so that the two test processes
# share the crawl (a module stays in one process).
PRINCIPALS = [role.value for role in Role] + ["coordinator@DHK+monitor@CTG"]
HERE = PRINCIPALS[:4]


def crawl_as(world: World, principal: str) -> None:
    user = _two_roles(world) if "+" in principal else world.staff[principal]
    forbidden, opened = crawl(user)
    assert opened >= 5, f"the crawl opened only {opened} pages"
    assert not forbidden, f"{len(forbidden)} links answer 403 to {principal}:\n" + "\n".join(forbidden)


@pytest.mark.parametrize("principal", HERE)
def test_no_link_on_any_page_answers_403(site_day: World, principal: str) -> None:
    crawl_as(site_day, principal)
