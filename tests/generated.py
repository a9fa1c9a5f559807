"""Helpers for tests on a trial made by the benchmark's generator (``bench.generate``)."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from trial_site.models import StaffMembership
from trial_site.roles import Role


def generated_user(role: Role) -> Any:
    """A generated user holding ``role`` (the first site's, by site code, for a role held per site)."""
    return (
        StaffMembership.objects.filter(role=role, is_active=True, user__username__startswith="gen-")
        .select_related("user")
        .order_by("site__code")
        .first()
        .user
    )


def queries_of_page(user: Any, url: str) -> int:
    """The database queries of one request of ``url`` by ``user``, after one warm-up request (caches of content
    types and the like); both must answer 200."""
    client = Client()
    client.force_login(user)
    assert client.get(url).status_code == 200, (user.username, url)  # the warm-up
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, (user.username, url)
    return len(queries)
