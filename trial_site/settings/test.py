"""Test settings: ``base`` as configured by the environment (SQLite or DATABASE_URL), plus test-only parts."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit


def redis_url_of_xdist_worker(url: str, worker: str) -> str:
    """The Redis database of one pytest-xdist worker process ("gw0", "gw1", …): REDIS_URL's database number minus
    the worker's index, so that one process's Celery workers never take another's tasks, locks or cache."""
    parts = urlsplit(url)
    database = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(database - int(worker.removeprefix('gw'))) % 16}"))


# Before the base settings read REDIS_URL; os.environ too, for the worker processes the tests start.
if os.environ.get("REDIS_URL") and os.environ.get("PYTEST_XDIST_WORKER", "").startswith("gw"):
    os.environ["REDIS_URL"] = redis_url_of_xdist_worker(os.environ["REDIS_URL"], os.environ["PYTEST_XDIST_WORKER"])

from trial_site.settings.base import *  # noqa: E402, F403
from trial_site.settings.base import INSTALLED_APPS, STORAGES  # noqa: E402

# A clinical model that exists only for the tests of the audit kernel.
INSTALLED_APPS = [*INSTALLED_APPS, "tests.audit_probe.apps.AuditProbeConfig"]

# The test database is thrown away after each transactional test, history and all.
HISTORY_FLUSH_ALLOWED = True

# No collectstatic needed for tests: static files are served from their sources.
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}

# Faster password hashing; the validators (12 characters minimum) still apply.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

# Refusals and failed passwords are written on a connection of their own inside a transaction
# (trial_site.services.kept_even_if_rolled_back), so that a rollback cannot take them away. Test fixtures hold
# transactions that are rolled back after the test, which such a committed row would outlive: off here, and on in
# the tests of that guarantee (tests/trial_site/test_reauthentication.py).
ACCESS_LOG_OWN_CONNECTION = False

# Tasks run in the test process when queued (their e-mails land in the test outbox). The real worker and beat,
# on both brokers, are tested as separate processes on the base settings (tests/trial_site/test_celery.py).
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
