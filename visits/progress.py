"""The stored state the visit lists and the reports read: each required form's ``due_on``, each visit's
``VisitProgress`` and each site's ``VisitTally`` per visit code.

The lists (missing forms, visits due, the record status dashboard) filter and page on these columns in SQL instead
of recomputing a state per row. The services that change what they depend on call ``visits_refresh`` with the
visits they changed, inside their own transaction (recording a visit done, missed, no longer due; a schedule or a
visit created; a visit form saved). ``refresh_all`` recomputes every visit in chunks, for data written without the
services (the benchmark's generator, ``bench/generate.py``) and by the data migration.

Queries of ``visits_refresh``, whatever the number of visits (at most ``CHUNK``): the lock of their progress rows
(1), the visits (1), their required forms (1), their forms' records (1: one ``UNION ALL``), the progress rows (1
upsert), the tallies (1 upsert of the differences, when there are any) and the required forms' ``due_on`` (1
update per distinct value, at most one per visit).

The tallies are sums kept as differences: each progress row holds what its visit counts (``visit_counts``), and a
change adds the new counts less the old, read under the row's lock, to the site's tally of the visit's code.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, timedelta

from django.db import transaction

from trial_site.tallies import Tally
from visits.models import OpenVisitTally, RequiredForm, Visit, VisitProgress, VisitTally

CHUNK = 2000
UNSCHEDULED = "UNS"
# The counts of a tally, as the columns of ``VisitTally`` and of the differences added to it.
VISIT_TALLY_KEY = ("site_id", "code")
TALLY_COUNTS = ("on_time", "out_of_window", "missed", "no_longer_due", "pending", "forms_required", "forms_entered")
NOT_REQUIRED = RequiredForm.Status.NOT_REQUIRED
VISITS = Tally(VisitTally, VISIT_TALLY_KEY, TALLY_COUNTS, named=lambda key: f"site {key[0]} visit {key[1]}")
OPEN_VISITS = Tally(
    OpenVisitTally,
    ("site_id", "code", "closes_on"),
    ("visits",),
    named=lambda key: f"site {key[0]} visit {key[1]} closing {key[2]:%Y-%m-%d}",
)
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


def compliance(*, code: str, done_on: date | None, earliest: date, latest: date, missed: bool, cancelled: bool) -> str:
    """A visit's compliance as the reports count it: done on time (within its window) or out of it, missed, no
    longer due (the study ended first), or pending (still to be done: overdue once its window has closed); "" for an
    unscheduled visit, which has no window."""
    if code == UNSCHEDULED:
        return ""
    if missed:
        return "missed"
    if done_on is not None:
        return "on_time" if earliest <= done_on <= latest else "out_of_window"
    return "no_longer_due" if cancelled else "pending"


def visit_counts(*, compliance: str, done: bool, required: Mapping[str, str]) -> Counter[str]:
    """What one visit adds to its site's tally: one in its compliance's column, and while it is done its forms
    required (``required``: form code → required-form status; "not required" left out) and entered."""
    counts: Counter[str] = Counter()
    if compliance:
        counts[compliance] = 1
    if done:
        counts["forms_required"] = sum(status != NOT_REQUIRED for status in required.values())
        counts["forms_entered"] = sum(status == RequiredForm.Status.ENTERED for status in required.values())
    return counts


def tallies_add(
    differences: Mapping[tuple[int, str], Counter[str]],
    open_differences: Mapping[tuple[int, str, date], Counter[str]],
) -> None:
    """Add ``differences`` ((site id, visit code) → counts) to the sites' ``VisitTally`` rows and
    ``open_differences`` ((site id, visit code, window's last day) → {"visits": n}) to their ``OpenVisitTally``
    rows: one upsert each (none for no difference)."""
    VISITS.add(differences)
    OPEN_VISITS.add(open_differences)


def visits_refresh(visit_ids: Iterable[int]) -> None:
    """Recompute the stored state of these visits (``VisitProgress`` and their required forms' ``due_on``)."""
    from visits.record_status import saved_records

    ids = sorted(set(visit_ids))
    if not ids:
        return
    with transaction.atomic():
        # The visits' progress rows are locked first, in order: two saves of one visit's forms at once (two people,
        # two forms) take turns here, and the second reads the forms once the first has committed. Unlocked, each
        # counted the other's form as not entered and the last to write left "partly entered" on a complete visit.
        # What each visit counts in the tallies now is read under the same lock.
        before = {
            row[0]: row[1:]
            for row in VisitProgress.objects.select_for_update()
            .filter(visit_id__in=ids)
            .order_by("visit_id")
            .values_list("visit_id", "compliance", "forms_required", "forms_entered", "pending_closes_on")
        }
        visits = list(
            Visit._base_manager.filter(pk__in=ids).values_list(
                "pk", "site_id", "code", "done_on", "earliest", "latest", "missed", "cancelled"
            )
        )
        required: dict[int, dict[str, str]] = defaultdict(dict)
        for visit_id, code, status in RequiredForm.objects.filter(visit_id__in=ids).values_list(
            "visit_id", "form", "status"
        ):
            required[visit_id][code] = status
        records: dict[int, dict[str, str]] = defaultdict(dict)
        for (visit_id, code), (_pk, status) in saved_records(ids).items():
            records[visit_id][code] = status
        progress = []
        differences: dict[tuple[int, str], Counter[str]] = defaultdict(Counter)
        open_differences: dict[tuple[int, str, date], Counter[str]] = defaultdict(Counter)
        for pk, site_id, code, done, earliest, latest, missed, cancelled in visits:
            now = compliance(
                code=code, done_on=done, earliest=earliest, latest=latest, missed=missed, cancelled=cancelled
            )
            counted = visit_counts(compliance=now, done=done is not None, required=required[pk])
            was_compliance, was_required, was_entered, was_closing = before.get(pk, ("", 0, 0, None))
            differences[site_id, code].update(counted)
            was = Counter({"forms_required": was_required, "forms_entered": was_entered})
            if was_compliance:
                was[was_compliance] += 1
            differences[site_id, code].subtract(was)
            if was_compliance == "pending" and was_closing is not None:
                open_differences[site_id, code, was_closing]["visits"] -= 1
            if now == "pending":
                open_differences[site_id, code, latest]["visits"] += 1
            progress.append(
                VisitProgress(
                    visit_id=pk,
                    forms=forms_progress(required[pk], records[pk]),
                    compliance=now,
                    forms_required=counted["forms_required"],
                    forms_entered=counted["forms_entered"],
                    pending_closes_on=latest if now == "pending" else None,
                )
            )
        VisitProgress.objects.bulk_create(
            progress,
            update_conflicts=True,
            unique_fields=["visit"],
            update_fields=["forms", "compliance", "forms_required", "forms_entered", "pending_closes_on"],
        )
        tallies_add(differences, open_differences)
        by_day: dict[date | None, list[int]] = defaultdict(list)
        for pk, _site, _code, done, _earliest, latest, missed, cancelled in visits:
            by_day[due_on(done_on=done, latest=latest, missed=missed, cancelled=cancelled)].append(pk)
        for day, day_visits in by_day.items():
            RequiredForm.objects.filter(visit_id__in=day_visits).exclude(due_on=day).update(due_on=day)


def tallies_recount() -> dict[tuple[int, str], Counter[str]]:
    """The tallies as counted afresh from the visits and their required forms (two ``GROUP BY`` over the whole
    trial): what ``VisitTally`` must hold. For ``check_invariants``, not for pages."""
    from django.db.models import Count, F, Q

    pending = Q(done_on__isnull=True, missed=False, cancelled=False)
    counts: dict[tuple[int, str], Counter[str]] = defaultdict(Counter)
    for row in (
        Visit._base_manager.exclude(code=UNSCHEDULED)
        .values("site_id", "code")
        .annotate(
            # A visit is never both done and missed (the constraint ``visit_not_done_and_missed``).
            n_on_time=Count("id", filter=Q(done_on__gte=F("earliest"), done_on__lte=F("latest"))),
            n_out_of_window=Count("id", filter=Q(done_on__lt=F("earliest")) | Q(done_on__gt=F("latest"))),
            n_missed=Count("id", filter=Q(missed=True)),
            n_no_longer_due=Count("id", filter=Q(done_on__isnull=True, missed=False, cancelled=True)),
            n_pending=Count("id", filter=pending),
        )
        .order_by()
    ):
        visits = ("on_time", "out_of_window", "missed", "no_longer_due", "pending")
        counts[row["site_id"], row["code"]].update({name: row[f"n_{name}"] for name in visits})
    for row in (
        RequiredForm.objects.filter(visit__done_on__isnull=False)
        .exclude(status=NOT_REQUIRED)
        .values("visit__site_id", "visit__code")
        .annotate(n_required=Count("id"), n_entered=Count("id", filter=Q(status=RequiredForm.Status.ENTERED)))
        .order_by()
    ):
        key = (row["visit__site_id"], row["visit__code"])
        counts[key].update({"forms_required": row["n_required"], "forms_entered": row["n_entered"]})
    return counts


def tallies_stored() -> dict[tuple[int, str], Counter[str]]:
    """The tallies as ``VisitTally`` holds them (rows of nothing left out)."""
    return VISITS.stored()


def open_tallies_recount() -> dict[tuple[int, str, date], Counter[str]]:
    """The pending visits counted afresh by site, code and the last day of their window (one ``GROUP BY``): what
    ``OpenVisitTally`` must hold."""
    from django.db.models import Count

    rows = (
        Visit._base_manager.filter(done_on__isnull=True, missed=False, cancelled=False)
        .exclude(code=UNSCHEDULED)
        .values("site_id", "code", "latest")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {(row["site_id"], row["code"], row["latest"]): Counter(visits=row["n"]) for row in rows}


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
