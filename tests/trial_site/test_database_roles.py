"""The database role the application runs as cannot un-audit: it owns nothing, so it cannot drop or disable the
append-only triggers, nor switch them off for its session; it reads and writes rows. The deployment check warns when
the application connects as a superuser or an owner; ``manage.py database_roles`` sets the two roles up.

CI runs the whole suite as such a role (``.ci/run``: DATABASE_URL the application's role, MIGRATION_DATABASE_URL
the owner's, DATABASE_ADMIN_URL a superuser's); these tests prove it. In a developer's run with one role they skip
(and fail with CI=true).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.db.utils import load_backend
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.audit_probe.models import AuditProbe
from tests.conftest import IN_CI, application_role_of_the_tests
from tests.processes import CONFIGURATION_VARIABLES, PROJECT_ROOT
from trial_site.audit.protection import protect_table, protected_tables
from trial_site.checks import append_only_models
from trial_site.database_roles import (
    RoleSetupError,
    login_of,
    owner_settings,
    role_plan,
    role_problems,
)
from trial_site.roles import Role

pytestmark = pytest.mark.needs_postgres

HISTORY = AuditProbe.history.model._meta.db_table


def _unavailable(problem: str) -> None:
    if IN_CI:
        pytest.fail(f"{problem} (CI=true: .ci/run sets it up)")
    pytest.skip(problem)


@pytest.fixture
def application_role(db: Any) -> str:
    """The role the tests connect as, which must be the application's role (not the tables' owner)."""
    if application_role_of_the_tests() is None:
        _unavailable("the tests connect as the owner of the tables: set MIGRATION_DATABASE_URL to another role")
    return str(connection.settings_dict["USER"])


def admin_url() -> str:
    """A superuser's URL (DATABASE_ADMIN_URL, or the tests' own role when it is a superuser)."""
    if os.environ.get("DATABASE_ADMIN_URL"):
        return os.environ["DATABASE_ADMIN_URL"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if cursor.fetchone()[0]:
            database = connection.settings_dict
            return f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/postgres"
    _unavailable("no superuser to ask: set DATABASE_ADMIN_URL")
    return ""


def url_as(user: str, password: str = "", database: str | None = None) -> str:
    """The test database's URL as another role."""
    settings_dict = connection.settings_dict
    login = f"{user}:{password}" if password else user
    return f"postgres://{login}@{settings_dict['HOST']}:{settings_dict['PORT']}/{database or settings_dict['NAME']}"


@pytest.fixture
def probe(site: Any, user_with_role: Any) -> AuditProbe:
    record = AuditProbe(site=site, label="first", severity=1, score=3)
    record.save(by=user_with_role(Role.COORDINATOR))
    return record


# --- As the application's role -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("DROP TRIGGER append_only_rows ON {table}", "must be owner"),
        ("ALTER TABLE {table} DISABLE TRIGGER append_only_rows", "must be owner"),
        ("ALTER TABLE {table} DISABLE TRIGGER ALL", "must be owner"),
        ("SET session_replication_role = replica", "permission denied to set parameter"),
        ("SET LOCAL session_replication_role = replica", "permission denied to set parameter"),
        ("TRUNCATE {table}", "permission denied"),
        ("DROP TABLE {table}", "must be owner"),
        (
            "CREATE OR REPLACE FUNCTION trial_refuse_append_only_change() RETURNS trigger LANGUAGE plpgsql "
            "AS $$ BEGIN RETURN NEW; END $$",
            "permission denied for schema|must be owner",
        ),
        ("CREATE TABLE escape_hatch (id integer)", "permission denied for schema"),
    ],
    ids=[
        "drop trigger",
        "disable trigger",
        "disable all triggers",
        "session_replication_role",
        "session_replication_role local",
        "truncate",
        "drop table",
        "replace the trigger function",
        "create table",
    ],
)
def test_the_application_role_cannot_remove_the_audit_protection(
    application_role: str, probe: AuditProbe, statement: str, refusal: str
) -> None:
    table = connection.ops.quote_name(HISTORY)
    with pytest.raises(DatabaseError, match=refusal), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement.format(table=table))
    assert {model._meta.db_table for model in append_only_models()} <= set(protected_tables(connection))
    with connection.cursor() as cursor:
        cursor.execute("SHOW session_replication_role")
        assert cursor.fetchone()[0] == "origin"


def test_the_application_role_cannot_become_the_owner(application_role: str) -> None:
    owner = login_of(settings.MIGRATION_DATABASE_URL).user
    refused = pytest.raises(DatabaseError, match="permission denied to set role")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET ROLE {connection.ops.quote_name(owner)}")


