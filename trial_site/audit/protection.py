"""Database triggers that make a table append-only: no UPDATE, no DELETE (and on PostgreSQL no TRUNCATE).

They are installed by the ``ProtectAppendOnly`` migration operation, so they hold for every path to the
database, raw SQL from the application included. Only ``manage.py flush`` lifts them, and only where
``HISTORY_FLUSH_ALLOWED`` is set (the test suite), to wipe the whole database.
"""

from __future__ import annotations

from django.db.backends.base.base import BaseDatabaseWrapper

REFUSAL = "audit history is append-only"

_PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION trial_refuse_append_only_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{REFUSAL}: % on % refused', TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$;
"""


def _quote(connection: BaseDatabaseWrapper, name: str) -> str:
    return connection.ops.quote_name(name)


def protect_table(connection: BaseDatabaseWrapper, table: str) -> None:
    """Install the append-only triggers on ``table`` (idempotent)."""
    quoted = _quote(connection, table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_PG_FUNCTION)
            cursor.execute(
                f"CREATE OR REPLACE TRIGGER append_only_rows BEFORE UPDATE OR DELETE ON {quoted} "
                "FOR EACH ROW EXECUTE FUNCTION trial_refuse_append_only_change()"
            )
            cursor.execute(
                f"CREATE OR REPLACE TRIGGER append_only_truncate BEFORE TRUNCATE ON {quoted} "
                "FOR EACH STATEMENT EXECUTE FUNCTION trial_refuse_append_only_change()"
            )
        elif connection.vendor == "sqlite":
            for operation in ("UPDATE", "DELETE"):
                trigger = _quote(connection, f"{table}_append_only_{operation.lower()}")
                message = f"{REFUSAL}: {operation} on {table} refused"
                cursor.execute(
                    f"CREATE TRIGGER IF NOT EXISTS {trigger} BEFORE {operation} ON {quoted} "
                    f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
                )
        else:
            raise NotImplementedError(f"append-only triggers are not written for {connection.vendor}")


def unprotect_table(connection: BaseDatabaseWrapper, table: str) -> None:
    """Remove the append-only triggers from ``table`` (idempotent)."""
    quoted = _quote(connection, table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"DROP TRIGGER IF EXISTS append_only_rows ON {quoted}")
            cursor.execute(f"DROP TRIGGER IF EXISTS append_only_truncate ON {quoted}")
        elif connection.vendor == "sqlite":
            for operation in ("update", "delete"):
                cursor.execute(f"DROP TRIGGER IF EXISTS {_quote(connection, f'{table}_append_only_{operation}')}")


def protected_tables(connection: BaseDatabaseWrapper) -> list[str]:
    """Tables that carry the append-only triggers now."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT DISTINCT event_object_table FROM information_schema.triggers "
                "WHERE trigger_name = 'append_only_rows' AND trigger_schema = current_schema()"
            )
            return sorted(row[0] for row in cursor.fetchall())
        cursor.execute("SELECT tbl_name FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%_append_only_update'")
        return sorted(row[0] for row in cursor.fetchall())
