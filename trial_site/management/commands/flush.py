"""``flush``, guarded: it erases the whole database, audit history included, so it is refused unless
``HISTORY_FLUSH_ALLOWED`` is set (only the test suite sets it, to reset the test database between tests).

Where allowed, the append-only triggers are lifted for the flush and put back straight after, in one transaction.
Lifting them (and ``TRUNCATE``) takes the owner of the tables: when the connection's role owns nothing (CI runs the
tests as such a role), that part runs on a separate connection as the owner of ``MIGRATION_DATABASE_URL``.
"""

from __future__ import annotations

from contextlib import suppress
from importlib import import_module
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management.base import CommandError
from django.core.management.color import no_style
from django.core.management.commands.flush import Command as DjangoFlushCommand
from django.core.management.sql import emit_post_migrate_signal, sql_flush
from django.db import connections

from trial_site.audit.protection import protect_table, protected_tables, unprotect_table
from trial_site.database_roles import owner_connection


class Command(DjangoFlushCommand):
    help = "Erase all data, audit history included. Refused unless HISTORY_FLUSH_ALLOWED (test suite only)."

    def handle(self, **options: Any) -> None:
        if not settings.HISTORY_FLUSH_ALLOWED:
            raise CommandError(
                "flush would erase the audit trail and is refused. Drop and re-create the database instead, "
                "if that is really what you mean."
            )
        if options["interactive"]:
            raise CommandError("flush is for the test suite: run it with --no-input")
        database = options["database"]
        connection = connections[database]
        # As Django's flush: each app's management module may connect handlers to post_migrate.
        for app_config in apps.get_app_configs():
            with suppress(ImportError):
                import_module(".management", app_config.name)
        statements = sql_flush(
            no_style(),
            connection,
            reset_sequences=options.get("reset_sequences", True),
            allow_cascade=options.get("allow_cascade", False),
        )
        with owner_connection(connection, settings.MIGRATION_DATABASE_URL) as owner:
            owner.set_autocommit(False)
            try:
                tables = protected_tables(owner)
                for table in tables:
                    unprotect_table(owner, table)
                with owner.cursor() as cursor:
                    for statement in statements:
                        cursor.execute(statement)
                for table in tables:
                    protect_table(owner, table)
            except BaseException:
                owner.rollback()
                raise
            else:
                owner.commit()
            finally:
                owner.set_autocommit(True)
        # Empty statements mean an empty database, where post_migrate would fail (as in Django's flush).
        if statements and not options.get("inhibit_post_migrate", False):
            emit_post_migrate_signal(options["verbosity"], False, database)
