"""Running the project's settings in a separate process, with an environment the test chooses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# Variables a test must set itself when it means them: never inherited from the test run.
CONFIGURATION_VARIABLES = frozenset(
    {"SECRET_KEY", "DEBUG", "DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "TWO_FACTOR_REQUIRED"}
    # The owner's and the superuser's database URLs (CI): the processes a test starts connect as the application's
    # role, which owns nothing, and are not told how to become anything more.
    | {"MIGRATION_DATABASE_URL", "DATABASE_ADMIN_URL"}
    # The browser tests' process sets this for Playwright's event loop; a child never needs it (and Django's
    # deployment check refuses it).
    | {"DJANGO_ALLOW_ASYNC_UNSAFE"}
    # Where exports are stored: a developer's shell must not point a test's process at a real bucket.
    | {"EXPORT_S3_BUCKET", "EXPORT_S3_PREFIX", "EXPORT_SPOOL_DIR", "AWS_S3_ENDPOINT_URL", "AWS_S3_REGION_NAME"}
    | {"AWS_S3_ADDRESSING_STYLE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}
)


def read_settings(
    expression: str, *, module: str = "trial_site.settings.base", **env: str
) -> subprocess.CompletedProcess[str]:
    """Print ``expression`` (Python, with ``settings`` in scope) from a fresh process on settings ``module``."""
    environment = {key: value for key, value in os.environ.items() if key not in CONFIGURATION_VARIABLES}
    environment.update({"DJANGO_SETTINGS_MODULE": module, **env})
    code = f"import django; django.setup(); from django.conf import settings; print({expression})"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, check=False
    )


def worker_database_url() -> str:
    """The address of the test database, for a worker process that must see the test's data (PostgreSQL), as the
    role the tests connect as (in CI the application's role, which owns nothing)."""
    from django.db import connection

    database = connection.settings_dict
    login = quote(database["USER"], safe="")
    if database.get("PASSWORD"):
        login += ":" + quote(database["PASSWORD"], safe="")
    return f"postgres://{login}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
