"""Edit checks of the protocol's monitoring plan: after every save of clinical data they raise automatic queries
(no raiser, ``edit_check`` set) for the monitor and the site to resolve.

- ``mrss_change``: a visit's mRSS total moves by more than ``PROTOCOL.monitoring.mrss_change_query_points`` from
  the participant's previous one (the previous visit's complete mRSS form, or the screening mRSS before the
  first); a query on the whole mRSS form of the later assessment.
- ``soft_limit``: a value of a visit form beyond ``PROTOCOL.soft_limits`` (the limits themselves are allowed);
  one query per field, naming the value and the limits.
- ``visit_window``: a scheduled visit done outside its window (a protocol deviation); a query on ``done_on``.
- ``visit_form_date``: a date on a scheduled visit's form far from where the protocol puts it, though possible
  (``clinical.timeline``; the impossible ones are refused by the form): the pregnancy test dated outside its visit's
  window, the study drug dispensed outside the window of the visit before. A date on the visit's own day is left to
  ``visit_window`` (one query per deviation, not two).

Rules: a visit form still in **draft** is not checked (the site is still entering it; the checks run when it is
marked complete, and on every later change). At most one unresolved automatic query per record, field and check;
a finding the monitor already closed is not raised again unless it changes (another value, another total).
Edit checks never break the save that ran them: a check that fails is logged and skipped, and each query is raised in
a savepoint of its own (only when there is one to raise: a save that raises none takes no savepoint). The mRSS check
reads the participant's mRSS forms and screening mRSS in one query; the others read nothing or one row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from django.db import models, transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from clinical.timeline import days_outside_window
from monitoring.models import DataQuery
from monitoring.services.queries import query_raise_automatic
from trial_site.protocol import PROTOCOL
from visits.crfs import PregnancyTest, StudyDrug, VisitForm, VisitMrss
from visits.models import Visit

logger = logging.getLogger(__name__)

MRSS_CHANGE = "mrss_change"
SOFT_LIMIT = "soft_limit"
VISIT_WINDOW = "visit_window"
VISIT_FORM_DATE = "visit_form_date"


class Finding(NamedTuple):
    record: models.Model
    field: str
    check: str
    message: str


def _is_draft(record: models.Model) -> bool:
    return isinstance(record, VisitForm) and record.status != VisitForm.Status.COMPLETE


def _number(value: float) -> str:
    return f"{value:g}"


def soft_limit_findings(record: models.Model) -> Iterator[Finding]:
    if not isinstance(record, VisitForm) or _is_draft(record):
        return
    names = {field.name for field in record._meta.concrete_fields}
    for name, (low, high) in PROTOCOL.soft_limits.items():
        value = getattr(record, name, None) if name in names else None
        if value is None or low <= value <= high:
            continue
        label = str(record._meta.get_field(name).verbose_name)
        yield Finding(
            record, name, SOFT_LIMIT,
            _("%(field)s %(value)s is outside the expected range %(low)s to %(high)s: please check it against the "
              "source.") % {"field": label, "value": _number(value), "low": _number(low), "high": _number(high)},
        )  # fmt: skip


def _key(form: VisitMrss) -> tuple[Any, int]:
    return form.visit.done_on, form.visit.sequence


def _mrss_neighbours(record: VisitMrss) -> tuple[list[VisitMrss], Any]:
    """The participant's complete visit mRSS forms with a visit date, ``record`` among them (as in memory), in the
    order of their visits, and the screening mRSS (or None): one query."""
    rows = list(
        VisitMrss.objects.filter(visit__participant_id=record.visit.participant_id)
        .filter(models.Q(status=VisitMrss.Status.COMPLETE, visit__done_on__isnull=False) | models.Q(pk=record.pk))
        .select_related("visit", "visit__participant__screening_mrss")
    )
    screening = getattr(rows[0].visit.participant, "screening_mrss", None) if rows else None
    forms = [record] + [row for row in rows if row.pk != record.pk]
    return sorted(forms, key=_key), screening


def _previous_mrss(form: VisitMrss, forms: list[VisitMrss], screening: Any) -> tuple[str, int] | None:
    """(label, total) of the participant's mRSS before ``form``: the latest complete visit mRSS done earlier,
    else the screening mRSS."""
    for candidate in reversed(forms[: forms.index(form)]):
        if candidate.mrss_total is not None:
            return candidate.visit.code, candidate.mrss_total
    if screening is not None and screening.mrss_total is not None:
        return _("screening"), screening.mrss_total
    return None


def _mrss_finding(form: VisitMrss, forms: list[VisitMrss], screening: Any) -> Finding | None:
    total = form.mrss_total
    if total is None or form.visit.done_on is None:
        return None
    previous = _previous_mrss(form, forms, screening)
    if previous is None:
        return None
    label, previous_total = previous
    limit = PROTOCOL.monitoring.mrss_change_query_points
    change = total - previous_total
    if abs(change) <= limit:
        return None
    return Finding(
        form, "", MRSS_CHANGE,
        _("The mRSS total at %(visit)s is %(total)s, %(change)+d points from %(previous)s (%(previous_total)s): a "
          "change of more than %(limit)s points; please check the scores.")
        % {"visit": form.visit.code, "total": total, "change": change, "previous": label,
           "previous_total": previous_total, "limit": limit},
    )  # fmt: skip


def mrss_change_findings(record: models.Model) -> Iterator[Finding]:
    """This mRSS against the one before it, and the one after it against this one (a corrected earlier total
    changes the later visit's change). One query: the participant's mRSS forms and screening mRSS."""
    if not isinstance(record, VisitMrss) or _is_draft(record) or record.visit.done_on is None:
        return
    forms, screening = _mrss_neighbours(record)
    at = forms.index(record)
    for form in (record, forms[at + 1] if at + 1 < len(forms) else None):
        finding = _mrss_finding(form, forms, screening) if form is not None else None
        if finding is not None:
            yield finding


def visit_window_findings(record: models.Model) -> Iterator[Finding]:
    if not isinstance(record, Visit) or record.done_on is None or record.is_unscheduled:
        return
    if record.earliest <= record.done_on <= record.latest:
        return
    yield Finding(
        record, "done_on", VISIT_WINDOW,
        _("%(visit)s was done on %(day)s, outside its window (%(earliest)s to %(latest)s). Deviation recorded: "
          "“%(reason)s”. Please confirm the date against the source.")
        % {"visit": record.code, "day": record.done_on.isoformat(), "earliest": record.earliest.isoformat(),
           "latest": record.latest.isoformat(), "reason": record.deviation_reason or "—"},
    )  # fmt: skip


def _visit_before(visit: Visit) -> Visit | None:
    """The scheduled visit before ``visit`` (the one the study drug of its period was dispensed at)."""
    return (
        Visit.objects.filter(participant_id=visit.participant_id, sequence__lt=visit.sequence)
        .exclude(code="UNS")
        .order_by("-sequence")
        .first()
    )


def visit_form_date_findings(record: models.Model) -> Iterator[Finding]:
    if isinstance(record, PregnancyTest):
        field, visit = "tested_on", record.visit
    elif isinstance(record, StudyDrug):
        field, visit = "period_start", _visit_before(record.visit)
    else:
        return
    day = getattr(record, field)
    if _is_draft(record) or day is None or visit is None or visit.is_unscheduled or day == visit.done_on:
        return
    if days_outside_window(day, earliest=visit.earliest, latest=visit.latest) == 0:
        return
    yield Finding(
        record, field, VISIT_FORM_DATE,
        _("%(field)s %(day)s is outside the window of %(visit)s (%(earliest)s to %(latest)s) and is not the visit's "
          "date: please check the date against the source.")
        % {"field": str(record._meta.get_field(field).verbose_name).capitalize(), "day": day.isoformat(),
           "visit": visit.code, "earliest": visit.earliest.isoformat(), "latest": visit.latest.isoformat()},
    )  # fmt: skip


EDIT_CHECKS: tuple[Callable[[models.Model], Iterator[Finding]], ...] = (
    mrss_change_findings,
    soft_limit_findings,
    visit_window_findings,
    visit_form_date_findings,
)


def _not_raised_yet(findings: list[Finding]) -> list[Finding]:
    """The findings ``query_raise_automatic`` would raise a query for: not those whose check already has an unresolved
    query on the record and field, or one closed after review of the same message. One query (none without
    findings), so that a finding raised already costs no savepoint."""
    if not findings:
        return []
    keys = Q()
    for finding in findings:
        meta = finding.record._meta.concrete_model._meta
        keys |= Q(
            content_type__app_label=meta.app_label, content_type__model=meta.model_name,
            object_id=finding.record.pk, field=finding.field, edit_check=finding.check,
        )  # fmt: skip
    known = list(
        DataQuery.objects.filter(keys).values_list(
            "content_type__app_label", "content_type__model", "object_id", "field", "edit_check", "status", "message"
        )
    )
    covered = {
        (app, model, pk, field, check)
        for app, model, pk, field, check, status, message in known
        if status != DataQuery.Status.CLOSED
    }
    seen = {(app, model, pk, field, check, message) for app, model, pk, field, check, _status, message in known}

    def key(finding: Finding) -> tuple[Any, ...]:
        meta = finding.record._meta.concrete_model._meta
        return meta.app_label, meta.model_name, finding.record.pk, finding.field, finding.check

    return [f for f in findings if key(f) not in covered and (*key(f), f.message) not in seen]


def edit_checks_run(record: Any, *, by: Any) -> None:
    """Run every edit check on a record just saved and raise the automatic queries it finds. Never raises.

    The checks read in the save's own transaction (at most one query each, none for most forms) and a check that
    fails in Python is logged and skipped; only raising a query, which writes, runs in a savepoint of its own, so
    that a failure there leaves the save and the other findings alone. (A failing read of the database itself would
    abort the save's transaction: the reads are plain SELECTs run with every form by the tests.)"""
    findings: list[Finding] = []
    for check in EDIT_CHECKS:
        try:
            findings.extend(check(record))
        except Exception:
            logger.exception("edit check %s failed on %s %s", check.__name__, record._meta.label, record.pk)
    for finding in _not_raised_yet(findings):
        try:
            with transaction.atomic():  # a savepoint: a query that cannot be raised leaves the save alone
                query_raise_automatic(
                    record=finding.record, field=finding.field, edit_check=finding.check,
                    message=finding.message, by=by,
                )  # fmt: skip
        except Exception:
            logger.exception("edit check %s: no query raised on %s %s", finding.check, record._meta.label, record.pk)
