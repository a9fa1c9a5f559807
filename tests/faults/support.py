"""What the fault tests share: waiting for an event; holding a database write, or a read, at a known point;
ending a PostgreSQL backend; finding and killing a Celery worker's processes; reading the project's logs.

A write is held with a PostgreSQL trigger installed for the test: it takes an advisory lock that the test holds,
so a transaction that writes to the table waits there, inside the transaction, until the test lets go or ends
the connection. Nothing of the application is replaced: the request or task runs its own code to that point.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from django.conf import settings
from django.db import connection, transaction

from trial_site.database_roles import owner_connection

WAIT_SECONDS = 90  # a generous bound on waiting for an event; never a measure of speed
HOLD_LOCK_KEY = 8_310_010  # the advisory lock of these tests (any number nothing else uses)

T = TypeVar("T")


def wait_for(event: Callable[[], T], what: str, *, log: Path | None = None, seconds: float = WAIT_SECONDS) -> T:
    """Poll ``event`` until it returns something true, and return that; fail saying ``what`` did not happen
    (with the worker's log, if given) after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not (value := event()):
        if time.monotonic() > deadline:
            detail = f"\n--- {log.name} ---\n{log.read_text()}" if log is not None and log.exists() else ""
            raise AssertionError(f"{what} did not happen within {seconds} s{detail}")
        time.sleep(0.05)
    return value


class WriteHold:
    """A trigger on ``table`` (``timing``: e.g. "AFTER INSERT", "BEFORE UPDATE"; ``condition``: an optional
    ``WHEN`` expression on OLD/NEW) that makes the writing transaction wait while the test holds the lock.

    Use as a context manager (installs, and always removes, the trigger); ``close()`` and ``open()`` take and
    give back the lock, ``closed()`` holds it for a block.
    """

    def __init__(self, table: str, *, timing: str = "AFTER INSERT", condition: str = "") -> None:
        self.table, self.timing, self.condition = table, timing, condition
        self.trigger = f"fault_test_hold_{table}"[:63]

    def __enter__(self) -> WriteHold:
        when = f"WHEN ({self.condition})" if self.condition else ""
        # As the table's owner: the tests' own role (the application's, in CI) may not create triggers.
        with owner_connection(connection, settings.MIGRATION_DATABASE_URL) as owner, owner.cursor() as cursor:
            cursor.execute(
                "CREATE OR REPLACE FUNCTION fault_test_hold() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN PERFORM pg_advisory_xact_lock({HOLD_LOCK_KEY}); RETURN NEW; END $$"
            )
            cursor.execute(f'DROP TRIGGER IF EXISTS {self.trigger} ON "{self.table}"')
            cursor.execute(
                f'CREATE TRIGGER {self.trigger} {self.timing} ON "{self.table}" FOR EACH ROW {when} '
                "EXECUTE FUNCTION fault_test_hold()"
            )
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock_all()")
        with owner_connection(connection, settings.MIGRATION_DATABASE_URL) as owner, owner.cursor() as cursor:
            cursor.execute(f'DROP TRIGGER IF EXISTS {self.trigger} ON "{self.table}"')
            cursor.execute("DROP FUNCTION IF EXISTS fault_test_hold()")

    def close(self) -> None:
        """From now on a transaction that reaches the trigger waits there."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [HOLD_LOCK_KEY])

    def open(self) -> None:
        """Let the waiting transaction (and any later one) go on."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [HOLD_LOCK_KEY])

    @contextmanager
    def closed(self) -> Iterator[None]:
        """Closed while the block runs."""
        self.close()
        try:
            yield
        finally:
            self.open()

    def waiting_backend(self) -> int | None:
        """The process id of the PostgreSQL backend waiting at the trigger, if one is."""
        return backend_waiting_on("advisory")


def backend_waiting_on(lock: str) -> int | None:
    """The process id of a backend of the test database (not this one) waiting for a ``lock`` ("advisory",
    "relation", …: ``pg_stat_activity.wait_event``), if one is."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
            "AND wait_event = %s AND pid <> pg_backend_pid()",
            [lock],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def backends_waiting_for_locks() -> int:
    """How many backends of the test database (not this one) wait for a lock of any kind."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
            "AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


@contextmanager
def table_locked(table: str) -> Iterator[threading.Event]:
    """Another connection (its own thread) takes ``ACCESS EXCLUSIVE`` on ``table`` and keeps it until the block
    ends: whoever reads the table meanwhile waits. The lock queues behind transactions that have read the table
    already; the event it yields is set once the lock is granted."""
    granted, finish = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE')
                granted.set()
                finish.wait(WAIT_SECONDS)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        yield granted
    finally:
        finish.set()
        holder.join(WAIT_SECONDS)


@contextmanager
def log_records(logger_name: str, level: int = logging.WARNING) -> Iterator[list[logging.LogRecord]]:
    """The records ``logger_name`` writes meanwhile at ``level`` or above (the project's loggers do not
    propagate to pytest's handler)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(level)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


def terminate_backend(pid: int) -> None:
    """End a PostgreSQL backend as a restart or a network failure would: its client loses the connection."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        assert cursor.fetchone()[0], f"backend {pid} was not terminated"


def child_processes(pid: int) -> list[int]:
    """The direct children of process ``pid`` (a Celery worker's pool processes), from /proc."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in children.read_text().split()] if children.exists() else []


def is_gone(pid: int) -> bool:
    """True when process ``pid`` no longer runs (exited, or a zombie waiting to be reaped)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "State:\tZ" in status


def kill_hard(pid: int) -> None:
    """SIGKILL: the process gets no chance to clean up, acknowledge or roll back (the kernel closes its sockets)."""
    os.kill(pid, signal.SIGKILL)
