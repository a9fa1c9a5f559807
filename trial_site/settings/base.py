"""Settings shared by the demo, the tests and production. Every value comes from the environment.

The defaults are the demo's: a SQLite file and an embedded Celery broker under ``var/``, a secret key generated
once and kept in ``var/secret_key``, DEBUG off. Production overrides live in ``production.py``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.utils.translation import gettext_lazy as _

from trial_site.settings.env import demo_secret_key, env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

SECRET_KEY = env_str("SECRET_KEY") or demo_secret_key(VAR_DIR / "secret_key")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    # The kernel first: its templates and its `flush` command take precedence.
    "trial_site.apps.TrialSiteConfig",
    "screening.apps.ScreeningConfig",
    "randomization.apps.RandomizationConfig",
    "visits.apps.VisitsConfig",
    "safety.apps.SafetyConfig",
    "reminders.apps.RemindersConfig",
    "monitoring.apps.MonitoringConfig",
    "exports.apps.ExportsConfig",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "simple_history",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "crispy_forms",
    "crispy_bootstrap5",
    "csp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Every answer after the static files: Cache-Control: no-store.
    "trial_site.middleware.NoStoreMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "trial_site.middleware.RefuseNulBytesMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "trial_site.middleware.ActingUserMiddleware",
    "trial_site.middleware.SiteTimeZoneMiddleware",
    "trial_site.middleware.TwoFactorRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "trial_site.middleware.UniqueRaceMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # django-axes must be last.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "trial_site.urls"
WSGI_APPLICATION = "trial_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "trial_site.context_processors.navigation",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'trial.sqlite3'}"
# A connection is kept DB_CONN_MAX_AGE seconds for the requests that follow (production: 60; 0 here, a new one per
# request), checked before each request reuses it (DB_CONN_HEALTH_CHECKS): a server restart costs no failed page.
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env_int("DB_CONN_MAX_AGE", 0),
        conn_health_checks=env_bool("DB_CONN_HEALTH_CHECKS", True),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The demo's web server and Celery worker share the file: take the write lock at BEGIN and wait for it.
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # No JIT: it compiles any query the planner estimates as costly, and the audit trail's UNION of history
    # tables with correlated subqueries is estimated in millions: 20 s of compiling for 0.1 s of work (5,000
    # participants, PostgreSQL 15). Short transactional queries gain nothing from it.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The role that owns the schema and migrates, when the application connects (DATABASE_URL) as a role that owns
# nothing and so cannot drop or disable the audit triggers (trial_site/database_roles.py, `manage.py
# database_roles`). Only the roles command and the test suite's set-up and flush read it; the application's
# processes are not given it.
MIGRATION_DATABASE_URL = env_str("MIGRATION_DATABASE_URL")
# The deployment check trial_site.W010 (the application connects as a superuser or an owner): production only.
DATABASE_ROLE_CHECK = False

# --- Redis and cache ------------------------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    # Sessions are read from it on every request: a Redis that hangs costs a request 1-2 s, then the database answers.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery ---------------------------------------------------------------------------------------------------
# With REDIS_URL, Redis is broker and result store. Without it (the demo), a real worker and beat still run,
# on kombu's filesystem transport and Celery's file result backend under var/celery/.
CELERY_DATA_DIR = Path(env_str("CELERY_DATA_DIR", str(VAR_DIR / "celery")))
if REDIS_URL:
    CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
    CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", REDIS_URL)
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
else:
    CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://localhost//")
    CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", f"file://{CELERY_DATA_DIR / 'results'}")
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_DATA_DIR / "queue"),
        "data_folder_out": str(CELERY_DATA_DIR / "queue"),
        "control_folder": str(CELERY_DATA_DIR / "control"),
        "store_processed": False,
    }
    for _folder in ("queue", "control", "results"):
        (CELERY_DATA_DIR / _folder).mkdir(parents=True, exist_ok=True)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "Asia/Dhaka"
CELERY_RESULT_EXPIRES = timedelta(days=1)
CELERY_BEAT_SCHEDULE_FILENAME = str(CELERY_DATA_DIR / "beat-schedule")
# The static beat schedule: every periodic job of the system is listed here and nowhere else.
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {
        "task": "trial_site.tasks.heartbeat",
        "schedule": timedelta(seconds=env_int("CELERY_HEARTBEAT_SECONDS", 300)),
    },
    "sae-overdue-reminders": {
        "task": "safety.tasks.remind_overdue_sae_reports",
        "schedule": crontab(hour=8, minute=0),  # every morning, site time (CELERY_TIMEZONE)
    },
    "visit-reminders-sweep": {
        "task": "reminders.tasks.sweep",
        "schedule": timedelta(seconds=env_int("REMINDER_SWEEP_SECONDS", 120)),
    },
    "staff-digest": {
        "task": "reminders.tasks.send_staff_digests",
        "schedule": crontab(hour=7, minute=30),  # every morning, site time, before the clinic opens
    },
    "exports-expire": {
        "task": "exports.tasks.expire_exports",
        "schedule": timedelta(hours=1),
    },
    # Outbox rows not yet delivered (a crash after commit, a broker outage, a failed send waiting to retry).
    "outbox-sweep": {
        "task": "trial_site.tasks.outbox_sweep",
        "schedule": timedelta(seconds=env_int("OUTBOX_SWEEP_SECONDS", 60)),
    },
    # Invariants a crash could break (an allocation without its schedule, a lab panel not assessed): reported and
    # repaired, each repair audited.
    "invariants": {
        "task": "trial_site.tasks.invariants_check",
        "schedule": timedelta(minutes=env_int("INVARIANTS_CHECK_MINUTES", 15)),
    },
    # Expired sessions' rows: Django never deletes them itself (manage.py clearsessions).
    "clear-sessions": {
        "task": "trial_site.tasks.clear_sessions",
        "schedule": crontab(hour=3, minute=15),  # every night, site time
    },
}
# Who receives SAE reports besides the site's investigators (the sponsor's safety desk): comma-separated.
SAFETY_CONTACTS = env_list("SAFETY_CONTACTS", [])

# --- Exports --------------------------------------------------------------------------------------------------
# Export files are written by the worker into the export storage (STORAGES["exports"]) and served from it only to
# the user who asked; they expire (the file is deleted, the log row stays) after EXPORT_RETENTION_HOURS. Exports of
# at most EXPORT_STREAM_MAX_ROWS rows in a format that allows it stream straight to the browser; the others run as a
# Celery job with a progress bar. The storage is the file system under EXPORT_ROOT (one host), or, with
# EXPORT_S3_BUCKET, S3-compatible object storage that every web host and worker shares: the bucket (private),
# EXPORT_S3_PREFIX inside it, AWS_S3_ENDPOINT_URL for a server other than Amazon's (MinIO, Ceph, …),
# AWS_S3_REGION_NAME, and the credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the host's role. A job
# is written to a local spool file first (EXPORT_SPOOL_DIR, else the system's temporary folder), then uploaded.
EXPORT_ROOT = Path(env_str("EXPORT_ROOT", str(VAR_DIR / "exports")))
EXPORT_SPOOL_DIR = env_str("EXPORT_SPOOL_DIR")
EXPORT_S3_BUCKET = env_str("EXPORT_S3_BUCKET")
if EXPORT_S3_BUCKET:
    _s3_endpoint = env_str("AWS_S3_ENDPOINT_URL")
    EXPORT_STORAGE: dict[str, object] = {
        "BACKEND": "exports.storage_s3.ExportS3Storage",
        "OPTIONS": {
            "bucket_name": EXPORT_S3_BUCKET,
            "location": env_str("EXPORT_S3_PREFIX", "exports"),
            "endpoint_url": _s3_endpoint or None,
            "region_name": env_str("AWS_S3_REGION_NAME") or None,
            # A server at an address of its own (MinIO, a local test server) names the bucket in the path.
            "addressing_style": env_str("AWS_S3_ADDRESSING_STYLE") or ("path" if _s3_endpoint else None),
            "file_overwrite": True,
            "default_acl": None,  # the bucket's own: private
        },
    }
else:
    EXPORT_STORAGE = {"BACKEND": "exports.storage.ExportFileStorage"}
EXPORT_RETENTION_HOURS = env_int("EXPORT_RETENTION_HOURS", 72)
EXPORT_STREAM_MAX_ROWS = env_int("EXPORT_STREAM_MAX_ROWS", 20000)

# --- Visit reminders ------------------------------------------------------------------------------------------
# SMS goes through a backend: "file" writes to an outbox file the demo shows (var/outbox/sms.jsonl); "http"
# posts JSON to a gateway. SMS_GATEWAY_BODY is a JSON template: the strings "{to}", "{text}" and "{key}" are
# replaced by the number, the message and the reminder's idempotency key.
SMS_BACKEND = env_str("SMS_BACKEND", "file")
SMS_OUTBOX_PATH = Path(env_str("SMS_OUTBOX_PATH", str(VAR_DIR / "outbox" / "sms.jsonl")))
SMS_GATEWAY_URL = env_str("SMS_GATEWAY_URL")
SMS_GATEWAY_TOKEN = env_str("SMS_GATEWAY_TOKEN")
SMS_GATEWAY_BODY = env_str("SMS_GATEWAY_BODY", '{"to": "{to}", "message": "{text}", "reference": "{key}"}')
SMS_GATEWAY_ID_FIELD = env_str("SMS_GATEWAY_ID_FIELD", "message_id")
SMS_GATEWAY_STATUS_FIELD = env_str("SMS_GATEWAY_STATUS_FIELD", "status")
SMS_GATEWAY_TIMEOUT_SECONDS = env_int("SMS_GATEWAY_TIMEOUT_SECONDS", 10)
# The inbound SMS webhook (STOP replies, delivery reports): the gateway signs each call with this shared secret
# (HMAC-SHA256 over the X-Timestamp, a full stop and the body, in X-Signature; see reminders/webhook.py); empty:
# the webhook is closed. A call is valid for SMS_WEBHOOK_MAX_AGE_SECONDS and once only; over
# SMS_WEBHOOK_REFUSALS_PER_MINUTE refused calls in a minute, a client address is answered 429 until it ends.
SMS_WEBHOOK_SECRET = env_str("SMS_WEBHOOK_SECRET")
SMS_WEBHOOK_MAX_AGE_SECONDS = env_int("SMS_WEBHOOK_MAX_AGE_SECONDS", 300)
SMS_WEBHOOK_REFUSALS_PER_MINUTE = env_int("SMS_WEBHOOK_REFUSALS_PER_MINUTE", 10)
SMS_WEBHOOK_MAX_BYTES = env_int("SMS_WEBHOOK_MAX_BYTES", 16384)
# Retries of a failed send: exponential backoff from the base, with jitter; then the reminder is failed.
REMINDER_MAX_RETRIES = env_int("REMINDER_MAX_RETRIES", 5)
REMINDER_RETRY_BASE_SECONDS = env_int("REMINDER_RETRY_BASE_SECONDS", 30)
# A reminder still "sending" after this long (its worker died) is handed out again by the next sweep.
REMINDER_STUCK_MINUTES = env_int("REMINDER_STUCK_MINUTES", 30)

# --- Follow-ups between apps --------------------------------------------------------------------------------
# One table of what an app's write sets off in the apps after it, called in order by ``trial_site.hooks.follow_up``
# inside the writer's transaction (so both happen or neither). The system check trial_site.E003 resolves every
# path at start-up: a name that points at nothing stops the server instead of being skipped.
FOLLOW_UPS: dict[str, tuple[str, ...]] = {
    # Before a clinical record is written (the record): each may refuse it. The data locks.
    "clinical_write": ("monitoring.panels.refuse_locked_write",),
    # After a clinical record is saved (the record, created=, by=, reason=): source verification cleared,
    # signatures invalidated, query corrections linked, edit checks.
    "clinical_record_changed": ("monitoring.panels.clinical_record_changed",),
    # After a randomisation (allocation_id=): the visit schedule with its required forms and reminders, the stored
    # screening status ("randomised"), then the investigators' e-mail (an outbox row).
    "randomised": (
        "visits.services.visit_schedule_create",
        "screening.status_store.after_randomisation",
        "randomization.tasks.queue_randomisation_email",
    ),
    # After a participant's visit schedule or reminder choices change (participant_id=): the visit reminders.
    "schedule_changed": ("reminders.services.reminders_plan",),
    # After a laboratory panel is saved (panel_id=): the arm's hold and dose rules (laboratory alerts).
    "lab_panel_saved": ("safety.services.lab_alerts_check",),
    # After a protocol amendment is approved (version=, by=): the participants' visits still to come follow it, the
    # stored screening status is decided again where it is in force.
    "protocol_amended": ("visits.amendments.schedule_amend", "screening.status_store.after_amendment"),
}

# What leaves the system after commit is written as an outbox row in the writer's transaction and delivered by the
# worker with retries (``trial_site.outbox``). Only these callables may be named by a row (checked at start-up).
OUTBOX_HANDLERS: tuple[str, ...] = (
    "randomization.tasks.email_randomisation",
    "randomization.tasks.notify_unblinding",
    "safety.tasks.email_sae_report",
)
# The invariants that ``check_invariants`` and its beat task check and repair (each: ``(repair=bool) -> Finding``).
INVARIANTS: tuple[str, ...] = (
    "visits.invariants.allocations_have_schedules",
    "safety.invariants.lab_panels_assessed",
    "trial_site.invariants.outbox_delivered",
    "screening.status_store.states_current",
    "visits.invariants.visit_tallies_hold",
    "visits.invariants.open_visit_tallies_hold",
    "randomization.tallies.allocation_tallies_hold",
)
OUTBOX_MAX_ATTEMPTS = env_int("OUTBOX_MAX_ATTEMPTS", 8)
OUTBOX_RETRY_BASE_SECONDS = env_int("OUTBOX_RETRY_BASE_SECONDS", 30)

# What a clinical record's page shows besides the record (each gets the request and the record and returns HTML):
# its lock, signatures, verification and queries; and the flags next to each field (an open query on it).
RECORD_PANELS: tuple[str, ...] = (
    "monitoring.panels.lock_panel",
    "monitoring.panels.signature_panel",
    "monitoring.panels.verification_panel",
    "monitoring.panels.query_panel",
)
RECORD_FIELD_FLAGS: tuple[str, ...] = ("monitoring.panels.query_field_flags",)
# The monitoring flags (queries, verification, signatures, locks) of many visit forms at once, for the record status
# dashboard and the visit grids (``visits.record_status``): one callable, or none.
RECORD_STATUS_FLAGS: tuple[str, ...] = ("monitoring.selectors.record_flags.record_status_flags",)

# --- Authentication -------------------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# django-axes: 5 failures for one username (from any address) lock that username, and 5 failures from one client
# address (for any usernames) lock that address, each for 30 minutes (docs/architecture.md, "Authentication").
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=30)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# The client's address: REMOTE_ADDR, or X-Forwarded-For's when the request comes from a trusted proxy.
AXES_CLIENT_IP_CALLABLE = "trial_site.proxies.client_address"
# The reverse proxies whose X-Forwarded-For is believed (addresses or networks, comma-separated); from any other
# address the header is ignored, so it cannot be spoofed to escape a lockout or to lock out someone else.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", [])
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# The username axes records, cut to the 255 characters its attempt log holds (longer was a server error).
AXES_USERNAME_CALLABLE = "trial_site.forms.axes_username"

# Sessions: 30 idle minutes and gone when the browser closes. Read from Redis (no query) and written through to
# the database, so a Redis restart or outage logs nobody out; without REDIS_URL (each process its own cache) from
# the database. Not written on every request: a request renews the 30 minutes only when SESSION_RENEW_SECONDS
# have passed since the last save, so an idle session ends 28 to 30 minutes after its last request
# (trial_site/sessions/).
SESSION_ENGINE = "trial_site.sessions.cached_db" if REDIS_URL else "trial_site.sessions.db"
SESSION_COOKIE_AGE = 30 * 60
SESSION_RENEW_SECONDS = env_int("SESSION_RENEW_SECONDS", 2 * 60)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# Two-factor (TOTP): required for every staff login in production; the demo may switch it off.
TWO_FACTOR_REQUIRED = env_bool("TWO_FACTOR_REQUIRED", False)
OTP_TOTP_ISSUER = "dcSSc trial"

# --- Internationalisation -------------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("bn", _("Bangla"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "Asia/Dhaka"
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/bootstrap", BASE_DIR / "node_modules" / "bootstrap" / "dist"),
    # Bangla text renders the same on every computer, without a font download from outside.
    ("vendor/noto-sans-bengali", BASE_DIR / "node_modules" / "@fontsource" / "noto-sans-bengali"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    "exports": EXPORT_STORAGE,
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# --- Security headers (on in every environment) ---------------------------------------------------------------
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# --- E-mail ---------------------------------------------------------------------------------------------------
EMAIL_HOST = env_str("EMAIL_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 587)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
else:
    # The demo keeps every message as a file under var/mail/ instead of sending it.
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = VAR_DIR / "mail"
# Seconds before a hanging mail server counts as failed (the outbox retries later); never wait for ever.
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "trial@localhost")

# --- Audit ----------------------------------------------------------------------------------------------------
SIMPLE_HISTORY_REVERT_DISABLED = True
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True
# `manage.py flush` wipes the whole database, history included. Only the test suite may do that.
HISTORY_FLUSH_ALLOWED = False

# --- Logging --------------------------------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL") or "INFO"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "trial_site": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
    },
}
