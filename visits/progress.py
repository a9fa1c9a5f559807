"""The stored state the visit lists read: each required form's ``due_on`` and each visit's ``VisitProgress``.

The lists (missing forms, visits due, the record status dashboard) filter and page on these columns in SQL instead
of recomputing a state per row. The services that change what they depend on call ``visits_refresh`` with the
visits they changed, inside their own transaction (recording a visit done, missed, no longer due; a schedule or a
visit created; a visit form saved). ``refresh_all`` recomputes every visit in chunks, for data written without the
services (the benchmark's generator, ``bench/generate.py``) and by the data migration.

Queries of ``visits_refresh``, whatever the number of visits (at most ``CHUNK``): the visits (1), their required
forms (1), their forms' records (1: one ``UNION ALL``), the progress rows (1 upsert) and the required forms'
``due_on`` (1 update per distinct value, at most one per visit).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, timedelta

from django.db import transaction

from visits.models import RequiredForm, Visit, VisitProgress

CHUNK = 2000
NOT_REQUIRED = RequiredForm.Status.NOT_REQUIRED
Forms = VisitProgress.Forms


def forms_progress(required: Mapping[str, str], records: Mapping[str, str]) -> Forms:
    """What is entered of a visit's forms, by the rules of ``clinical.record_status`` (a form's state, then rules 3
    to 5 of a visit's): ``required`` form code → required-form status, ``records`` form code → the saved record's
    status ("draft" or "complete")."""
    codes = set(required) | set(records)
    states = []
    for code in codes:
        status = records.get(code)
        if status == "complete":
            states.append("complete")
        elif status is not None:
            states.append("draft")
        elif code in required and required[code] != NOT_REQUIRED:
            states.append("empty")
    if any(state in ("draft", "complete") for state in states):
        return Forms.COMPLETE if all(state == "complete" for state in states) else Forms.DRAFT
    return Forms.NOTHING if states else Forms.NONE_REQUIRED


def due_on(*, done_on: date | None, latest: date, missed: bool, cancelled: bool) -> date | None:
    """The day from which a form still required counts as missing (``RequiredForm.due_on``)."""
    if missed or cancelled:
        return None
    return done_on if done_on is not None else latest + timedelta(days=1)


def visits_refresh(visit_ids: Iterable[int]) -> None:
    """Recompute the stored state of these visits (``VisitProgress`` and their required forms' ``due_on``)."""
    from visits.record_status import saved_records

    ids = sorted(set(visit_ids))
    if not ids:
        return
    with transaction.atomic():
        visits = list(
            Visit._base_manager.filter(pk__in=ids).values_list("pk", "done_on", "latest", "missed", "cancelled")
        )
        required: dict[int, dict[str, str]] = defaultdict(dict)
        for visit_id, code, status in RequiredForm.objects.filter(visit_id__in=ids).values_list(
            "visit_id", "form", "status"
        ):
            required[visit_id][code] = status
        records: dict[int, dict[str, str]] = defaultdict(dict)
        for (visit_id, code), (_pk, status) in saved_records(ids).items():
            records[visit_id][code] = status
        VisitProgress.objects.bulk_create(
            [VisitProgress(visit_id=pk, forms=forms_progress(required[pk], records[pk])) for pk, *_ in visits],
            update_conflicts=True,
            unique_fields=["visit"],
            update_fields=["forms"],
        )
        by_day: dict[date | None, list[int]] = defaultdict(list)
        for pk, done, latest, missed, cancelled in visits:
            by_day[due_on(done_on=done, latest=latest, missed=missed, cancelled=cancelled)].append(pk)
        for day, day_visits in by_day.items():
            RequiredForm.objects.filter(visit_id__in=day_visits).exclude(due_on=day).update(due_on=day)


def refresh_all(*, chunk: int = CHUNK) -> int:
    """Recompute the stored state of every visit, ``chunk`` visits at a time; returns the number of visits. For rows
    written without the services (``bench/generate.py`` calls it after generating)."""
    done = 0
    last = 0
    while True:
        ids = list(Visit._base_manager.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:chunk])
        if not ids:
            return done
        visits_refresh(ids)
        done += len(ids)
        last = ids[-1]
