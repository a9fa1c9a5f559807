"""Services benchmark, scenario 4: the cost of one audited save of a CRF against a bare ``save_base`` of the same row.

Runs in a process where Django is set up on a database of its own (a copy of a generated trial). The CRF is the
visit mRSS (``VisitMrss``, 17 skin scores): ``saves`` completed forms, each changed (one skin score moved by one
point) and saved once by each of three paths, one form after another, the order of the three paths rotating
from one form to the next, so a busy moment of the machine falls on all three alike:

- **audited save**: the application's save path, ``visits.crf_services.visit_form_save`` with the user and a
  reason for change: permission, consent, soft limits, ``full_clean`` (the foreign keys changed only), the row
  lock with the version check and the follow-ups' probes in one read, the data-lock guard, the monitoring hooks
  (verification cleared, signatures invalidated, queries linked, edit checks), the required-form row, and the
  simple-history row with user and reason;
- **history switched off** (reference): the same call with django-simple-history's own switch off
  (``SIMPLE_HISTORY_ENABLED = False``): everything above but the history row;
- **bare save_base** (the baseline of the criterion): ``Model.save_base()`` of the same row with
  ``skip_history_when_saving`` (simple-history's per-instance switch), in autocommit: one ``UPDATE`` and no
  validation, guard, hook or history.

Criteria (issue #21, item 3a): the SQL statements of one audited save, its transaction's BEGIN and COMMIT and any
savepoint counted, ≤ 10 (counted on every form in an untimed pass after the timed ones: the median is the figure,
the largest is shown beside it, a save whose follow-ups have work to do such as linking the correction to an open
query); the audited save's time ≤ 3 × the bare ``save_base``'s.

Before the measured passes each form is saved once by the application path, untimed, so the first change's
one-off work (clearing a verification, invalidating a signature) is not counted against one path only. Each
path gives its own reason, so the history rows written are counted per path: one per save with history, none
without.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

PATHS = ("history", "no_history", "plain")
# Each path saves with its own reason, so the history rows written can be counted per path.
REASONS = {"history": "benchmark: score corrected", "no_history": "benchmark: score corrected, history off"}
COUNTED_REASON = "benchmark: statements counted"  # the untimed pass that counts statements
CRF_MAX_STATEMENTS = 10  # SQL statements of one audited save with a reason, BEGIN and COMMIT included
CRF_MAX_OVER_SAVE_BASE = 3.0  # audited save time ÷ bare save_base time of the same row
CRF_MAX_RATIO = 1.5  # audited save ÷ the same save with the history switched off


def _site_assessors() -> dict[int, Any]:
    from django.contrib.auth import get_user_model

    from trial_site.models import Site

    users = get_user_model().objects
    return {site.pk: users.get(username=f"gen-{site.code.lower()}-blinded-assessor") for site in Site.objects.all()}


def crf_records(saves: int) -> list[Any]:
    """``saves`` completed visit mRSS forms, with what their validation reads already loaded."""
    from visits.crfs import VisitForm, VisitMrss

    return list(
        VisitMrss.objects.filter(status=VisitForm.Status.COMPLETE)
        .select_related("visit__participant__end_of_study", "visit__participant__screening_mrss", "visit__site")
        .order_by("pk")[:saves]
    )


def _change(record: Any) -> None:
    """Move one skin score by one point (0 ↔ 1, 2 ↔ 3 stay within the 0–3 scale)."""
    record.face = {0: 1, 1: 0, 2: 3, 3: 2}.get(record.face, 1)


def save_with_history(record: Any, by: Any, reason: str = REASONS["history"]) -> None:
    from visits.crf_services import visit_form_save

    _change(record)
    visit_form_save(record=record, by=by, complete=True, reason=reason)


def save_history_off(record: Any, by: Any) -> None:
    from django.test import override_settings

    with override_settings(SIMPLE_HISTORY_ENABLED=False):  # entering and leaving it takes < 0.1 ms
        save_with_history(record, by, REASONS["no_history"])


def save_plain(record: Any, by: Any) -> None:
    _change(record)
    record.skip_history_when_saving = True
    try:
        record.save_base()
    finally:
        del record.skip_history_when_saving


class StatementCounter:
    """Counts the SQL one block sends on the default connection: every statement through Django's cursor (savepoints
    too) and the transaction's BEGIN and COMMIT or ROLLBACK (which psycopg sends on ``set_autocommit(False)`` and
    ``commit()``, not through a cursor)."""

    def __init__(self) -> None:
        self.sql: list[str] = []

    def __enter__(self) -> StatementCounter:
        from django.db import connection

        self.connection = connection
        connection.ensure_connection()
        set_autocommit, commit, rollback = connection.set_autocommit, connection.commit, connection.rollback

        def begin_counted(autocommit: bool, *args: Any, **kwargs: Any) -> None:
            if not autocommit and connection.get_autocommit():
                self.sql.append("BEGIN")
            set_autocommit(autocommit, *args, **kwargs)

        def commit_counted() -> None:
            self.sql.append("COMMIT")
            commit()

        def rollback_counted() -> None:
            self.sql.append("ROLLBACK")
            rollback()

        connection.set_autocommit, connection.commit, connection.rollback = (
            begin_counted,
            commit_counted,
            rollback_counted,
        )
        self.wrapper = connection.execute_wrapper(self._counted)
        self.wrapper.__enter__()
        return self

    def _counted(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.sql.append(sql)
        return execute(sql, params, many, context)

    def __exit__(self, *exc: Any) -> None:
        self.wrapper.__exit__(*exc)
        for name in ("set_autocommit", "commit", "rollback"):
            delattr(self.connection, name)


def statements_per_save(records: list[Any], assessors: dict[int, Any]) -> dict[str, Any]:
    """The statements of one audited save with a reason, for each form (untimed): the largest, the median, and the
    statements of the save that sent the most."""
    counts, most = [], []
    for record in records:
        with StatementCounter() as counter:
            save_with_history(record, assessors[record.site_id], COUNTED_REASON)
        counts.append(len(counter.sql))
        if len(counter.sql) >= len(most):
            most = counter.sql
    return {
        "max": max(counts),
        "median": statistics.median(counts),
        "savepoints": sum(1 for sql in most if sql.split()[0].upper() in {"SAVEPOINT", "RELEASE"}),
        "largest": [sql[:100] for sql in most],
    }


def history_rows_added(records: list[Any], since: datetime) -> dict[str, int]:
    """The history rows written for ``records`` since ``since``, by the path that wrote them (its reason; a
    row without a known reason counts against the plain path, which must write none)."""
    from django.db.models import Count

    from visits.crfs import VisitMrss

    rows = VisitMrss.history.model.objects.filter(id__in=[r.pk for r in records], history_date__gte=since)
    rows = rows.exclude(history_change_reason=COUNTED_REASON)
    by_reason = dict(rows.order_by().values_list("history_change_reason").annotate(count=Count("history_id")))
    found = {name: by_reason.pop(reason, 0) for name, reason in REASONS.items()}
    return {**found, "plain": sum(by_reason.values())}


def crf_save_with_vs_without(saves: int = 500) -> dict[str, Any]:
    """Scenario 4, measured in the current database."""
    from django.db import connection
    from django.utils import timezone

    assessors = _site_assessors()
    records = crf_records(saves)
    if len(records) < saves:
        raise RuntimeError(f"only {len(records)} completed mRSS forms for {saves} saves")
    connection.ensure_connection()
    for record in records:  # the untimed first change (see the module's docstring)
        save_with_history(record, assessors[record.site_id], "benchmark: first change")
    paths: dict[str, Callable[[Any, Any], None]] = {
        "history": save_with_history,
        "no_history": save_history_off,
        "plain": save_plain,
    }
    seconds: dict[str, list[float]] = {name: [] for name in PATHS}
    since = timezone.now()
    for number, record in enumerate(records):
        for name in PATHS[number % 3 :] + PATHS[: number % 3]:
            started = time.perf_counter()
            paths[name](record, assessors[record.site_id])
            seconds[name].append(time.perf_counter() - started)
    added = history_rows_added(records, since)
    return {
        "saves": len(records),
        "seconds": {name: round(sum(values), 3) for name, values in seconds.items()},
        "median_ms": {name: round(statistics.median(values) * 1000, 3) for name, values in seconds.items()},
        "history_rows_added": added,
        "statements": statements_per_save(records, assessors),
    }


# --- the report and the verdicts (pure functions of the results; ``bench/services_report.py`` calls them) ------


def crf_report(found: dict[str, Any], table: Callable[..., str], ratio: Callable[[float, float], Any]) -> str:
    saves, seconds, median, added = found["saves"], found["seconds"], found["median_ms"], found["history_rows_added"]
    labels = {
        "history": "audited save (`visit_form_save`, user and reason) with its history row",
        "no_history": "reference: the same with simple-history switched off (`SIMPLE_HISTORY_ENABLED=False`)",
        "plain": "**baseline**: bare `save_base()` of the same row (`skip_history_when_saving`: one UPDATE)",
    }
    rows = [
        [
            label,
            f"{seconds[name]:.2f}",
            f"{saves / seconds[name]:,.0f}" if seconds[name] else "—",
            f"{median[name]:.2f}",
            f"{added[name]:,}",
            ratio(seconds["history"], seconds[name]),
        ]
        for name, label in labels.items()
    ]
    statements = found.get("statements")
    counted = (
        f"SQL statements of one audited save with a reason (BEGIN and COMMIT counted, every form counted in an "
        f"untimed pass): at most {statements['max']}, median {statements['median']:g}, savepoints "
        f"{statements['savepoints']}.\n"
        if statements
        else ""
    )
    return "\n".join(
        [
            f"**4. Saving a CRF (visit mRSS): the audited save against a bare `save_base`** ({saves:,} saves per path,"
            " interleaved)\n",
            table(
                ["", "time (s)", "saves/s", "median (ms)", "history rows added", "audited save ÷ this"],
                rows,
                align="lrrrrr",
            ),
            counted,
        ]
    )


def crf_verdicts(found: dict[str, Any], ratio: Callable[[float, float], Any]) -> list[tuple[str, str, bool]]:
    """(criterion, measured, passed) of scenario 4."""
    added = found["history_rows_added"]
    rows_right = added["history"] == found["saves"] and added["no_history"] == added["plain"] == 0
    verdicts = [
        (
            "one history row per save with history, none without",
            f"{added['history']:,} / {added['no_history']} / {added['plain']}",
            rows_right,
        )
    ]
    # The figure is a save's (the median over every form saved: each form's one save that changes one score); the
    # largest is shown beside it: a save whose follow-ups have work to do (a correction linked to an open query)
    # writes more.
    statements = found.get("statements")
    typical = statements["median"] if statements else None
    verdicts.append(
        (
            f"SQL statements of one CRF save with a reason, transaction included ≤ {CRF_MAX_STATEMENTS}",
            f"{typical:g} (largest {statements['max']})" if statements else "None",
            typical is not None and typical <= CRF_MAX_STATEMENTS,
        )
    )
    history = ratio(found["seconds"]["history"], found["seconds"]["no_history"]) or 0.0
    verdicts.append((f"with ÷ without history ≤ {CRF_MAX_RATIO:g}", str(history), history <= CRF_MAX_RATIO))
    over = ratio(found["seconds"]["history"], found["seconds"]["plain"]) or 0.0
    verdicts.append(
        (
            f"audited save time ≤ {CRF_MAX_OVER_SAVE_BASE:g} × a bare save_base",
            str(over),
            over <= CRF_MAX_OVER_SAVE_BASE,
        )
    )
    return verdicts
