"""Across sites: a user of another site asking for an object of the first site is answered 404, as if there were no
such object, and the attempt is in the access log. For every object URL of the walk and every role.

An object URL is one whose route takes a parameter (a participant's number, a visit, an adverse event, an SAE
report, a laboratory alert, a reminder, a data query, a lock, an export, a site), or whose sample names its record
in the query string (the monitoring pages: query raise, verification, signature, lock, audit field and export).
A new object URL has no sample until one is added in ``conftest.sample_paths``, and fails the matrix test until then.

No role sees every site: ``trial_site/scoping.py`` limits every participant-owned query to the sites where the
user holds an active membership (only a superuser, who holds no role, sees all). The data manager and the
administrator are therefore refused another site's objects like everyone else.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.security.conftest import (
    COLUMN_OF,
    World,
    client_as,
    denied_paths,
    form_posting_to,
    last_access_event_id,
    url_routes,
    without_query,
    writes_during,
)
from tests.security.permission_matrix import parse_matrix
from trial_site.roles import Role

MATRIX = parse_matrix()

# Object URLs whose object belongs to no site.
SITELESS = {
    "randomization:list": "an allocation list is the trial's, kept by the statistician, not a site's",
    "randomization:list_activate": "an allocation list is the trial's, kept by the statistician, not a site's",
    "protocol_version": "a protocol version is the trial's, not a site's",
}
# Pages whose sample address has a query string naming no record: lists of the user's own sites (the role-pairs
# matrix compares what they show with each site's roles alone).
QUERIED_LISTS = {
    "search": "a search lists the participants of the user's own sites; its words name no record",
}


def object_urls(world: World) -> list[str]:
    return [
        name
        for name, route in url_routes().items()
        if ("<" in route or "?" in world.samples[name]) and name not in SITELESS and name not in QUERIED_LISTS
    ]


def test_the_walk_finds_every_kind_of_object_url(world: World) -> None:
    names = set(object_urls(world))
    assert len(names) >= 35, sorted(names)
    for expected in ("site_detail", "screening:form", "visits:crf", "safety:report_sign", "safety:acknowledge",
                     "reminders:send_now", "monitoring:query", "monitoring:lock_unlock", "monitoring:sign",
                     "monitoring:verification_mark", "exports:download"):  # fmt: skip
        assert expected in names, expected


@pytest.mark.parametrize("role", list(Role), ids=[role.value for role in Role])
def test_another_sites_user_gets_404_for_every_object_and_it_is_logged(
    role: Role, world: World, forms_seen: Any
) -> None:
    """The role's permission is the same at both sites, so where the DHK user is let in (the matrix does not say
    403), the CTG user's refusal is the site's. URLs that take only POST are posted to (with the form a permitted
    user sends), the others are opened."""
    user = world.elsewhere[role.value]
    client = client_as(user)
    since = last_access_event_id()
    asked, wrong = [], {}
    for name in object_urls(world):
        expected = MATRIX[name][COLUMN_OF[role.value]]
        if expected.get == 403:
            continue  # refused for the permission before any object is looked up: the matrix checks it
        path = world.samples[name]
        if expected.get == 405:
            form = form_posting_to(forms_seen, path)
            body = form.browser_body() if form is not None else {}
            response, writes = writes_during(lambda path=path, body=body: client.post(path, body))
        else:
            response, writes = writes_during(lambda path=path: client.get(path))
        asked.append(without_query(path))
        if response.status_code != 404:
            wrong[name] = f"{path}: {response.status_code}"
        if writes:
            wrong[f"{name} (writes)"] = writes
    assert not wrong, f"a {role.value} of CTG reached DHK objects: {wrong}"
    assert asked, role
    unlogged = sorted(set(asked) - denied_paths(since, user.username))
    assert not unlogged, f"cross-site refusals not in the access log: {unlogged}"


def test_the_same_user_reaches_the_object_once_a_member_of_its_site(world: World) -> None:
    """The 404 is the site's doing: granting the CTG monitor a role at DHK opens the same addresses."""
    from trial_site.models import Site
    from trial_site.services import membership_grant, system_user

    monitor = world.elsewhere[Role.MONITOR.value]
    client = client_as(monitor)
    paths = [
        world.samples[name] for name in ("screening:participant", "visits:crf", "safety:event", "monitoring:query")
    ]
    assert {path: client.get(path).status_code for path in paths} == dict.fromkeys(paths, 404)
    membership_grant(user=monitor, site=Site.objects.get(code="DHK"), role=Role.MONITOR, by=system_user())
    assert {path: client.get(path).status_code for path in paths} == dict.fromkeys(paths, 200)
