"""Every URL of the project × every role and anonymous → the status the permission matrix
(``tests/security/permission_matrix.py``) says, on realistic data.

The URL configuration is walked, so a URL added without a line in the matrix (or a line left for a URL that is
gone) fails here by name. Each refusal must be in the access log; a POST from a role that may not make it is
refused (403) and writes nothing; anonymous visitors are sent to the login page, for POST as for GET.

The other security tests of this package: ``test_cross_site`` (another site's objects are 404), ``test_csrf``,
``test_fuzz_forms``, ``test_injection`` and ``test_deploy_check``. The blinded-user render test over every page
is ``tests/randomization/test_blinding.py`` (a blinded user sees no arm and no drug name anywhere, and no page
depends on the arm); it walks the same URL configuration and is not repeated here.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.security.conftest import (
    ANONYMOUS,
    COLUMN_OF,
    PRINCIPALS,
    Walk,
    World,
    client_as,
    denied_paths,
    first_sender,
    form_posting_to,
    last_access_event_id,
    url_routes,
    without_query,
    writes_during,
)
from tests.security.html_forms import PostForm
from tests.security.permission_matrix import POST_FILLED_IN, parse_matrix

MATRIX = parse_matrix()
LOGIN = "/accounts/login/"


def test_every_url_has_an_expectation_and_a_sample_and_every_expectation_a_url(world: World) -> None:
    routes = url_routes()
    without_expectation = sorted(set(routes) - set(MATRIX))
    assert not without_expectation, f"URLs with no line in tests/security/permission_matrix.py: {without_expectation}"
    gone = sorted(set(MATRIX) - set(routes))
    assert not gone, f"permission_matrix.py has lines for URLs that no longer exist: {gone}"
    assert not sorted(set(routes) - set(world.samples)), "URLs with no sample address in conftest.sample_paths"
    assert len(routes) >= 60, routes  # the walk really reached every app's URLs


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_each_url_answers_a_get_as_the_matrix_says(principal: str, world: World, walk: Walk) -> None:
    column = COLUMN_OF[principal]
    wrong = {}
    for name in url_routes():
        path = world.samples[name]
        got, expected = walk[principal, path], MATRIX[name][column].get
        if got.status != expected:
            wrong[name] = f"{path}: expected {expected}, got {got.status}"
        elif principal == ANONYMOUS and got.status == 302 and not got.location.startswith(LOGIN):
            wrong[name] = f"{path}: anonymous sent to {got.location}, not to the login page"
    assert not wrong, f"{principal}: {wrong}"
    if principal != ANONYMOUS:
        refused = {without_query(world.samples[name]) for name, row in MATRIX.items() if row[column].get == 403}
        assert refused, principal  # every role is refused something
        unlogged = sorted(refused - walk.refusals_logged[principal])
        assert not unlogged, f"{principal}: refused without an access-log entry: {unlogged}"


def _expected_post(principal: str, name: str) -> int | None:
    expected = MATRIX[name][COLUMN_OF[principal]]
    if expected.post is not None:
        return expected.post
    if expected.get == 403:
        return 403
    if principal == ANONYMOUS and expected.get == 302:
        return 302
    return None


def _body(form: PostForm | None, name: str) -> dict[str, list[str]]:
    body = form.browser_body() if form is not None else {}
    return {**body, **{field: [value] for field, value in POST_FILLED_IN.get(name, {}).items()}}


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_a_post_the_role_may_not_make_is_refused_logged_and_writes_nothing(
    principal: str, world: World, forms_seen: Any
) -> None:
    """The body is the form a permitted user's browser sends there (found on the walked pages), so a refusal is for
    the permission, not for a missing field."""
    user = world.user(principal)
    client = client_as(user)
    since = last_access_event_id()
    checked, wrong = [], {}
    for name in url_routes():
        expected = _expected_post(principal, name)
        if expected is None:
            continue
        path = world.samples[name]
        body = _body(form_posting_to(forms_seen, path), name)
        response, writes = writes_during(lambda path=path, body=body: client.post(path, body))
        checked.append(path)
        if response.status_code != expected:
            wrong[name] = f"POST {path}: expected {expected}, got {response.status_code}"
        elif expected == 302 and not response["Location"].startswith(LOGIN):
            wrong[name] = f"POST {path}: sent to {response['Location']}, not to the login page"
        if writes:
            wrong[f"{name} (writes)"] = writes
    assert not wrong, f"{principal}: {wrong}"
    assert len(checked) >= 15, checked
    if user is not None:
        refused = {
            without_query(world.samples[name]) for name in url_routes() if _expected_post(principal, name) == 403
        }
        unlogged = sorted(refused - denied_paths(since, user.username))
        assert not unlogged, f"{principal}: POST refused without an access-log entry: {unlogged}"


def test_the_post_bodies_of_read_only_roles_are_accepted_from_the_roles_that_may_send_them(
    world: World, forms_seen: Any
) -> None:
    """A role that may read a page but not change it (``200/403``) is refused the very form a permitted user sends:
    every such page has a form on the walk, and the role that was shown it is not refused when it sends it.
    (POST-only URLs check the permission before they read the body, which may then be empty.)"""
    read_only = [name for name, row in MATRIX.items() if any(c.get == 200 and c.post == 403 for c in row.values())]
    # 6 since the schedule, visit and medication pages take no POST: their forms post to action URLs
    # (visits:visit_done, …), which refuse a read-only role outright (403 to a GET and a POST alike, checked above).
    assert len(read_only) >= 6, read_only
    clients: dict[str, Any] = {}
    refused = {}
    for name in read_only:
        path = world.samples[name]
        found = first_sender(forms_seen, path)
        assert found is not None, f"no page of the walk shows a form posting to {name} ({path})"
        sender, form = found
        client = clients.setdefault(sender, client_as(world.user(sender)))
        status = client.post(path, _body(form, name)).status_code
        if status == 403 or MATRIX[name][COLUMN_OF[sender]].post == 403:
            refused[name] = f"{sender}: {status}"
    assert not refused, f"the permitted role's own form was refused: {refused}"
