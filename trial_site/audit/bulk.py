"""The audited bulk-create path: new clinical records of one model in one ``INSERT``, their creation history rows in
a second, with the guarantees ``ClinicalRecord.save`` gives a create.

``ClinicalRecordQuerySet.bulk_create`` stays refused: this is the one way to create clinical records in bulk. For
each record it sets what the one save path sets (site stamps: created and modified at and by, the protocol version
in force at the record's site), validates it as a user's entry is validated (``full_clean``, except the existence
of its foreign keys, which the service took from rows of its own transaction: the database checks them anyway),
asks the write guards (the data locks) once per casebook and visit the records fall in, inserts the records, then
their ``+`` history rows with the values simple-history writes for a create (every tracked field, the history
user, the reason or ``None``, the time). The ``clinical_record_changed`` follow-ups run for all the records created
together: a follow-up with a ``together`` attribute (``monitoring.panels.clinical_records_created``) is called once
with all of them, any other once per record, as a single save calls it.

Records created inside one ``audited_batch()`` block (a randomisation: the allocation, then its visit schedule)
share the guard's look-up per casebook, the protocol version per site, and one call of the follow-ups at the end
of the block, inside its transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from trial_site.audit.base import ClinicalRecord, guard_clinical_write
from trial_site.audit.errors import AttributionRequired
from trial_site.hooks import targets

Record = TypeVar("Record", bound=ClinicalRecord)


@dataclass
class _Batch:
    guarded: set[tuple[Any, ...]] = field(default_factory=set)  # lock scopes the guards passed in this batch
    versions: dict[Any, str] = field(default_factory=dict)  # protocol version in force, by site
    created: list[tuple[list[ClinicalRecord], Any, str | None]] = field(default_factory=list)


_current: ContextVar[_Batch | None] = ContextVar("trial_site_audited_batch", default=None)


@contextmanager
def audited_batch() -> Iterator[None]:
    """One transaction in which records created by ``create_audited`` share the guards' look-ups and the protocol
    version, and get their follow-ups once, at the end of the block. Nested blocks join the outer one."""
    if _current.get() is not None:
        yield
        return
    batch = _Batch()
    token = _current.set(batch)
    try:
        with transaction.atomic():
            yield
            while batch.created:  # a follow-up that creates records in bulk adds them here: theirs run too
                created, batch.created = batch.created, []
                _follow_ups(created)
    finally:
        _current.reset(token)


def _follow_ups(created: list[tuple[list[ClinicalRecord], Any, str | None]]) -> None:
    groups: dict[tuple[int, str], list[ClinicalRecord]] = {}
    actors: dict[int, Any] = {}
    for records, by, reason in created:
        actors[by.pk] = by
        groups.setdefault((by.pk, reason or ""), []).extend(records)
    for (by_pk, reason), records in groups.items():
        for target in targets("clinical_record_changed"):
            together = getattr(target, "together", None)
            if together is not None:  # the follow-up's own way with many records at once
                together(records, by=actors[by_pk], reason=reason)
            else:
                for record in records:
                    target(record, created=True, by=actors[by_pk], reason=reason)


def _actor(by: Any) -> Any:
    if by is None or not getattr(by, "is_authenticated", False):
        raise AttributionRequired()
    return by


def _lock_scope(record: ClinicalRecord) -> tuple[Any, ...]:
    """What the write guards judge a new record by: its site, casebook and visit (a new record has no form lock)."""
    return (record.site_id, *record.lock_scope())


def create_audited(
    model: type[Record], records: Iterable[Record], *, by: Any, reason: str | None = None
) -> list[Record]:
    """Create ``records`` (new instances of ``model``) with one INSERT and their history rows with another.

    Raises ``AttributionRequired`` without an acting user, a ``ValidationError`` when a record is not valid (naming
    its position) or a guard refuses (a locked casebook); in each case nothing is written."""
    records = list(records)
    if not records:
        return []
    actor = _actor(by)
    if not issubclass(model, ClinicalRecord):
        raise TypeError(f"{model._meta.label} is not a clinical record")
    for record in records:
        if type(record) is not model or not record._state.adding or record.pk is not None:
            raise ValueError(f"create_audited takes new {model._meta.label} records only, not {record!r}")
    with audited_batch():
        batch = _current.get()
        assert batch is not None
        _stamp(records, actor, batch)
        _validate(model, records)
        for record in records:
            scope = _lock_scope(record)
            if scope not in batch.guarded:
                guard_clinical_write(record)
                batch.guarded.add(scope)
        model._base_manager.bulk_create(records)
        _write_history(model, records, actor, reason)
        batch.created.append((list(records), actor, reason))
    return records


def _stamp(records: list[ClinicalRecord], actor: Any, batch: _Batch) -> None:
    now = timezone.now()
    for record in records:
        record.created_at = record.modified_at = now
        record.created_by = record.modified_by = actor
        if record.site_id not in batch.versions:
            batch.versions[record.site_id] = record._protocol_version_in_force()
        record.protocol_version = batch.versions[record.site_id]


def _validate(model: type[ClinicalRecord], records: list[ClinicalRecord]) -> None:
    """``full_clean`` of each record as a save does it, without the look-up of each foreign key."""
    keys = [field.name for field in model._meta.concrete_fields if field.is_relation]
    for position, record in enumerate(records, start=1):
        try:
            record.full_clean(exclude=keys, validate_unique=False, validate_constraints=False)
        except ValidationError as error:
            raise ValidationError(
                _("%(record)s %(position)s of %(count)s: %(problems)s")
                % {
                    "record": model._meta.verbose_name,
                    "position": position,
                    "count": len(records),
                    "problems": "; ".join(error.messages),
                },
                code="invalid_in_bulk",
            ) from error


def _write_history(model: type[ClinicalRecord], records: list[ClinicalRecord], actor: Any, reason: str | None) -> None:
    """The ``+`` history row of each record, with the values simple-history writes when a record is created."""
    history: Any = model.history.model  # type: ignore[attr-defined]
    tracked = history.tracked_fields
    moment = records[0].created_at
    history.objects.bulk_create(
        [
            model.history.model(  # type: ignore[attr-defined]
                history_date=moment,
                history_type="+",
                history_user=actor,
                history_change_reason=reason,
                **{field.attname: getattr(record, field.attname) for field in tracked},
            )
            for record in records
        ]
    )


__all__ = ["audited_batch", "create_audited"]
