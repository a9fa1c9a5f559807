"""Test settings: ``base`` as configured by the environment (SQLite or DATABASE_URL), plus test-only parts."""

from __future__ import annotations

from trial_site.settings.base import *  # noqa: F403
from trial_site.settings.base import INSTALLED_APPS, STORAGES

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

# Tasks run in the test process when queued (their e-mails land in the test outbox). The real worker and beat,
# on both brokers, are tested as separate processes on the base settings (tests/trial_site/test_celery.py).
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
