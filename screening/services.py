"""Writes of screening. Each is one transaction, checks permission and invariants, and is audited."""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from clinical.eligibility import Decision
from clinical.versions import version_key
from screening.models import (
    Consent,
    ConsentWithdrawal,
    EligibilityConfirmation,
    Participant,
    Reconsent,
    ScreenFailure,
)
from screening.models.crfs import ScreeningForm
from screening.models.participant import screening_number_for
from screening.selectors import (
    WINDOW_SOURCES,
    confirmation_in_force,
    reconsent_due,
    require_current_consent,
    screening_decision,
    screening_window_of,
    site_today,
)
from screening.status_store import screening_state_refresh
from trial_site.audit.errors import EditConflict
from trial_site.audit.versions import FieldChange, current_version, data_fields, display, person
from trial_site.hooks import schedule_changed
from trial_site.models import Site
from trial_site.permissions import require
from trial_site.protocol import PROTOCOL
from trial_site.protocol_versions import consent_forms_all

logger = logging.getLogger(__name__)

PARTICIPANT_FIELDS = (
    "initials", "date_of_birth", "sex", "mobile_phone", "email", "preferred_language", "reminder_channel",
    "reminder_consent",
)  # fmt: skip


def _next_screening_number(site: Site) -> str:
    """The site's next screening number. Call inside a transaction holding the site's row lock."""
    return screening_number_for(site.code, Participant.objects.filter(site=site).count() + 1)


@transaction.atomic
def participant_register(*, participant: Participant, consent: Consent, by: Any) -> Participant:
    """Register a participant together with their informed consent.

    The site's row is locked for the numbering, so two staff registering at the same moment get consecutive,
    distinct screening numbers.
    """
    site = Site.objects.select_for_update().get(pk=participant.site_id)
    require(by, "screening.add_participant", site)
    participant.screening_number = _next_screening_number(site)
    participant.save(by=by)
    consent.participant = participant
    consent.site = site
    consent.save(by=by)
    screening_state_refresh(participant.pk)
    logger.info("participant %s registered at %s by %s", participant.screening_number, site.code, by)
    return participant


@transaction.atomic
def participant_rescreen(*, previous: Participant, screening_date: date, consent: Consent, by: Any) -> Participant:
    """Screen the same person again, as a new episode with its own number and consent."""
    site = Site.objects.select_for_update().get(pk=previous.site_id)
    require(by, "screening.add_participant", site)
    first = previous.first_episode or previous
    episodes = Participant.objects.filter(first_episode=first).count() + 1
    if not hasattr(previous, "screen_failure"):
        raise ValidationError(_("Only a participant who failed screening can be screened again."))
    if Participant.objects.filter(first_episode=first, episode__gt=previous.episode).exists():
        raise ValidationError(_("This person has already been screened again."))
    if episodes >= PROTOCOL.max_screening_episodes:
        raise ValidationError(
            _("This person has been screened %(count)s times; the protocol allows %(max)s.")
            % {"count": episodes, "max": PROTOCOL.max_screening_episodes}
        )
    episode = Participant(
        site=site,
        screening_date=screening_date,
        first_episode=first,
        episode=episodes + 1,
        **{name: getattr(previous, name) for name in PARTICIPANT_FIELDS},
    )
    episode.screening_number = _next_screening_number(site)
    episode.save(by=by)
    consent.participant = episode
    consent.site = site
    consent.save(by=by)
    screening_state_refresh(episode.pk)
    return episode


@transaction.atomic
def participant_details_change(*, participant: Participant, by: Any, reason: str) -> Participant:
    """Save corrected contact or identity details (a reason is required: the data are saved already)."""
    require(by, "screening.change_participant", participant.site)
    participant.save(by=by, reason=reason)
    screening_state_refresh(participant.pk)  # the date of birth and sex count for eligibility
    schedule_changed(participant.pk)  # the reminder choices may have changed
    return participant


