"""Two PostgreSQL roles, so that the application cannot un-audit its own database.

- The **owner** (``MIGRATION_DATABASE_URL``) owns the database, its ``public`` schema, every table, sequence and
  function in it, and so the append-only triggers: it migrates.
- The **application role** (``DATABASE_URL`` of web, worker and beat) reads and writes rows and owns nothing. It
  cannot ``DROP TRIGGER`` or ``ALTER TABLE … DISABLE TRIGGER`` (both need the table's owner), cannot ``TRUNCATE``
  (not granted) and cannot ``SET session_replication_role`` (superusers only), so the history triggers hold
  against it, raw SQL included.

``database_roles_ensure`` sets this up from a superuser's connection, idempotently (``manage.py database_roles``);
``application_role_grant`` gives the application role its rights on the tables the owner has made and will make
(the test suite calls it as the owner on each test database); ``role_problems`` says why a connection is not such a
role (the deployment check ``trial_site.W010``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import dj_database_url
import psycopg
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import load_backend
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

SCHEMA = "public"
TABLE_PRIVILEGES = sql.SQL("SELECT, INSERT, UPDATE, DELETE")
# USAGE (nextval) for inserts; SELECT and UPDATE (currval, setval) for Django's sequence resets after loaddata.
SEQUENCE_PRIVILEGES = sql.SQL("USAGE, SELECT, UPDATE")


class RoleSetupError(Exception):
    """The roles cannot be set up as asked (the same role twice, a superuser as the application, …)."""


@dataclass(frozen=True)
class Login:
    """A role and its password (empty: none set, as with ``trust`` authentication)."""

    user: str
    password: str = ""


@dataclass(frozen=True)
class RolePlan:
    database: str
    owner: Login
    application: Login


def login_of(url: str) -> Login:
    parsed = dj_database_url.parse(url)
    if not parsed.get("USER"):
        raise RoleSetupError(f"the database URL {redacted(url)} names no role")
    return Login(user=str(parsed["USER"]), password=str(parsed.get("PASSWORD") or ""))


def role_plan(*, application_url: str, owner_url: str) -> RolePlan:
    """The roles and database of DATABASE_URL (the application) and MIGRATION_DATABASE_URL (the owner)."""
    application, owner = dj_database_url.parse(application_url), dj_database_url.parse(owner_url)
    for parsed, name in ((application, "DATABASE_URL"), (owner, "MIGRATION_DATABASE_URL")):
        if parsed["ENGINE"] != "django.db.backends.postgresql":
            raise RoleSetupError(f"{name} is not a PostgreSQL URL")
    if application["NAME"] != owner["NAME"]:
        raise RoleSetupError(
            f"DATABASE_URL and MIGRATION_DATABASE_URL name different databases ({application['NAME']} and "
            f"{owner['NAME']})"
        )
    plan = RolePlan(database=str(owner["NAME"]), owner=login_of(owner_url), application=login_of(application_url))
    if plan.owner.user == plan.application.user:
        raise RoleSetupError(
            f"the application and the owner are the same role ({plan.owner.user}): the application would own the "
            "tables and could drop their triggers"
        )
    return plan


def redacted(url: str) -> str:
    """A database URL without its password, for messages."""
    parsed = dj_database_url.parse(url)
    return f"{parsed.get('USER') or ''}@{parsed.get('HOST') or ''}:{parsed.get('PORT') or ''}/{parsed.get('NAME')}"


# --- Setting the roles up (as a superuser) --------------------------------------------------------------------


def application_role_grant(cursor: psycopg.Cursor[Any], *, owner: str, application: str) -> None:
    """Give ``application`` its rights on what ``owner`` has made in the schema, and will make (default
    privileges). Run by the owner itself or by a superuser."""
    app, own, schema = sql.Identifier(application), sql.Identifier(owner), sql.Identifier(SCHEMA)
    for statement in (
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, app),
        sql.SQL("GRANT {} ON ALL TABLES IN SCHEMA {} TO {}").format(TABLE_PRIVILEGES, schema, app),
        sql.SQL("GRANT {} ON ALL SEQUENCES IN SCHEMA {} TO {}").format(SEQUENCE_PRIVILEGES, schema, app),
        sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT {} ON TABLES TO {}").format(
            own, schema, TABLE_PRIVILEGES, app
        ),
        sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT {} ON SEQUENCES TO {}").format(
            own, schema, SEQUENCE_PRIVILEGES, app
        ),
    ):
        cursor.execute(statement)


def _role_ensure(
    cursor: psycopg.Cursor[Any], login: Login, *, create_databases: bool, say: Callable[[str], None]
) -> None:
    cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [login.user])
    row = cursor.fetchone()
    if row is not None and row[0]:
        raise RoleSetupError(
            f"the role {login.user} is a superuser; a superuser can remove the audit triggers. Name another role."
        )
    role = sql.Identifier(login.user)
    if row is None:
        cursor.execute(sql.SQL("CREATE ROLE {} LOGIN").format(role))
        say(f"created the role {login.user}")
    attributes = sql.SQL(
        "LOGIN NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS " + ("CREATEDB" if create_databases else "NOCREATEDB")
    )
    cursor.execute(sql.SQL("ALTER ROLE {} WITH {}").format(role, attributes))
    if login.password:
        cursor.execute(sql.SQL("ALTER ROLE {} WITH PASSWORD {}").format(role, sql.Literal(login.password)))


def _ownership_transfer(cursor: psycopg.Cursor[Any], owner: str, say: Callable[[str], None]) -> None:
    """Hand every table, view, sequence and function of the schema that another role owns to ``owner`` (a database
    migrated before the roles existed, by the superuser or by the application's role)."""
    kinds = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "f": "FOREIGN TABLE"}
    cursor.execute(
        "SELECT c.oid::regclass::text, c.relkind FROM pg_class c WHERE c.relnamespace = %s::regnamespace "
        "AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND c.relowner <> %s::regrole ORDER BY 1",
        [SCHEMA, owner],
    )
    relations = cursor.fetchall()
    for name, kind in relations:
        cursor.execute(
            sql.SQL("ALTER {} {} OWNER TO {}").format(sql.SQL(kinds[kind]), sql.SQL(name), sql.Identifier(owner))
        )
    # Sequences of identity and serial columns went with their tables; free-standing ones remain.
    cursor.execute(
        "SELECT c.oid::regclass::text FROM pg_class c WHERE c.relnamespace = %s::regnamespace AND c.relkind = 'S' "
        "AND c.relowner <> %s::regrole ORDER BY 1",
        [SCHEMA, owner],
    )
    sequences = [row[0] for row in cursor.fetchall()]
    for name in sequences:
        cursor.execute(sql.SQL("ALTER SEQUENCE {} OWNER TO {}").format(sql.SQL(name), sql.Identifier(owner)))
    cursor.execute(
        "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = %s::regnamespace "
        "AND p.proowner <> %s::regrole ORDER BY 1",
        [SCHEMA, owner],
    )
    routines = [row[0] for row in cursor.fetchall()]
    for name in routines:
        cursor.execute(sql.SQL("ALTER ROUTINE {} OWNER TO {}").format(sql.SQL(name), sql.Identifier(owner)))
    moved = len(relations) + len(sequences) + len(routines)
    if moved:
        say(f"handed {moved} table(s), sequence(s) and function(s) to {owner}")


