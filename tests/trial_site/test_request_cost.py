"""What a trivial logged-in page costs (#21 item 2): the session read from Redis and not written back, the user,
and the roles with the site's time zone in one query. At most 3 queries, two-factor included."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import make_site, make_user
from tests.processes import read_settings
from tests.trial_site.session_clock import cached
from trial_site.roles import Role
from trial_site.services import membership_grant, system_user

LOGIN = "/accounts/login/"
TRIVIAL_PAGE_QUERIES = 3
MEMBERSHIPS = 'SELECT "trial_site_staffmembership".'  # a query of the memberships themselves, not a subquery


def logged_in(username: str, password: str) -> Client:
    client = Client()
    assert client.post(LOGIN, {"username": username, "password": password}).status_code == 302
    return client


def queries_of(client: Client, path: str) -> list[str]:
    client.get(path)  # the first page after login (one-off work: the language, the CSRF cookie)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200
    return [query["sql"] for query in queries.captured_queries]


def test_the_statisticians_home_page_runs_at_most_three_queries(statistician: Any, password: str) -> None:
    """With Redis (production, CI): the user and the roles. Without (the demo, bench/pages.py): the session's row
    too. Never a write of the session."""
    sql = queries_of(logged_in("statistician", password), "/")
    assert len(sql) <= TRIVIAL_PAGE_QUERIES, "\n".join(sql)
    session_queries = [query for query in sql if "django_session" in query]
    assert session_queries == [] if cached() else [query.startswith("SELECT") for query in session_queries] == [True]
    assert sum(query.startswith(MEMBERSHIPS) for query in sql) == 1  # roles and time zone together


@pytest.mark.needs_redis
def test_with_two_factor_the_statisticians_home_page_still_runs_at_most_three_queries(
    statistician: Any, password: str, settings: Any
) -> None:
    settings.TWO_FACTOR_REQUIRED = True
    device = TOTPDevice.objects.create(user=statistician, name="phone", confirmed=True)
    client = logged_in("statistician", password)
    assert client.post(reverse("two_factor_verify"), {"token": f"{totp(device.bin_key):06d}"}).status_code == 302
    sql = queries_of(client, "/")
    assert len(sql) <= TRIVIAL_PAGE_QUERIES, "\n".join(sql)  # the user, the verified device, the roles


def test_the_time_zone_of_the_users_first_site_is_read_with_the_roles(site: Any, password: str) -> None:
    chattogram = make_site(code="CTG", name="Chattogram", time_zone="Asia/Kathmandu")  # before DHK by code
    user = make_user("two_sites", role=Role.COORDINATOR, site=site)
    membership_grant(user=user, site=chattogram, role=Role.MONITOR, by=system_user())
    client = logged_in("two_sites", password)
    client.get("/sites/")
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/sites/").status_code == 200
    assert timezone.get_current_timezone_name() == "Asia/Kathmandu"
    memberships = [q["sql"] for q in queries.captured_queries if q["sql"].startswith(MEMBERSHIPS)]
    assert len(memberships) == 1, memberships  # (the list of sites reads them in a subquery)


def test_production_keeps_its_database_connections_and_checks_them_before_reuse() -> None:
    result = read_settings(
        "settings.DATABASES['default']['CONN_MAX_AGE'], settings.DATABASES['default']['CONN_HEALTH_CHECKS']",
        module="trial_site.settings.production",
        SECRET_KEY="x" * 60,
        DATABASE_URL="postgres://trial@db.example/trial",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "60 True"
