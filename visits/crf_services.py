"""Saving visit case report forms: soft limits, draft or complete, the required-form rows, the audit."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, models, transaction
from django.utils.translation import gettext as _

from screening.models import Participant
from screening.selectors import require_current_consent
from trial_site import registry
from trial_site.audit.base import guard_clinical_write
from trial_site.audit.errors import EditConflict
from trial_site.audit.versions import FieldChange, current_version, data_fields, display, person
from trial_site.form_numbers import unusual_message
from trial_site.hooks import follow_up
from trial_site.permissions import user_can
from trial_site.protocol import PROTOCOL
from visits.crfs import LabPanel, VisitForm, VisitMrss
from visits.models import RequiredForm
from visits.progress import visits_refresh


def unusual_values(record: VisitForm) -> dict[str, str]:
    """Values outside the protocol's soft limits: field → message. They are allowed once confirmed."""
    found = {}
    for name, (low, high) in PROTOCOL.soft_limits.items():
        value = getattr(record, name, None)
        if value is not None and not low <= value <= high:
            field = record._meta.get_field(name)
            found[name] = unusual_message(field.verbose_name, value, low, high, getattr(field, "unit", ""))
    return found


def assessor_warning(record: VisitForm) -> str | None:
    """The same assessor should score the mRSS at every visit: name a change from the baseline assessor."""
    if not isinstance(record, VisitMrss):
        return None
    baseline = getattr(record.visit.participant, "screening_mrss", None)
    if baseline is None or baseline.assessor_id == record.assessor_id:
        return None
    return _("The baseline mRSS was scored by %(name)s; the same assessor should score every visit.") % {
        "name": baseline.assessor.get_full_name() or baseline.assessor.get_username()
    }


# What the save of a visit form reads of its participant: the consent check (consent, withdrawal, screen failure, end
# of study, re-consents), the form's validation (end of study) and the assessor warning (the screening mRSS).
PARTICIPANT_FOR_SAVE = ("site", "consent", "withdrawal", "screen_failure", "end_of_study", "screening_mrss__assessor")


def participant_for_save(visit: Any) -> Participant:
    """The visit's participant with what the save reads of it (``PARTICIPANT_FOR_SAVE``), read afresh in two queries:
    a participant the caller holds may predate a re-consent, a withdrawal or an end of study (the consent check must
    see them all)."""
    return (
        Participant.objects.select_related(*PARTICIPANT_FOR_SAVE)
        .prefetch_related("reconsents")
        .get(pk=visit.participant_id)
    )


@transaction.atomic
def visit_form_save(*, record: VisitForm, by: Any, complete: bool, reason: str | None = None) -> list[str]:
    """Save a visit form as a draft or complete; return warnings for the user (never blocking).

    Values beyond a soft limit need ``record.unusual_values_confirmed``; marking complete needs every required
    field; changing a complete form needs ``reason``. The visit's required-form row follows the form.

    A new record (``record.pk`` None: the page was opened on the empty form) whose form someone else saved
    meanwhile, before or at the same instant, is an ``EditConflict`` naming what they entered, unless the entries
    are the same as theirs (a second click on Save): then nothing is written.
    """
    visit = record.visit
    if not user_can(by, registry.permission(record, "change"), visit.site):
        raise PermissionDenied(f"{by} may not enter {record._meta.verbose_name}")
    visit.participant = participant_for_save(visit)
    require_current_consent(visit.participant)
    unusual = unusual_values(record)
    if unusual and not record.unusual_values_confirmed:
        raise ValidationError({**unusual, "unusual_values_confirmed": _("Confirm the unusual values to save them.")})
    record.status = VisitForm.Status.COMPLETE if complete else VisitForm.Status.DRAFT
    if record.pk is None:
        try:
            with transaction.atomic():
                record.save(by=by, reason=reason or None)
        except IntegrityError:
            saved = type(record).objects.filter(visit=visit).first()
            if saved is None:
                raise
            conflict = created_meanwhile(record, saved)
            if conflict is not None:
                guard_clinical_write(saved)  # a locked form says so: it could not be changed either way
                raise conflict from None
            record = saved  # the same entries were saved already: nothing to write
    else:
        record.save(by=by, reason=reason or None)
    if isinstance(record, LabPanel):
        # In the same transaction: safety checks the values against the arm's hold rules (visits does not import
        # safety), so a saved panel never exists without its alerts.
        follow_up("lab_panel_saved", panel_id=record.pk)
    RequiredForm.objects.filter(visit=visit, form=record.form_code).exclude(
        status=RequiredForm.Status.NOT_REQUIRED
    ).update(status=RequiredForm.Status.ENTERED if complete else RequiredForm.Status.REQUIRED)
    saved = record.saved_row()  # the form as it was before this save, read under its lock (None: created now)
    if saved is None or saved["status"] != record.status:
        # What is entered of the visit's forms (``VisitProgress``) follows the forms' statuses only: a form changed
        # within the same status leaves it as it is.
        visits_refresh([visit.pk])
    return [warning for warning in (assessor_warning(record), pregnancy_warning(record)) if warning]


def pregnancy_warning(record: VisitForm) -> str | None:
    """A positive pregnancy test is reported in Safety (an adverse event of special interest: pregnancy)."""
    if getattr(record, "form_code", "") == "pregnancy" and getattr(record, "result", "") == "positive":
        return _("Positive pregnancy test: report it in Safety now (adverse event of special interest: pregnancy).")
    return None


def created_meanwhile(entered: VisitForm, saved: VisitForm) -> EditConflict | None:
    """The conflict of entries made on an empty form (``entered``, unsaved) with the record someone saved for the
    same visit meanwhile (``saved``): what they entered, who and when, beside the user's own entries. None when the
    entries are the same as the saved ones."""
    fields = [field for field in data_fields(type(saved)) if field.name not in {"visit", "site"}]
    if all(getattr(entered, field.attname) == getattr(saved, field.attname) for field in fields):
        return None
    blank = type(saved)(visit=saved.visit, site=saved.site)
    rows = list(type(saved).history.filter(id=saved.pk).select_related("history_user").order_by("history_id"))
    changes = []
    for field in fields:
        if getattr(saved, field.attname) == getattr(blank, field.attname):
            continue
        previous, last = getattr(blank, field.attname), None
        for row in rows:
            if getattr(row, field.attname) != previous:
                previous, last = getattr(row, field.attname), row
        changes.append(
            FieldChange(
                field=field.name,
                label=str(field.verbose_name),
                opened=display(field, getattr(blank, field.attname)),
                current=_shown(field, saved),
                by=person(last.history_user) if last else "?",
                at=last.history_date if last else saved.modified_at,
            )
        )
    yours = [field.name for field in fields if getattr(entered, field.attname) != getattr(blank, field.attname)]
    return EditConflict(changes=changes, yours=yours, current_version=current_version(saved))


def _shown(field: models.Field, record: VisitForm) -> str:
    if isinstance(field, models.ForeignKey):
        target = getattr(record, field.name)
        return person(target) if hasattr(target, "get_username") else display(field, target)
    return display(field, getattr(record, field.attname))
