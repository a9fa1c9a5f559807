"""Production: everything from ``base`` plus HTTPS-only cookies, HSTS, mandatory two-factor and persistent database
connections.

``SECRET_KEY`` must come from the environment here; the demo's generated key is never used.
"""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

if not os.environ.get("SECRET_KEY"):
    raise ImproperlyConfigured("SECRET_KEY must be set in the environment for production settings.")

from trial_site.settings.base import *  # noqa: F403
from trial_site.settings.env import env_bool, env_int

DEBUG = False
TWO_FACTOR_REQUIRED = True

SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SECURE = True
LANGUAGE_COOKIE_HTTPONLY = True
# Persistent connections: a request reuses its process's connection (kept 60 s idle, checked before reuse) instead
# of opening one: no connection set-up per page. Each gunicorn worker holds one connection.
DATABASES["default"]["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 60)  # noqa: F405
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env_bool("DB_CONN_HEALTH_CHECKS", True)  # noqa: F405
# `check --deploy` warns (trial_site.W010) when the application connects as a superuser or an owner of its tables.
DATABASE_ROLE_CHECK = True
