"""The migration operation that makes a model's table append-only.

Add ``ProtectAppendOnly("historicalmodelname")`` to the migration that creates an audited model's history
table (and ``ProtectAppendOnly("accessevent")`` for logs). The system check ``trial_site.E001`` names any
history table that lacks it.
"""

from __future__ import annotations

from typing import Any

from django.db.migrations.operations.base import Operation

from trial_site.audit.protection import protect_table, unprotect_table


class ProtectAppendOnly(Operation):
    reversible = True
    reduces_to_sql = False

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return (self.__class__.__name__, [self.model_name], {})

    def state_forwards(self, app_label: str, state: Any) -> None:
        """Triggers are not part of the model state."""

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        protect_table(schema_editor.connection, model._meta.db_table)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        model = from_state.apps.get_model(app_label, self.model_name)
        unprotect_table(schema_editor.connection, model._meta.db_table)

    def describe(self) -> str:
        return f"Make the table of {self.model_name} append-only (no UPDATE or DELETE)"

    @property
    def migration_name_fragment(self) -> str:
        return f"protect_{self.model_name.lower()}"
