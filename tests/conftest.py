"""Shared fixtures and the rule for services: locally a test that needs PostgreSQL or Redis skips without it;
with CI=true it fails instead, so a missing service can never turn CI green."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.factories import DEFAULT_PASSWORD, make_site, make_user
from trial_site.roles import Role

IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _missing_service(problem: str) -> None:
    if IN_CI:
        pytest.fail(f"{problem} (CI=true: a test that needs this service fails instead of skipping)")
    pytest.skip(problem)


def redis_problem() -> str | None:
    """Why Redis cannot be used, or None when REDIS_URL answers PING."""
    url = os.environ.get("REDIS_URL", "")
    if not url:
        return "REDIS_URL is not set"
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        return f"Redis at {url} does not answer: {error}"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("needs_redis"):
        problem = redis_problem()
        if problem:
            _missing_service(problem)
    if item.get_closest_marker("needs_postgres"):
        from django.conf import settings

        engine = settings.DATABASES["default"]["ENGINE"]
        if engine != "django.db.backends.postgresql":
            _missing_service(f"needs PostgreSQL (DATABASE_URL=postgres://…), the database engine is {engine}")


# --- The test databases' roles ------------------------------------------------------------------------------
# With MIGRATION_DATABASE_URL naming another role than DATABASE_URL (CI, .ci/run), each test database is created
# and migrated as that owner, and the tests, the flush between transactional tests excepted, then connect as
# DATABASE_URL's role, which owns nothing: as the application runs in production. Without it (a developer's run,
# SQLite or one PostgreSQL role) one role does everything, as before.


def application_role_of_the_tests() -> dict[str, str] | None:
    """DATABASE_URL's role and password when the test databases are owned by another role, else None."""
    from django.conf import settings
    from django.db import connection

    from trial_site.database_roles import login_of

    if connection.vendor != "postgresql" or not settings.MIGRATION_DATABASE_URL:
        return None
    if login_of(settings.MIGRATION_DATABASE_URL).user == connection.settings_dict["USER"]:
        return None
    return {"USER": connection.settings_dict["USER"], "PASSWORD": connection.settings_dict.get("PASSWORD") or ""}


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings: None) -> dict[str, str] | None:
    """pytest-django's (each xdist process its own test database), and then, with separate roles, the owner's
    credentials for creating and migrating the test database. Returns the application role's."""
    from django.conf import settings
    from django.db import connection

    from trial_site.database_roles import owner_settings

    application = application_role_of_the_tests()
    if application is not None:
        owner = owner_settings(connection.settings_dict, settings.MIGRATION_DATABASE_URL)
        connection.settings_dict.update(USER=owner["USER"], PASSWORD=owner["PASSWORD"])
    return application


@pytest.fixture(scope="session")
def django_db_setup(
    django_db_setup: None, django_db_modify_db_settings: dict[str, str] | None, django_db_blocker: Any
) -> Iterator[None]:
    """pytest-django's (the test database created and migrated, as the owner), then with separate roles: the
    application role granted its rights on the tables, and the tests' connection switched to it. The owner takes
    the connection back at the end, to drop the test database."""
    application = django_db_modify_db_settings
    if application is None:
        yield
        return
    from django.db import connection

    from trial_site.database_roles import application_role_grant

    owner = {"USER": connection.settings_dict["USER"], "PASSWORD": connection.settings_dict.get("PASSWORD") or ""}
    with django_db_blocker.unblock():
        connection.ensure_connection()
        with connection.connection.cursor() as cursor:
            application_role_grant(cursor, owner=owner["USER"], application=application["USER"])
        connection.close()
        connection.settings_dict.update(application)
    yield
    with django_db_blocker.unblock():
        connection.close()
        connection.settings_dict.update(owner)


@pytest.fixture
def site(db: Any) -> Any:
    return make_site(code="DHK", name="BSMMU Dhaka")


@pytest.fixture
def other_site(db: Any) -> Any:
    return make_site(code="CTG", name="Chattogram Medical College", phone="+8803163000000")


@pytest.fixture
def user_with_role(site: Any) -> Callable[..., Any]:
    """Make a user holding ``role`` at ``at`` (default: the DHK site)."""

    def make(role: Any, *, username: str | None = None, at: Any = None) -> Any:
        return make_user(username or str(role), role=role, site=at or site)

    return make


@pytest.fixture
def coordinator(user_with_role: Any) -> Any:
    return user_with_role(Role.COORDINATOR)


@pytest.fixture
def investigator(user_with_role: Any) -> Any:
    return user_with_role(Role.INVESTIGATOR)


@pytest.fixture
def statistician(user_with_role: Any) -> Any:
    return user_with_role(Role.STATISTICIAN)


@pytest.fixture
def assessor(user_with_role: Any) -> Any:
    return user_with_role(Role.BLINDED_ASSESSOR)


@pytest.fixture
def password() -> str:
    return DEFAULT_PASSWORD


@pytest.fixture(autouse=True)
def _fresh_language_and_time_zone() -> Any:
    """A request activates the user's language and site time zone in the thread; do not carry them over."""
    yield
    from django.utils import timezone, translation

    translation.activate("en")
    timezone.deactivate()


class _Inbox:
    """Messages received by the loopback SMTP server, as parsed e-mails."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd calls it by this name
        from email import message_from_bytes, policy

        message = message_from_bytes(envelope.content, policy=policy.default)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 OK"


@pytest.fixture
def smtp_inbox(settings: Any) -> Any:
    """A real SMTP server on loopback (aiosmtpd); Django sends through it with its SMTP backend."""
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS, settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = False, "", ""
    try:
        yield inbox
    finally:
        controller.stop()
