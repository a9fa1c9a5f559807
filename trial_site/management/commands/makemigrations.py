"""``makemigrations`` that protects history by itself: a migration that creates or alters a history table (or an
append-only log) ends with ``ProtectAppendOnly`` for it, so adding a clinical model or a field needs no hand edit of
the migration (the system check ``trial_site.E001`` still stops a server whose history table is unprotected)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.apps import apps
from django.core.management.commands.makemigrations import Command as MakeMigrations
from django.db.migrations import operations

from trial_site.audit.base import AppendOnlyModel
from trial_site.audit.history import is_history_model
from trial_site.audit.operations import ProtectAppendOnly

# Operations that create or rebuild a table (SQLite alters a table by rebuilding it, which drops its triggers).
_TABLE_OPERATIONS = (
    operations.CreateModel,
    operations.AddField,
    operations.AlterField,
    operations.RemoveField,
    operations.RenameField,
    operations.AlterUniqueTogether,
    operations.AddConstraint,
    operations.RemoveConstraint,
    operations.AddIndex,
    operations.RemoveIndex,
)


def _append_only(app_label: str, model_name: str) -> bool:
    try:
        model = apps.get_model(app_label, model_name)
    except LookupError:
        return False
    return is_history_model(model) or issubclass(model, AppendOnlyModel)


def protect_history(app_label: str, migration: Any) -> list[str]:
    """Add ``ProtectAppendOnly`` at the end of ``migration`` for each append-only table it creates or alters;
    returns the model names it protected."""
    touched: list[str] = []
    for operation in migration.operations:
        if not isinstance(operation, _TABLE_OPERATIONS):
            continue
        name = (operation.name if isinstance(operation, operations.CreateModel) else operation.model_name).lower()
        if name not in touched and _append_only(app_label, name):
            touched.append(name)
    already = {op.model_name.lower() for op in migration.operations if isinstance(op, ProtectAppendOnly)}
    added = [name for name in touched if name not in already]
    migration.operations.extend(ProtectAppendOnly(name) for name in added)
    return added


class Command(MakeMigrations):
    help = MakeMigrations.help + " History tables are made append-only in the same migration."

    def write_migration_files(self, changes: dict[str, list[Any]], *args: Any, **kwargs: Any) -> None:
        for app_label, migrations in changes.items():
            for migration in migrations:
                protect_history(app_label, migration)
        super().write_migration_files(changes, *args, **kwargs)
        _ruff(getattr(self, "written_files", []))


def _ruff(paths: list[str]) -> None:
    """Sort the imports of the written files and format them as the project's linters want (when ruff is here)."""
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not paths or not Path(ruff).exists():
        return
    subprocess.run([ruff, "check", "--quiet", "--fix", "--select", "I", *paths], check=False)  # noqa: S603
    subprocess.run([ruff, "format", "--quiet", *paths], check=False)  # noqa: S603