@transaction.atomic
def screening_form_save(*, record: ScreeningForm, by: Any, reason: str | None = None) -> ScreeningForm:
    """Save one screening form (validated already by its form or by the caller).

    Saving new data needs no reason; changing saved data does. If eligibility was confirmed, the change voids
    the confirmation, visibly: the investigator must confirm again on the new data. The Day 1 baseline form is
    not screening data: it leaves the confirmation in force (randomisation judges it for Day 1).
    """
    participant = record.participant
    require(by, f"screening.change_{record._meta.model_name}", participant.site)
    if hasattr(participant, "withdrawal"):
        raise ValidationError(_("This participant has withdrawn consent; no further screening data can be saved."))
    require_current_consent(participant)
    changing = record.pk is not None
    if not changing:
        _refuse_if_entered_meanwhile(record)
    record.save(by=by, reason=reason if changing else None)
    confirmation = confirmation_in_force(participant) if record.voids_confirmation else None
    if confirmation is not None:
        confirmation.voided_at = timezone.now()
        confirmation.void_reason = _("%(form)s changed after confirmation: %(reason)s") % {
            "form": record._meta.verbose_name,
            "reason": reason or _("new data"),
        }
        confirmation.save(by=by, reason=confirmation.void_reason)
        participant.__dict__.pop("confirmations_in_force", None)
        logger.info("confirmation of %s voided by a change to %s", participant, record._meta.verbose_name)
    screening_state_refresh(participant.pk)
    return record


def _refuse_if_entered_meanwhile(record: ScreeningForm) -> None:
    """Before a form is first saved: if someone else saved this participant's form since the page was opened,
    refuse with ``EditConflict`` (their values beside the user's entries), as for an edit, instead of a unique
    race. The participant's row lock orders two first saves of one form."""
    Participant.objects.select_for_update().filter(pk=record.participant_id).first()
    model = type(record)
    saved = model.objects.select_related("modified_by").filter(participant_id=record.participant_id).first()
    if saved is None:
        return
    blank = model(participant_id=record.participant_id, site_id=saved.site_id)
    fields = [field for field in data_fields(model) if field.name not in {"participant", "site"}]
    changes = [
        FieldChange(
            field=field.name,
            label=str(field.verbose_name),
            opened=display(field, None),
            current=_shown(field, getattr(saved, field.name)),
            by=person(saved.modified_by),
            at=saved.modified_at,
        )
        for field in fields
        if getattr(saved, field.attname) != getattr(blank, field.attname)
    ]
    yours = [field.name for field in fields if getattr(record, field.attname) != getattr(blank, field.attname)]
    raise EditConflict(changes=changes, yours=yours, current_version=current_version(saved))


def _shown(field: Any, value: Any) -> str:
    return person(value) if hasattr(value, "get_username") else display(field, value)


SCREENING_WINDOW_CODE = "SCR"
"""The code a screen failure carries when the screening window passed without randomisation (TRIAL.md: SCR)."""


def screening_window_refusal(participant: Participant, *, day1: date) -> str | None:
    """Why Day 1 cannot be ``day1`` for this screening (TRIAL.md: screening Day −28 to −1), or None.

    Screening counts from its earliest dated assessment (``screening.selectors.screening_window_of``); Day 1
    must be 1 to 28 days after it. Past the window, rescreening is the way forward.
    """
    window = screening_window_of(participant)
    if window.holds_on(day1):
        return None
    values = {
        "screened": window.screened_on.isoformat(),
        "source": WINDOW_SOURCES[window.counted_from],
        "days": PROTOCOL.eligibility.screening_window_days,
        "first": window.first_day1.isoformat(),
        "last": window.last_day1.isoformat(),
        "day1": day1.isoformat(),
    }
    if day1 < window.first_day1:
        return (
            _(
                "Screening counts from %(screened)s (%(source)s): Day 1 cannot be on the day of screening or before "
                "it. Randomise from %(first)s to %(last)s (1 to %(days)s days after screening)."
            )
            % values
        )
    return _(
        "The screening window has passed: screening counts from %(screened)s (%(source)s), %(ago)s days before "
        "Day 1 (%(day1)s); randomisation must be 1 to %(days)s days after screening, so the eligibility "
        "confirmation held until %(last)s. Screen the participant again: record a screen failure (SCR, the "
        "screening window passed), then use “Screen again”."
    ) % {**values, "ago": (day1 - window.screened_on).days}


def screening_window_passed(participant: Participant) -> bool:
    """True when the participant is not randomised and today, at the site, is past the screening window."""
    if hasattr(participant, "allocation"):
        return False
    return site_today(participant) > screening_window_of(participant).last_day1


