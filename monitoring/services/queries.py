"""Data queries: a monitor or data manager asks about one field of a form (or the whole form); the site answers
and may correct the data (the correction is linked to the query); the raiser closes it, or re-opens it.

Writes, one transaction each, permission checked at the record's site, every step appended to the query's
conversation. Reads are in ``monitoring.selectors.queries``; the panel and field flags in ``monitoring.panels``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from monitoring.models import DataQuery, QueryMessage
from monitoring.selectors.queries import (
    UNRESOLVED,
    QueryStep,
    assignable_users,
    forget_record_queries,
    may_close,
    query_steps_since,
    queryable_fields,
)
from monitoring.selectors.records import is_clinical_model, record_key, record_participant_id
from monitoring.services.probes import QUERIED
from trial_site.audit.versions import current_version
from trial_site.hooks import probed
from trial_site.permissions import require
from trial_site.text import sentence_start


def _say(query: DataQuery, action: str, by: Any, text: str, correction_history_id: int | None = None) -> None:
    QueryMessage.objects.create(
        query=query, action=action, author=by, text=text, correction_history_id=correction_history_id
    )


def _locked(query: DataQuery) -> DataQuery:
    """The query's row, locked for this transaction, with its current status (two users may act at once)."""
    return DataQuery.objects.select_for_update().select_related("site").get(pk=query.pk)


class QueryChangedMeanwhile(ValidationError):
    """The query was answered, closed or re-opened after the page was opened (someone acted on it in between):
    the action is refused and nothing is written. ``steps`` says who did what when; ``current_version`` is the
    version the page shows now."""

    def __init__(self, *, steps: list[QueryStep], current_version: int | None) -> None:
        done = "; ".join(str(step) for step in steps) or _("someone else acted on it")
        super().__init__(
            _("Not done: since you opened this page, %(done)s. Nothing was written. The query is shown below as it "
              "is now: act again if it is still needed."),
            code="edit_conflict",
            params={"done": done},
        )  # fmt: skip
        self.steps, self.current_version = steps, current_version


def _refuse_if_changed(query: DataQuery, opened_version: int | None) -> None:
    """Under the query's row lock: refuse (``QueryChangedMeanwhile``) an action taken on a page opened on an older
    version than the one saved now. Without a version (a caller that did not show the query) nothing is compared."""
    if opened_version is None:
        return
    version = current_version(query)
    if version is not None and version != opened_version:
        raise QueryChangedMeanwhile(steps=query_steps_since(query, opened_version), current_version=version)
    query.opened_version = opened_version  # and the audited save compares it again, under the same lock


@transaction.atomic
def query_raise(
    *,
    record: models.Model,
    field: str,
    message: str,
    by: Any,
    assignee: Any = None,
    due_date: date | None = None,
) -> DataQuery:
    """Raise a query on ``field`` of a saved clinical ``record`` (empty ``field``: the whole form)."""
    if not is_clinical_model(type(record)) or record.pk is None:
        raise ValidationError(_("A query is raised on a saved clinical record."))
    site = record.site
    require(by, "monitoring.raise_query", site)
    errors: dict[str, str] = {}
    field = (field or "").strip()
    if field and field not in dict(queryable_fields(type(record))):
        errors["field"] = _("%(form)s has no field “%(field)s”.") % {
            "form": sentence_start(record._meta.verbose_name),
            "field": field,
        }
    message = (message or "").strip()
    if not message:
        errors["message"] = _("Write the question.")
    if assignee is not None and not assignable_users(site).filter(pk=assignee.pk).exists():
        errors["assignee"] = _("Assign the query to a coordinator or investigator of %(site)s.") % {"site": site.name}
    if due_date is not None and due_date < timezone.localdate():
        errors["due_date"] = _("The answer cannot be due in the past.")
    participant_id = record_participant_id(record)
    if participant_id is None:
        errors["field"] = _("This record belongs to no participant.")
    if errors:
        raise ValidationError(errors)
    content_type, object_id = record_key(record)
    query = DataQuery(
        site=site, participant_id=participant_id, content_type=content_type, object_id=object_id, field=field,
        message=message, raised_by=by, raised_at=timezone.now(), assignee=assignee, due_date=due_date,
    )  # fmt: skip
    query.save(by=by, reason="query raised")
    _say(query, QueryMessage.Action.RAISED, by, message)
    return query