def database_roles_ensure(
    *,
    admin_url: str,
    plan: RolePlan,
    owner_may_create_databases: bool = False,
    say: Callable[[str], None] = lambda _message: None,
) -> None:
    """Create or correct the two roles and the database, from a superuser's connection (``admin_url``). Running it
    again changes nothing; it also converts a database that one role owned and used for everything."""
    admin = conninfo_to_dict(admin_url)
    with psycopg.connect(admin_url, autocommit=True) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, current_user FROM pg_roles WHERE rolname = current_user")
        is_superuser, admin_user = cursor.fetchone() or (False, "")
        if not is_superuser:
            raise RoleSetupError(f"{admin_user} is not a superuser: it cannot create and grant the roles")
        if admin_user in {plan.owner.user, plan.application.user}:
            raise RoleSetupError(f"the superuser {admin_user} cannot also be the owner or the application role")
        _role_ensure(cursor, plan.owner, create_databases=owner_may_create_databases, say=say)
        _role_ensure(cursor, plan.application, create_databases=False, say=say)
        owner, application = sql.Identifier(plan.owner.user), sql.Identifier(plan.application.user)
        # Membership would let the application SET ROLE to the owner.
        cursor.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", [plan.application.user, plan.owner.user])
        if (cursor.fetchone() or (False,))[0]:
            cursor.execute(sql.SQL("REVOKE {} FROM {}").format(owner, application))
            say(f"{plan.application.user} is no longer a member of {plan.owner.user}")
        database = sql.Identifier(plan.database)
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [plan.database])
        if cursor.fetchone() is None:
            cursor.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(database, owner))
            say(f"created the database {plan.database}")
        else:
            cursor.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(database, owner))
        cursor.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(database, application))
    target = make_conninfo(**{**admin, "dbname": plan.database})
    with psycopg.connect(target, autocommit=True) as connection, connection.cursor() as cursor:
        schema = sql.Identifier(SCHEMA)
        cursor.execute(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(schema, owner))
        cursor.execute(sql.SQL("REVOKE CREATE ON SCHEMA {} FROM PUBLIC").format(schema))
        _ownership_transfer(cursor, plan.owner.user, say)
        application_role_grant(cursor, owner=plan.owner.user, application=plan.application.user)
    say(f"{plan.owner.user} owns {plan.database}; {plan.application.user} may read and write its rows and owns nothing")