@transaction.atomic
def eligibility_confirm(*, participant: Participant, by: Any) -> EligibilityConfirmation:
    """The investigator confirms eligibility: only when the computed decision is "eligible". The confirmation
    holds until the last day the screening window allows for Day 1 (``screening_window_of``); randomisation
    refuses after it."""
    participant = Participant.objects.select_for_update().get(pk=participant.pk)
    require(by, "screening.confirm_eligibility", participant.site)
    if hasattr(participant, "withdrawal"):
        raise ValidationError(_("This participant has withdrawn consent."))
    if hasattr(participant, "screen_failure"):
        raise ValidationError(_("This participant is recorded as a screen failure."))
    if confirmation_in_force(participant) is not None:
        raise ValidationError(_("Eligibility is already confirmed."))
    decision = screening_decision(participant)
    if decision.decision != Decision.ELIGIBLE:
        raise ValidationError(
            _(
                "Eligibility can be confirmed only when every inclusion criterion is met and every exclusion "
                "criterion is absent. Against eligibility: %(failed)s. Not yet known: %(unknown)s."
            )
            % {
                "failed": ", ".join(decision.failed_codes) or "—",
                "unknown": ", ".join(decision.unknown_codes) or "—",
            }
        )
    confirmation = EligibilityConfirmation(
        site=participant.site,
        participant=participant,
        confirmed_by=by,
        confirmed_at=timezone.now(),
        criteria=[{**asdict(criterion), "status": str(criterion.status)} for criterion in decision.criteria],
    )
    confirmation.save(by=by)
    screening_state_refresh(participant.pk)
    logger.info("eligibility of %s confirmed by %s", participant, by)
    return confirmation


@transaction.atomic
def screen_failure_record(*, participant: Participant, by: Any, note: str = "") -> ScreenFailure:
    """Record that the participant failed screening, keeping the failing criteria; or, when the screening
    window passed without randomisation, the code SCR (the way to screening again)."""
    require(by, "screening.add_screenfailure", participant.site)
    if hasattr(participant, "allocation"):
        raise ValidationError(_("The participant is randomised; a screen failure no longer applies."))
    if hasattr(participant, "screen_failure"):
        raise ValidationError(_("The screen failure is recorded already."))
    decision = screening_decision(participant)
    if decision.decision == Decision.NOT_ELIGIBLE:
        codes = list(decision.failed_codes)
    elif screening_window_passed(participant):
        codes = [SCREENING_WINDOW_CODE]
    else:
        raise ValidationError(
            _("A screen failure needs at least one failed criterion, or a screening window that has passed.")
        )
    failure = ScreenFailure(
        site=participant.site,
        participant=participant,
        failed_codes=codes,
        recorded_at=timezone.now(),
        note=note,
    )
    failure.save(by=by)
    screening_state_refresh(participant.pk)
    return failure


@transaction.atomic
def consent_withdraw(*, withdrawal: ConsentWithdrawal, by: Any) -> ConsentWithdrawal:
    participant = withdrawal.participant
    require(by, "screening.add_consentwithdrawal", participant.site)
    withdrawal.site = participant.site
    withdrawal.save(by=by)
    screening_state_refresh(participant.pk)
    schedule_changed(participant.pk)
    logger.info("%s withdrew consent (%s)", participant, withdrawal.scope)
    return withdrawal


@transaction.atomic
def reconsent_record(
    *,
    participant: Participant,
    by: Any,
    form_version: str,
    consented_at: datetime,
    obtained_by: Any,
    signature_method: str,
    copy_given: bool,
    witness_name: str = "",
) -> Reconsent:
    """Record that the participant signed the new consent form version asked of them: from then on the procedures
    it blocked are allowed again. Only while a re-consent is due, with that version or a later one in use on the
    day signed (``Reconsent.clean``: not before the first consent, not in the future)."""
    locked = Participant.objects.select_for_update(of=("self",)).select_related("site", "consent")
    participant = locked.get(pk=participant.pk)
    require(by, "screening.add_reconsent", participant.site)
    decision = reconsent_due(participant)
    if not decision.due:
        raise ValidationError(_("No re-consent is due for %(number)s.") % {"number": participant.screening_number})
    known = {form.version for form in consent_forms_all()}
    if form_version not in known:
        raise ValidationError(
            {"form_version": _("There is no consent form version %(version)s.") % {"version": form_version}}
        )
    if version_key(form_version) < version_key(decision.required or ""):
        raise ValidationError(
            {
                "form_version": _("Version %(version)s is older than the version asked for, %(required)s.")
                % {"version": form_version, "required": decision.required}
            }
        )
    record = Reconsent(
        site=participant.site,
        participant=participant,
        form_version=form_version,
        consented_at=consented_at,
        obtained_by=obtained_by,
        signature_method=signature_method,
        witness_name=witness_name,
        copy_given=copy_given,
    )
    record.full_clean(exclude=["site", "participant"])
    record.save(by=by)
    logger.info("%s re-consented to version %s (recorded by %s)", participant, form_version, by)
    return record
