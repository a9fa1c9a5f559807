"""Services benchmark, scenario 2: the reminder sweep over 10,000 due reminders against a bare SELECT of them.

Runs in a process where Django is set up on a database of its own (a copy of a generated trial) with
``REDIS_URL`` naming a Redis database that is the Celery broker (no worker: the queued tasks stay there).

The reminders are made through the ``Reminder`` model with ``bulk_create``, as the planning service itself does
(reminders are bookkeeping rows, not clinical records, so the application writes them in bulk): two per visit
(3 and 1 days before, by SMS) for the participants who agreed to reminders, the latest visits first. The first
``due`` of them are planned and due (their due times spread over the hour before now); the others are sent
already, as the reminders of past visits would be, so the sweep has to find the due rows among many.

The sweep is what Celery beat runs, ``reminders.tasks.sweep`` (``reminders_sweep``: claim up to 500 due rows
with ``SELECT … FOR UPDATE SKIP LOCKED``, mark them sending, and after commit queue one ``send_reminder`` task
each on the broker), called until it finds nothing due, as successive beat runs would; it runs in the
benchmark's process set up as a worker process is (Celery's "in a worker" flag). The baseline is one
``SELECT id`` of the same rows with the sweep's own ``WHERE`` and ``ORDER BY``. Between repetitions the rows are
planned again, the table vacuumed and the broker's database emptied.
"""

from __future__ import annotations

import statistics
import time
from datetime import timedelta
from typing import Any

OFFSETS_DAYS = (3, 1)


