"""Services benchmark, scenario 2: the reminder sweep over 10,000 due reminders against the claim of the same rows.

Runs in a process where Django is set up on a database of its own (a copy of a generated trial) with
``REDIS_URL`` naming a Redis database that is the Celery broker (no worker: the queued tasks stay there).

The reminders are made through the ``Reminder`` model with ``bulk_create``, as the planning service itself does
(reminders are bookkeeping rows, not clinical records, so the application writes them in bulk): two per visit
(3 and 1 days before, by SMS) for the participants who agreed to reminders, the latest visits first. The first
``due`` of them are planned and due (their due times spread over the hour before now); the others are sent
already, as the reminders of past visits would be, so the sweep has to find the due rows among many.

The sweep is what Celery beat runs, ``reminders.tasks.sweep``, called once (``reminders_sweep``: claim up to
``CLAIM_BATCH`` due rows with one ``UPDATE … RETURNING`` over ``SELECT … FOR UPDATE SKIP LOCKED``, and after each
claim's commit queue them as ``send_reminders`` messages of ``MESSAGE_BATCH`` reminders; again until nothing is
due); it runs in the benchmark's process set up as a worker process is (Celery's "in a worker" flag). The baseline
is the claim alone: the sweep's own ``UPDATE … RETURNING`` statement over all the due rows at once, committed
(``reminders.services.claim_sql``). Between repetitions the rows are planned again, the table vacuumed and the
broker's database emptied.
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


def queued_reminders() -> list[int]:
    """The reminders in the messages waiting on the broker's default queue (each message: a list of ids)."""
    import base64
    import json

    found: list[int] = []
    for raw in broker().lrange("celery", 0, -1):
        message = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        found += args[0]
    return found


def time_claim(due: int) -> tuple[float, int]:
    """The baseline: the sweep's claim statement (``UPDATE … RETURNING``) over all the due rows, committed;
    (seconds, rows). The rows are planned again afterwards by the caller."""
    from django.db import connection, transaction
    from django.utils import timezone

    from reminders.services import claim_sql

    sql, params = claim_sql(now=timezone.now(), batch=due)
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    return time.perf_counter() - started, len(found)


def time_sweep() -> tuple[float, int, int]:
    """Beat's sweep task, run once; (seconds, reminders handed out, claims it made)."""
    from reminders.services import CLAIM_BATCH
    from reminders.tasks import sweep

    started = time.perf_counter()
    handed = sweep()  # the task's body, in this process, as the worker runs it when beat sends it
    seconds = time.perf_counter() - started
    return seconds, handed, handed // CLAIM_BATCH + 1


def time_handoff(ids: list[int]) -> float:
    """For the breakdown: queueing the same reminders as the sweep's messages on the broker, and nothing else."""
    from reminders.services import CLAIM_BATCH, _queue_deliveries

    started = time.perf_counter()
    for start in range(0, len(ids), CLAIM_BATCH):
        _queue_deliveries(ids[start : start + CLAIM_BATCH])
    return time.perf_counter() - started


def sweep_vs_claim(due: int = 10_000, *, repetitions: int = 3) -> dict[str, Any]:
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
    from reminders.services import MESSAGE_BATCH
    from reminders.tasks import sweep

    sweeps, claims, handoffs, problems = [], [], [], []
    counts: dict[str, int] = {}
    for repetition in range(repetitions):
        seconds, counts["claim_rows"] = time_claim(len(ids))
        claims.append(seconds)
        reminders_reset(ids)
        seconds, handed, counts["claims"] = time_sweep()
        sweeps.append(seconds)
        counts["handed_out"] = handed
        sending = Reminder.objects.filter(pk__in=ids, status=Reminder.Status.SENDING).count()
        queued = queued_reminders()
        counts["messages"] = int(broker().llen("celery"))
        once = sorted(queued) == sorted(ids)
        if not (handed == sending == len(ids) and once):
            problems.append(
                f"repetition {repetition + 1}: {handed} handed out, {sending} sending, {len(queued)} queued "
                f"({len(set(queued))} distinct)"
            )
        if sweep() != 0:
            problems.append(f"repetition {repetition + 1}: a second sweep found reminders still due")
        reminders_reset(ids)
        if repetition == 0:  # the breakdown once
            handoffs.append(time_handoff(ids))
            reminders_reset(ids)
    return {
        "sweep_seconds": round(statistics.median(sweeps), 4),
        "claim_seconds": round(statistics.median(claims), 4),
        "handoff_seconds": round(statistics.median(handoffs), 4) if handoffs else None,
        "message_batch": MESSAGE_BATCH,
        "problems": problems,
        **counts,
    }