def query_raise_automatic(
    *, record: models.Model, field: str, edit_check: str, message: str, by: Any
) -> DataQuery | None:
    """An edit check's query (no raiser): none when the same check already has an unresolved query on this
    record and field, or one closed after review of the same finding (same message, so the same value)."""
    content_type, object_id = record_key(record)
    existing = DataQuery.objects.filter(
        content_type=content_type, object_id=object_id, field=field, edit_check=edit_check
    )
    if existing.filter(~Q(status=DataQuery.Status.CLOSED) | Q(message=message)).exists():
        return None
    participant_id = record_participant_id(record)
    if participant_id is None:
        return None
    query = DataQuery(
        site_id=record.site_id, participant_id=participant_id, content_type=content_type, object_id=object_id,
        field=field, message=message, raised_by=None, raised_at=timezone.now(), edit_check=edit_check,
    )  # fmt: skip
    query.save(by=by, reason=f"edit check {edit_check}")
    _say(query, QueryMessage.Action.RAISED, None, message)
    return query


@transaction.atomic
def query_answer(*, query: DataQuery, by: Any, text: str, opened_version: int | None = None) -> DataQuery:
    """The site answers an open (or re-opened) query; correcting the data is done on the form, with a reason.
    ``opened_version``: the version the page showed (refused with ``QueryChangedMeanwhile`` if it is stale)."""
    query = _locked(query)
    require(by, "monitoring.answer_query", query.site)
    _refuse_if_changed(query, opened_version)
    errors = {}
    if query.status != DataQuery.Status.OPEN:
        errors["text"] = _("Only an open query can be answered; this one is %(status)s.") % {
            "status": query.get_status_display()
        }
    elif not (text or "").strip():
        errors["text"] = _("Write the answer.")
    if errors:
        raise ValidationError(errors)
    query.status = DataQuery.Status.ANSWERED
    query.answered_at = timezone.now()
    query.save(by=by, reason="query answered")
    _say(query, QueryMessage.Action.ANSWERED, by, text.strip())
    return query


@transaction.atomic
def query_close(*, query: DataQuery, by: Any, text: str = "", opened_version: int | None = None) -> DataQuery:
    """The raiser closes an answered query (an edit check's query: any monitor or data manager)."""
    query = _locked(query)
    require(by, "monitoring.raise_query", query.site)
    if not may_close(by, query):
        raise PermissionDenied("only the monitor who raised the query closes it")
    _refuse_if_changed(query, opened_version)
    if query.status != DataQuery.Status.ANSWERED:
        raise ValidationError(
            {"text": _("Only an answered query can be closed; this one is %(status)s.")
             % {"status": query.get_status_display()}}
        )  # fmt: skip
    query.status = DataQuery.Status.CLOSED
    query.closed_at = timezone.now()
    query.closed_by = by
    query.save(by=by, reason="query closed")
    _say(query, QueryMessage.Action.CLOSED, by, (text or "").strip())
    return query


@transaction.atomic
def query_reopen(*, query: DataQuery, by: Any, text: str, opened_version: int | None = None) -> DataQuery:
    """Re-open an answered or closed query with a reason (the answer did not resolve it)."""
    query = _locked(query)
    require(by, "monitoring.raise_query", query.site)
    _refuse_if_changed(query, opened_version)
    errors = {}
    if query.status == DataQuery.Status.OPEN:
        errors["text"] = _("This query is already open.")
    elif not (text or "").strip():
        errors["text"] = _("Say why the query is re-opened.")
    if errors:
        raise ValidationError(errors)
    query.status = DataQuery.Status.OPEN
    query.closed_at = None
    query.closed_by = None
    query.save(by=by, reason="query re-opened")
    _say(query, QueryMessage.Action.REOPENED, by, text.strip())
    return query


def queries_link_correction(*, record: Any, by: Any, reason: str) -> None:
    """After a change of a saved clinical record: link the change to each unresolved query it answers — every
    whole-form query, and each field query whose field changed in this save. The statuses do not change. No query
    when the save's read of the row found no unresolved query (``monitoring.services.probes``)."""
    if getattr(record, "pk", None) is None or probed(record, QUERIED) is False:
        return
    content_type, object_id = record_key(record)
    queries = list(DataQuery.objects.filter(content_type=content_type, object_id=object_id, status__in=UNRESOLVED))
    if not queries:
        return
    history = list(record.history.order_by("-history_id")[:2])
    if not history:
        return
    newest = history[0]
    previous = history[1] if len(history) > 1 else None
    for query in queries:
        if query.field and previous is not None:
            try:
                attname = type(record)._meta.get_field(query.field).attname
            except FieldDoesNotExist:
                continue
            if getattr(newest, attname, None) == getattr(previous, attname, None):
                continue
        _say(query, QueryMessage.Action.CORRECTED, by, reason, correction_history_id=newest.history_id)
    forget_record_queries(record)
