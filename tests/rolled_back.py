"""Data built once for a module or a package, inside a transaction rolled back at its end: each test then runs in a
savepoint of it (pytest-django's ``db``), and nothing outlives the module."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import transaction


@contextmanager
def rolled_back(django_db_blocker: Any) -> Iterator[None]:
    """Database access for a fixture wider than a test, in one transaction that is rolled back, never committed."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
