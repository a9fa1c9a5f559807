"""Shared fixtures and the rule for services: locally a test that needs PostgreSQL or Redis skips without it;
with CI=true it fails instead, so a missing service can never turn CI green."""

from __future__ import annotations

import os
from collections.abc import Callable
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
