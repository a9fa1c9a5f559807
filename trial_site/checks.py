"""System checks of the audit kernel, run by ``manage.py check`` (and so by CI and every test run)."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.db.migrations.loader import MigrationLoader

from trial_site.audit.base import AppendOnlyModel
from trial_site.audit.history import is_history_model
from trial_site.audit.operations import ProtectAppendOnly


def append_only_models() -> list[type]:
    """Every model whose table must refuse UPDATE and DELETE: all history models and append-only logs."""
    return [model for model in apps.get_models() if is_history_model(model) or issubclass(model, AppendOnlyModel)]


def _migrated_and_protected() -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """The models that migrations create, and those that migrations make append-only."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    migrated = set(loader.project_state().models)
    protected = set()
    for (app_label, _name), migration in loader.disk_migrations.items():
        for operation in migration.operations:
            if isinstance(operation, ProtectAppendOnly):
                protected.add((app_label, operation.model_name.lower()))
    return migrated, protected


def check_history_is_protected(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    migrated, protected = _migrated_and_protected()
    errors = []
    for model in append_only_models():
        key = (model._meta.app_label, model._meta.model_name)
        # A model no migration creates yet is left to makemigrations; once created, it must be protected.
        if key in migrated and key not in protected:
            errors.append(
                checks.Error(
                    f"The table of {model._meta.label} is not made append-only by a migration.",
                    hint=(
                        f'Add trial_site.audit.operations.ProtectAppendOnly("{model._meta.model_name}") to the '
                        f"migration of {model._meta.app_label} that creates it."
                    ),
                    obj=model,
                    id="trial_site.E001",
                )
            )
    return errors


def check_history_is_enabled(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if getattr(settings, "SIMPLE_HISTORY_ENABLED", True) is False:
        return [
            checks.Error(
                "SIMPLE_HISTORY_ENABLED is False: changes to clinical data would not be audited.",
                id="trial_site.E002",
            )
        ]
    return []


def check_follow_ups_resolve(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Every follow-up, outbox handler, invariant and record panel named in the settings must resolve: a name
    that points at nothing would otherwise silently skip a step that must happen with a write."""
    from trial_site.hooks import unresolved

    return [checks.Error(problem, id="trial_site.E003") for problem in unresolved()]


def check_database_role(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """With the production settings (``DATABASE_ROLE_CHECK``), a deployment check: the application must connect as
    a role that owns nothing, or it could drop or disable the audit triggers. Without a database to ask (CI's
    deployment check, a build step) it says nothing."""
    from django.db import DatabaseError, connections

    from trial_site.database_roles import role_problems

    if not getattr(settings, "DATABASE_ROLE_CHECK", False):
        return []
    connection = connections["default"]
    if connection.vendor != "postgresql":
        return []
    try:
        with connection.cursor() as cursor:
            problems = role_problems(cursor)
    except DatabaseError:
        return []
    return [
        checks.Warning(
            f"The application connects to the database as a role that could remove the audit protection: {problem}.",
            hint=(
                "Connect (DATABASE_URL) as a role that owns nothing and migrate as the owner "
                "(MIGRATION_DATABASE_URL): `manage.py database_roles` sets both up (README, 'Running in production')."
            ),
            id="trial_site.W010",
        )
        for problem in problems
    ]


def register() -> None:
    checks.register(check_history_is_protected, "audit")
    checks.register(check_history_is_enabled)
    checks.register(check_follow_ups_resolve)
    checks.register(check_database_role, checks.Tags.security, deploy=True)
