"""Fixtures of the HTTP tests: gunicorn with real worker processes on the test database.

A test that uses them is transactional (the server's processes see only committed rows) and needs PostgreSQL::

    @pytest.mark.needs_postgres
    @pytest.mark.django_db(transaction=True)
    def test_something(live_gunicorn, coordinator): ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.http.server import GunicornServer, launch


@pytest.fixture
def start_gunicorn(transactional_db: None, tmp_path: Path) -> Iterator[Callable[..., GunicornServer]]:
    """Start a gunicorn: ``start_gunicorn(workers=3, env={...}, smtp=(host, port), timeout=120)``. Every server
    started is stopped, workers and all, at the end of the test (before the test database is emptied)."""
    from django.conf import settings
    from django.db import connection

    from tests.processes import worker_database_url

    servers: list[GunicornServer] = []

    def start(
        *,
        workers: int = 3,
        env: Mapping[str, str] | None = None,
        smtp: tuple[str, int] | None = None,
        timeout: int = 120,
    ) -> GunicornServer:
        assert connection.vendor == "postgresql", "gunicorn's workers need the test database on PostgreSQL"
        server = launch(
            database_url=worker_database_url(),
            directory=tmp_path / f"gunicorn-{len(servers)}",
            workers=workers,
            env=env,
            smtp=smtp,
            redis_url=settings.REDIS_URL,
            timeout=timeout,
        )
        servers.append(server)
        return server

    yield start
    for server in reversed(servers):
        server.stop()


@pytest.fixture
def live_gunicorn(start_gunicorn: Callable[..., GunicornServer]) -> GunicornServer:
    """Gunicorn with 3 sync workers on the test database."""
    return start_gunicorn()


@pytest.fixture
def smtp_address(smtp_inbox: Any, settings: Any) -> tuple[str, int]:
    """The loopback SMTP server of ``smtp_inbox`` (its messages in ``smtp_inbox.messages``), for
    ``start_gunicorn(smtp=smtp_address)``."""
    return settings.EMAIL_HOST, settings.EMAIL_PORT
