"""Handing tasks to Celery without letting a broker outage break the user's request.

The data are committed before a task is queued (``transaction.on_commit``); if the broker cannot be reached
the task is logged as not queued and the request still succeeds. Work that must not be lost is kept as rows
that a periodic sweep picks up (visit reminders, overdue SAE reports), so it resumes when the broker returns.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

# What publishing raises when the broker cannot be reached (kombu wraps most of them in OperationalError).
BROKER_UNREACHABLE = (OperationalError, RedisError, OSError)

logger = logging.getLogger(__name__)


def enqueue(task: Any, *args: Any) -> bool:
    """Queue ``task`` with ``args`` now; False (and an error in the log) if the broker is unreachable."""
    try:
        task.delay(*args)
    except BROKER_UNREACHABLE:
        logger.exception("task %s%r not queued: the broker is unreachable", task.name, args)
        return False
    return True


def enqueue_on_commit(task: Any, *args: Any) -> None:
    """Queue ``task`` once the current transaction commits (never for a rolled-back change)."""
    transaction.on_commit(lambda: enqueue(task, *args))
