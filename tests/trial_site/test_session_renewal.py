"""Sessions end after 30 idle minutes without being written on every request (#21 item 2): a request renews the
30 minutes only once 2 have passed since the session was last saved. Time is moved by ageing the stored session
(its expiry in the database and in Redis, and the stamp of its last save), never by waiting."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.contrib.sessions.backends.cached_db import KEY_PREFIX
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.trial_site.session_clock import session_age_back, time_left
from trial_site.sessions import RENEWED_AT, needs_renewal

LOGIN = "/accounts/login/"
AGE = timedelta(seconds=settings.SESSION_COOKIE_AGE)
RENEW_AFTER = timedelta(seconds=settings.SESSION_RENEW_SECONDS)


@pytest.fixture
def client_in(coordinator: Any, password: str) -> Client:
    client = Client()
    assert client.post(LOGIN, {"username": "coordinator", "password": password}).status_code == 302
    return client


def session_key(client: Client) -> str:
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def session_writes(client: Client, path: str = "/sites/") -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return [q["sql"] for q in queries.captured_queries if "django_session" in q["sql"] and "SELECT" not in q["sql"]]


@pytest.mark.parametrize(
    ("renewed_at", "now", "due"),
    [
        (1000, 1000, False),
        (1000, 1119, False),
        (1000, 1120, True),
        (1000, 3000, True),
        (None, 1000, True),
        ("1000", 1000, True),
        (True, 1000, True),
        (2000, 1000, True),  # a stamp in the future: renewed, never trusted
    ],
)
def test_a_session_is_renewed_once_the_renewal_interval_has_passed(renewed_at: Any, now: int, due: bool) -> None:
    assert needs_renewal(renewed_at, now, 120) is due


def test_the_renewal_interval_keeps_idle_expiry_within_two_minutes_of_thirty() -> None:
    assert timedelta(minutes=30) == AGE
    assert timedelta(0) < RENEW_AFTER <= timedelta(minutes=2)


def test_a_request_soon_after_the_last_save_writes_no_session(client_in: Client) -> None:
    client_in.get("/sites/")
    left_before = time_left(session_key(client_in))["database"]
    assert session_writes(client_in) == []
    assert time_left(session_key(client_in))["database"] <= left_before


def test_a_session_idle_beyond_thirty_minutes_is_logged_out(client_in: Client) -> None:
    assert client_in.get("/sites/").status_code == 200
    session_age_back(session_key(client_in), AGE + timedelta(seconds=1))
    response = client_in.get("/sites/")
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)


def test_a_request_after_the_renewal_interval_renews_the_thirty_minutes(client_in: Client) -> None:
    key = session_key(client_in)
    session_age_back(key, AGE - timedelta(minutes=5))  # 25 idle minutes: 5 left
    assert session_writes(client_in)  # renewed: written once
    left = time_left(key)
    assert left["database"] > (AGE - timedelta(minutes=1)).total_seconds()
    if left["cache"] is not None:
        assert left["cache"] > (AGE - timedelta(minutes=1)).total_seconds()
    # 29 more idle minutes: still logged in (they were renewed), and renewed again.
    session_age_back(key, AGE - timedelta(minutes=1))
    assert client_in.get("/sites/").status_code == 200
    assert time_left(key)["database"] > (AGE - timedelta(minutes=1)).total_seconds()


def test_a_request_within_the_interval_does_not_push_the_expiry_and_idle_time_still_ends_it(
    client_in: Client,
) -> None:
    """The worst case of the rule: the last request came just before the interval ended, so did not renew; the
    session still ends no later than 30 minutes after its last save, and no earlier than 28 after that request."""
    key = session_key(client_in)
    session_age_back(key, RENEW_AFTER - timedelta(seconds=5))
    assert session_writes(client_in) == []
    session_age_back(key, AGE - RENEW_AFTER - timedelta(seconds=10))  # idle 30 - 2 min, less 10 s
    assert client_in.get("/sites/").status_code == 200  # renewed now: idle time is counted from here
    session_age_back(key, AGE + timedelta(seconds=1))
    assert client_in.get("/sites/").status_code == 302


@pytest.mark.needs_redis
def test_a_session_lost_from_redis_is_read_from_the_database(client_in: Client) -> None:
    """A Redis restart or flush logs nobody out: the session is read from its row, and cached again."""
    key = session_key(client_in)
    cache = caches[settings.SESSION_CACHE_ALIAS]
    cache.delete(KEY_PREFIX + key)
    assert client_in.get("/sites/").status_code == 200
    assert cache.get(KEY_PREFIX + key) is not None
    assert session_writes(client_in) == []  # read from Redis again


@pytest.mark.needs_redis
def test_logging_out_ends_the_session_in_redis_and_in_the_database(client_in: Client) -> None:
    key = session_key(client_in)
    client_in.post("/accounts/logout/")
    assert not Session.objects.filter(pk=key).exists()
    assert caches[settings.SESSION_CACHE_ALIAS].get(KEY_PREFIX + key) is None
    assert client_in.get("/sites/").status_code == 302


@pytest.mark.needs_redis
def test_a_copy_left_in_redis_after_its_row_is_gone_ends_at_its_next_renewal(client_in: Client) -> None:
    """A logout while Redis could not be reached deletes the row but not the cached copy: the copy is believed until
    the session is due for renewal (2 minutes), when the row is read and found gone."""
    key = session_key(client_in)
    cache = caches[settings.SESSION_CACHE_ALIAS]
    Session.objects.filter(pk=key).delete()
    assert client_in.get("/sites/").status_code == 200  # the copy, within the 2 minutes
    copy = cache.get(KEY_PREFIX + key)
    copy[RENEWED_AT] -= int(RENEW_AFTER.total_seconds())
    cache.set(KEY_PREFIX + key, copy, 600)
    response = client_in.get("/sites/")
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)
    assert cache.get(KEY_PREFIX + key) is None