# --- The owner's connection (the test suite's flush and fixtures) ---------------------------------------------


def owner_settings(settings_dict: dict[str, Any], owner_url: str) -> dict[str, Any]:
    """``settings_dict`` (a connection's, on its database) with the owner's role and password instead."""
    owner = login_of(owner_url)
    return {**settings_dict, "USER": owner.user, "PASSWORD": owner.password}


@contextmanager
def owner_connection(connection: BaseDatabaseWrapper, owner_url: str) -> Iterator[BaseDatabaseWrapper]:
    """A separate connection to ``connection``'s database as the owner of ``owner_url``, or ``connection`` itself
    when no owner is configured (one role does everything, as in the demo and a developer's test run)."""
    if (
        not owner_url
        or connection.vendor != "postgresql"
        or login_of(owner_url).user == connection.settings_dict["USER"]
    ):
        yield connection
        return
    settings_dict = owner_settings(connection.settings_dict, owner_url)
    owner = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, alias=f"{connection.alias}-owner")
    try:
        yield owner
    finally:
        owner.close()


# --- The deployment check -------------------------------------------------------------------------------------


def role_problems(cursor: Any) -> list[str]:
    """Why the role of this connection could un-audit the database: it is a superuser, or it owns (or may become
    the owner of) a table, sequence or schema it uses. Empty for a role that owns nothing."""
    cursor.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
    user, is_superuser = cursor.fetchone()
    if is_superuser:
        return [f"the role {user} is a superuser"]
    cursor.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = ANY (current_schemas(false)) AND c.relkind IN ('r', 'p', 'S', 'v', 'm', 'f') "
        "AND pg_has_role(current_user, c.relowner, 'MEMBER') ORDER BY c.relname"
    )
    owned = [row[0] for row in cursor.fetchall()]
    cursor.execute(
        "SELECT n.nspname FROM pg_namespace n WHERE n.nspname = ANY (current_schemas(false)) "
        "AND pg_has_role(current_user, n.nspowner, 'MEMBER') ORDER BY 1"
    )
    schemas = [row[0] for row in cursor.fetchall()]
    problems = []
    if owned:
        shown = ", ".join(owned[:3]) + (f" and {len(owned) - 3} more" if len(owned) > 3 else "")
        problems.append(
            f"the role {user} owns (or may act as the owner of) {len(owned)} table(s) or sequence(s): {shown}"
        )
    if schemas:
        problems.append(f"the role {user} owns (or may act as the owner of) the schema(s) {', '.join(schemas)}")
    return problems
