"""``database_roles``: create or correct the database's two roles, idempotently, from a superuser's connection.

The owner comes from ``MIGRATION_DATABASE_URL`` (it migrates), the application role from ``DATABASE_URL`` (web,
worker and beat); both name the same database. The superuser's URL is ``--admin-url`` or ``DATABASE_ADMIN_URL``.
See ``trial_site/database_roles.py`` for what is set up.
"""

from __future__ import annotations

import os
from typing import Any

import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from trial_site.database_roles import RoleSetupError, database_roles_ensure, redacted, role_plan


class Command(BaseCommand):
    help = (
        "Create or correct the owner (MIGRATION_DATABASE_URL) and the application role (DATABASE_URL) of the "
        "database, from a superuser's connection (--admin-url or DATABASE_ADMIN_URL). Safe to run again."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--admin-url",
            default=os.environ.get("DATABASE_ADMIN_URL", ""),
            help="a PostgreSQL superuser's URL (default: DATABASE_ADMIN_URL)",
        )
        parser.add_argument(
            "--owner-may-create-databases",
            action="store_true",
            help="let the owner create databases (the test runner creates its test databases as the owner)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["admin_url"]:
            raise CommandError("give a superuser's URL: --admin-url or DATABASE_ADMIN_URL")
        if not settings.MIGRATION_DATABASE_URL:
            raise CommandError("MIGRATION_DATABASE_URL (the owner's URL) is not set")
        try:
            plan = role_plan(application_url=settings.DATABASE_URL, owner_url=settings.MIGRATION_DATABASE_URL)
            database_roles_ensure(
                admin_url=options["admin_url"],
                plan=plan,
                owner_may_create_databases=options["owner_may_create_databases"],
                say=self.stdout.write,
            )
        except (RoleSetupError, psycopg.Error) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"roles ready: migrate as {redacted(settings.MIGRATION_DATABASE_URL)}")