def reminders_make(due: int, *, now: Any = None) -> list[int]:
    """Make ``due`` planned, due reminders and a sent one for every other (visit, offset); the due ids."""
    from django.utils import timezone

    from reminders.models import Channel, Reminder
    from visits.models import Visit

    now = now or timezone.now()
    visits = (
        Visit.objects.filter(participant__reminder_consent=True)
        .exclude(code="UNS")
        .order_by("-planned_date", "-pk")
        .values_list("pk", "site_id", "participant_id", "planned_date")
    )
    rows = []
    for visit_id, site_id, participant_id, planned in visits.iterator(5000):
        for offset in OFFSETS_DAYS:
            is_due = len(rows) < due
            moment = now - timedelta(seconds=3600 * len(rows) / due) if is_due else now - timedelta(days=offset)
            rows.append(
                Reminder(
                    site_id=site_id,
                    participant_id=participant_id,
                    visit_id=visit_id,
                    visit_date=planned,
                    offset_days=offset,
                    channel=Channel.SMS,
                    due_at=moment,
                    status=Reminder.Status.PLANNED if is_due else Reminder.Status.SENT,
                    sent_at=None if is_due else moment,
                    attempts=0 if is_due else 1,
                )
            )
    if sum(1 for row in rows if row.status == Reminder.Status.PLANNED) < due:
        raise RuntimeError(f"only {len(rows)} (visit, offset) pairs for {due} due reminders: generate a larger trial")
    Reminder.objects.bulk_create(rows, batch_size=5000)
    return list(
        Reminder.objects.filter(status=Reminder.Status.PLANNED, due_at__lte=now)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def reminders_reset(ids: list[int]) -> None:
    """Plan the reminders again (as before the sweep), vacuum the table, empty the broker's database."""
    from django.db import connection

    from reminders.models import Reminder

    Reminder.objects.filter(pk__in=ids).update(status=Reminder.Status.PLANNED, claimed_at=None)
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {Reminder._meta.db_table}")
    broker().flushdb()


def broker() -> Any:
    """The Redis client of the Celery broker's database."""
    import redis
    from django.conf import settings

    return redis.Redis.from_url(settings.CELERY_BROKER_URL)


def queued_tasks() -> int:
    """The messages waiting on the broker's default queue."""
    return int(broker().llen("celery"))


def due_select() -> tuple[str, tuple[Any, ...]]:
    """The baseline: the SQL of the sweep's ``WHERE`` and ``ORDER BY``, selecting the ids, as one statement."""
    from django.conf import settings
    from django.db.models import Q
    from django.utils import timezone

    from reminders.models import Reminder

    now = timezone.now()
    due = Q(status=Reminder.Status.PLANNED, due_at__lte=now) | Q(
        status=Reminder.Status.SENDING, claimed_at__lt=now - timedelta(minutes=settings.REMINDER_STUCK_MINUTES)
    )
    sql, params = Reminder.objects.filter(due).order_by("due_at", "pk").values_list("pk").query.sql_with_params()
    return sql, tuple(params)


def time_select() -> tuple[float, int]:
    """One bare SELECT of the due reminders' ids through the database cursor; (seconds, rows)."""
    from django.db import connection

    sql, params = due_select()
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    return time.perf_counter() - started, len(found)


def time_sweep() -> tuple[float, int, int]:
    """Beat's sweep task, run until nothing is due; (seconds, reminders handed out, sweeps run)."""
    from reminders.tasks import sweep

    handed, sweeps = 0, 0
    started = time.perf_counter()
    while True:
        claimed = sweep()  # the task's body, in this process, as the worker runs it when beat sends it
        sweeps += 1
        handed += claimed
        if not claimed:
            break
    return time.perf_counter() - started, handed, sweeps


def time_handoff(ids: list[int]) -> float:
    """For the breakdown: queueing one ``send_reminder`` per id on the broker, and nothing else."""
    from reminders.tasks import send_reminder

    started = time.perf_counter()
    for pk in ids:
        send_reminder.delay(pk)
    return time.perf_counter() - started


def sweep_vs_select(due: int = 10_000, *, repetitions: int = 3) -> dict[str, Any]:
    """Scenario 2, measured in the current database (which must have no reminders yet)."""
    from celery._state import _set_task_join_will_block, task_join_will_block

    from reminders.models import Reminder

    if Reminder.objects.exists():
        raise RuntimeError("the database has reminders already: the scenario needs a fresh copy")
    ids = reminders_make(due)
    reminders_reset(ids)
    # The sweep runs in a Celery worker, which sets this flag at start: queueing a task there does not subscribe
    # to its result on the Redis result backend (a plain process would: one more round trip per task).
    in_worker = task_join_will_block()
    _set_task_join_will_block(True)
    try:
        measured = _measure_sweeps(ids, repetitions)
    finally:
        _set_task_join_will_block(in_worker)
    return {
        "due": len(ids),
        "other_reminders": Reminder.objects.exclude(pk__in=ids).count(),
        "repetitions": repetitions,
        **measured,
    }


def _measure_sweeps(ids: list[int], repetitions: int) -> dict[str, Any]:
    from reminders.models import Reminder

    sweeps, selects, handoffs, problems = [], [], [], []
    counts: dict[str, int] = {}
    for repetition in range(repetitions):
        for _ in range(3):  # the select takes milliseconds: the median of a few
            seconds, counts["select_rows"] = time_select()
            selects.append(seconds)
        seconds, handed, counts["sweeps"] = time_sweep()
        sweeps.append(seconds)
        counts["handed_out"] = handed
        sending = Reminder.objects.filter(pk__in=ids, status=Reminder.Status.SENDING).count()
        queued = queued_tasks()
        if not handed == sending == queued == len(ids):
            problems.append(f"repetition {repetition + 1}: {handed} handed out, {sending} sending, {queued} queued")
        reminders_reset(ids)
        if repetition == 0:  # the breakdown once: it takes most of a sweep's time again
            handoffs.append(time_handoff(ids))
            reminders_reset(ids)
    return {
        "sweep_seconds": round(statistics.median(sweeps), 4),
        "select_seconds": round(statistics.median(selects), 5),
        "handoff_seconds": round(statistics.median(handoffs), 4) if handoffs else None,
        "problems": problems,
        **counts,
    }
