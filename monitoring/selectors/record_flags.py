"""The monitoring flags of many visit forms at once, for the record status dashboard and the visit grids: unresolved
queries, a verification in force, a signature in force, a lock in force. Four queries whatever the number of
records; the visits app asks through the setting ``RECORD_STATUS_FLAGS`` (it does not import monitoring)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from django.db.models import Q

from clinical.record_status import Flags
from monitoring.models import DataLock, DataQuery, Signature, SourceVerification
from monitoring.selectors.queries import UNRESOLVED

# (app_label.model, record id): how a form's record is named here and by the caller.
RecordKey = tuple[str, int]


def _key(row: Mapping[str, object]) -> RecordKey:
    return f"{row['content_type__app_label']}.{row['content_type__model']}", int(row["object_id"])  # type: ignore[call-overload]


def record_status_flags(
    *, visits: Mapping[int, int], records: Iterable[tuple[str, int, int]]
) -> tuple[dict[RecordKey, Flags], dict[int, Flags]]:
    """The flags of each record and of each visit.

    ``visits``: visit id → its participant's id; ``records``: (``app_label.model``, record id, visit id) of the
    visits' forms. A record's ``locked`` and ``signed`` count what covers it (its visit, the casebook, the whole
    database for a lock); a visit's flags are those of the visit itself (its own signature or lock, the
    casebook's, the database's)."""
    records = list(records)
    participants = sorted(set(visits.values()))
    columns = ("content_type__app_label", "content_type__model", "object_id")
    queries = Counter(
        _key(row)
        for row in DataQuery.objects.filter(participant_id__in=participants, status__in=UNRESOLVED).values(*columns)
    )
    verified = {
        _key(row)
        for row in SourceVerification.objects.filter(participant_id__in=participants, cleared_at__isnull=True).values(
            *columns
        )
    }
    signed_forms: set[RecordKey] = set()
    signed_visits: set[int] = set()
    signed_casebooks: set[int] = set()
    for row in Signature.objects.filter(participant_id__in=participants, invalidated_at__isnull=True).values(
        "scope", "visit_id", "participant_id", *columns
    ):
        if row["scope"] == Signature.Scope.CASEBOOK:
            signed_casebooks.add(row["participant_id"])
        elif row["scope"] == Signature.Scope.VISIT:
            signed_visits.add(row["visit_id"])
        elif row["object_id"] is not None:
            signed_forms.add(_key(row))
    locked_forms: set[RecordKey] = set()
    locked_visits: set[int] = set()
    locked_casebooks: set[int] = set()
    database_locked = False
    for row in DataLock.objects.filter(
        Q(scope=DataLock.Scope.DATABASE) | Q(participant_id__in=participants), unlocked_at__isnull=True
    ).values("scope", "visit_id", "participant_id", *columns):
        if row["scope"] == DataLock.Scope.DATABASE:
            database_locked = True
        elif row["scope"] == DataLock.Scope.CASEBOOK:
            locked_casebooks.add(row["participant_id"])
        elif row["scope"] == DataLock.Scope.VISIT:
            locked_visits.add(row["visit_id"])
        elif row["object_id"] is not None:
            locked_forms.add(_key(row))
    visit_flags = {
        visit_id: Flags(
            signed=visit_id in signed_visits or participant_id in signed_casebooks,
            locked=database_locked or visit_id in locked_visits or participant_id in locked_casebooks,
        )
        for visit_id, participant_id in visits.items()
    }
    form_flags = {}
    for label, pk, visit_id in records:
        key = (label, pk)
        own = visit_flags.get(visit_id, Flags())
        form_flags[key] = Flags(
            open_queries=queries.get(key, 0),
            verified=key in verified,
            signed=own.signed or key in signed_forms,
            locked=own.locked or key in locked_forms,
        )
    return form_flags, visit_flags
