"""The settings of the web hosts of tests/http/test_two_hosts.py: the HTTP tests' server settings, with Celery tasks
sent through Redis to a worker process instead of run in the web process that queued them (as in production)."""

from tests.http.server_settings import *  # noqa: F403

CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_EAGER_PROPAGATES = False
