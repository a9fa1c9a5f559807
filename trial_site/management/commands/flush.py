"""``flush``, guarded: it erases the whole database, audit history included, so it is refused unless
``HISTORY_FLUSH_ALLOWED`` is set (only the test suite sets it, to reset the test database between tests).

Where allowed, the append-only triggers are lifted for the flush and put back straight after.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import CommandError
from django.core.management.commands.flush import Command as DjangoFlushCommand
from django.db import connections

from trial_site.audit.protection import protect_table, protected_tables, unprotect_table


class Command(DjangoFlushCommand):
    help = "Erase all data, audit history included. Refused unless HISTORY_FLUSH_ALLOWED (test suite only)."

    def handle(self, **options: Any) -> None:
        if not settings.HISTORY_FLUSH_ALLOWED:
            raise CommandError(
                "flush would erase the audit trail and is refused. Drop and re-create the database instead, "
                "if that is really what you mean."
            )
        connection = connections[options["database"]]
        tables = protected_tables(connection)
        for table in tables:
            unprotect_table(connection, table)
        try:
            super().handle(**options)
        finally:
            for table in tables:
                protect_table(connection, table)
