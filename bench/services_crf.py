"""Services benchmark, scenario 4: saving a CRF with its history row against saving it without.

Runs in a process where Django is set up on a database of its own (a copy of a generated trial). The CRF is the
visit mRSS (``VisitMrss``, 17 skin scores): ``saves`` completed forms, each changed (one skin score moved by one
point) and saved once by each of three paths, one form after another, the order of the three paths rotating
from one form to the next, so a busy moment of the machine falls on all three alike:

- **with history**: the application's save path, ``visits.crf_services.visit_form_save`` with the user and a
  reason for change: permission, soft limits, ``full_clean``, the data-lock guard, the monitoring hooks
  (verification cleared, signatures invalidated, queries linked, edit checks), the required-form row, and the
  simple-history row with user and reason;
- **history switched off**: the same call with django-simple-history's own switch off
  (``SIMPLE_HISTORY_ENABLED = False``): everything above but the history row;
- **plain Django save**: ``Model.save_base()`` with ``skip_history_when_saving`` (simple-history's per-instance
  switch): one ``UPDATE`` and no validation, guard, hook or history (the floor).

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


def history_rows_added(records: list[Any], since: datetime) -> dict[str, int]:
    """The history rows written for ``records`` since ``since``, by the path that wrote them (its reason; a
    row without a known reason counts against the plain path, which must write none)."""
    from django.db.models import Count

    from visits.crfs import VisitMrss

    rows = VisitMrss.history.model.objects.filter(id__in=[r.pk for r in records], history_date__gte=since)
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
    return {
        "saves": len(records),
        "seconds": {name: round(sum(values), 3) for name, values in seconds.items()},
        "median_ms": {name: round(statistics.median(values) * 1000, 3) for name, values in seconds.items()},
        "history_rows_added": history_rows_added(records, since),
    }