@pytest.mark.parametrize(
    "statement", ["UPDATE {table} SET score = 51", "DELETE FROM {table}"], ids=["update", "delete"]
)
def test_the_application_role_cannot_change_or_delete_history(
    application_role: str, probe: AuditProbe, statement: str
) -> None:
    table = connection.ops.quote_name(HISTORY)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement.format(table=table))
    assert list(probe.history.values_list("score", flat=True)) == [3]


def test_the_application_role_writes_records_and_their_history(
    application_role: str, site: Any, user_with_role: Any
) -> None:
    coordinator = user_with_role(Role.COORDINATOR, username="writer")
    record = AuditProbe(site=site, label="new", severity=1, score=1)
    record.save(by=coordinator)
    record.score = 2
    record.save(by=coordinator, reason="corrected")
    record.delete(by=coordinator, reason="entered in error")
    assert list(AuditProbe.history.order_by("history_id").values_list("history_type", flat=True)) == ["+", "~", "-"]


def test_the_application_role_owns_nothing(application_role: str) -> None:
    with connection.cursor() as cursor:
        assert role_problems(cursor) == []
        cursor.execute("SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (False, False, False)


@pytest.mark.django_db(transaction=True)
def test_the_flush_between_tests_keeps_the_triggers(application_role: str, site: Any, user_with_role: Any) -> None:
    """Transactional tests empty the database with `flush`, which the application's role could not do alone: the
    triggers are lifted and put back by the owner's connection."""
    AuditProbe(site=site, label="gone", severity=1).save(by=user_with_role(Role.COORDINATOR))
    call_command("flush", interactive=False, verbosity=0)
    assert not AuditProbe.history.exists()
    assert {model._meta.db_table for model in append_only_models()} <= set(protected_tables(connection))
    with pytest.raises(DatabaseError, match="must be owner"), connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER append_only_rows ON {connection.ops.quote_name(HISTORY)}")


# --- The deployment check (production settings, a separate process) -------------------------------------------


def deploy_check(tmp_path: Path, database_url: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key not in CONFIGURATION_VARIABLES}
    environment.update(
        DJANGO_SETTINGS_MODULE="trial_site.settings.production",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="trial.example.org",
        VAR_DIR=str(tmp_path),
        DATABASE_URL=database_url,
    )
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_the_deployment_check_warns_when_the_application_connects_as_a_superuser(db: Any, tmp_path: Path) -> None:
    superuser = login_of(admin_url())
    result = deploy_check(tmp_path, url_as(superuser.user, superuser.password))
    assert result.returncode != 0
    assert "trial_site.W010" in result.stdout + result.stderr
    assert "is a superuser" in result.stdout + result.stderr


def test_the_deployment_check_warns_when_the_application_connects_as_the_owner(
    application_role: str, tmp_path: Path
) -> None:
    owner = login_of(settings.MIGRATION_DATABASE_URL)
    result = deploy_check(tmp_path, url_as(owner.user, owner.password))
    assert result.returncode != 0
    assert "trial_site.W010" in result.stdout + result.stderr
    assert f"the role {owner.user} owns" in result.stdout + result.stderr


def test_the_deployment_check_passes_as_the_application_role(application_role: str, tmp_path: Path) -> None:
    result = deploy_check(tmp_path, url_as(application_role, connection.settings_dict.get("PASSWORD") or ""))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "W010" not in result.stdout + result.stderr


def test_the_deployment_check_says_nothing_without_a_database(db: Any, tmp_path: Path) -> None:
    result = deploy_check(tmp_path, url_as("nobody", database="no_such_database_at_all"))
    assert result.returncode == 0, result.stdout + result.stderr


# --- manage.py database_roles ---------------------------------------------------------------------------------


def database_roles(owner_url: str, application_url: str, admin: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key not in CONFIGURATION_VARIABLES}
    environment.update(
        DJANGO_SETTINGS_MODULE="trial_site.settings.base",
        DATABASE_URL=application_url,
        MIGRATION_DATABASE_URL=owner_url,
        DATABASE_ADMIN_URL=admin,
    )
    return subprocess.run(
        [sys.executable, "manage.py", "database_roles"],
        cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, check=False,
    )  # fmt: skip


def in_database(url: str, database: str) -> str:
    """``url`` (a psycopg connection string or URL) on another database."""
    return make_conninfo(**{**conninfo_to_dict(url), "dbname": database})


@pytest.fixture
def scratch(db: Any) -> Iterator[dict[str, str]]:
    """A database and two role names of this test alone, made by the superuser: one table with the append-only
    triggers and one without, both owned by the superuser, as in a database set up before the roles existed.
    Dropped, roles and all, at the end."""
    admin = admin_url()
    suffix = f"{os.getpid()}_{secrets.token_hex(3)}"
    names = {"database": f"roles_test_{suffix}", "owner": f"roles_owner_{suffix}", "app": f"roles_app_{suffix}"}
    with psycopg.connect(admin, autocommit=True) as server:
        server.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(names["database"])))
    superuser = login_of(admin)
    old_settings = {**connection.settings_dict, "NAME": names["database"]}
    old_settings.update(USER=superuser.user, PASSWORD=superuser.password)
    old = load_backend(old_settings["ENGINE"]).DatabaseWrapper(old_settings, alias="scratch")
    try:
        with old.cursor() as cursor:
            cursor.execute("CREATE TABLE kept (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, note text)")
            cursor.execute("CREATE TABLE notes (id serial PRIMARY KEY, note text)")
        protect_table(old, "kept")
    finally:
        old.close()
    try:
        yield names
    finally:
        with psycopg.connect(admin, autocommit=True) as server:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            server.execute(drop.format(sql.Identifier(names["database"])))
            for role in (names["app"], names["owner"]):
                server.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_the_roles_command_hands_the_tables_to_the_owner_and_leaves_the_application_nothing(
    scratch: dict[str, str],
) -> None:
    admin = admin_url()
    owner_url = url_as(scratch["owner"], "owner-secret", scratch["database"])
    application_url = url_as(scratch["app"], "app-secret", scratch["database"])
    for run in ("first", "again"):
        result = database_roles(owner_url, application_url, admin)
        assert result.returncode == 0, f"{run}: {result.stdout}{result.stderr}"

    with psycopg.connect(in_database(admin, scratch["database"]), autocommit=True) as as_admin:
        owners = as_admin.execute(
            "SELECT relname, pg_get_userbyid(relowner) FROM pg_class WHERE relname IN ('kept', 'notes')"
        ).fetchall()
        assert dict(owners) == {"kept": scratch["owner"], "notes": scratch["owner"]}

    with psycopg.connect(application_url, autocommit=True) as app:
        app.execute("INSERT INTO kept (note) VALUES ('a row')")
        app.execute("INSERT INTO notes (note) VALUES ('a row')")
        app.execute("UPDATE notes SET note = 'changed'")
        for statement, refusal in [
            ("UPDATE kept SET note = 'changed'", "append-only"),
            ("DELETE FROM kept", "append-only"),
            ("DROP TRIGGER append_only_rows ON kept", "must be owner"),
            ("ALTER TABLE kept DISABLE TRIGGER ALL", "must be owner"),
            ("SET session_replication_role = replica", "permission denied"),
            ("TRUNCATE kept", "permission denied"),
            ("CREATE TABLE mine (id integer)", "permission denied"),
        ]:
            with pytest.raises(psycopg.Error, match=refusal):
                app.execute(statement)
        assert app.execute("SELECT note FROM kept").fetchall() == [("a row",)]
        assert role_problems(app.cursor()) == []

    # A table the owner makes later (a migration) is the application's to write, through default privileges.
    with psycopg.connect(owner_url, autocommit=True) as owner:
        owner.execute("CREATE TABLE later (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, note text)")
        assert role_problems(owner.cursor()) != []
    with psycopg.connect(application_url, autocommit=True) as app:
        app.execute("INSERT INTO later (note) VALUES ('written')")


def test_the_roles_command_refuses_a_superuser_or_one_role_for_both(scratch: dict[str, str]) -> None:
    admin = admin_url()
    superuser = login_of(admin).user
    owner_url = url_as(scratch["owner"], database=scratch["database"])
    result = database_roles(owner_url, url_as(superuser, database=scratch["database"]), admin)
    assert result.returncode != 0 and "superuser" in result.stderr
    result = database_roles(owner_url, owner_url, admin)
    assert result.returncode != 0 and "same role" in result.stderr
    with psycopg.connect(admin, autocommit=True) as server:
        assert server.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [superuser]).fetchone() == (True,)


def test_the_owner_and_the_application_must_name_one_database() -> None:
    with pytest.raises(RoleSetupError, match="different databases"):
        role_plan(application_url="postgres://app@db/one", owner_url="postgres://owner@db/two")
    with pytest.raises(RoleSetupError, match="same role"):
        role_plan(application_url="postgres://trial@db/one", owner_url="postgres://trial@db/one")
    assert owner_settings({"USER": "app", "PASSWORD": "a", "NAME": "n"}, "postgres://owner:o@db/n") == {
        "USER": "owner",
        "PASSWORD": "o",
        "NAME": "n",
    }
