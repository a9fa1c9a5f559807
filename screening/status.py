"""Where a participant stands in screening: one pure function, used by the log and the summary page."""

from __future__ import annotations

from enum import StrEnum

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from clinical.eligibility import Decision


class ScreeningStatus(StrEnum):
    CONSENTED = "consented"
    SCREENING = "screening"
    ELIGIBLE = "eligible"
    CONFIRMED = "confirmed"
    SCREEN_FAILED = "screen_failed"
    RANDOMISED = "randomised"
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> Promise:
        return STATUS_LABELS[self]


STATUS_LABELS = {
    ScreeningStatus.CONSENTED: _("Consented"),
    ScreeningStatus.SCREENING: _("Screening"),
    ScreeningStatus.ELIGIBLE: _("Eligible, awaiting confirmation"),
    ScreeningStatus.CONFIRMED: _("Eligibility confirmed"),
    ScreeningStatus.SCREEN_FAILED: _("Screen failed"),
    ScreeningStatus.RANDOMISED: _("Randomised"),
    ScreeningStatus.WITHDRAWN: _("Withdrawn"),
}


def screening_status(
    *,
    any_form_entered: bool,
    decision: Decision,
    confirmed: bool,
    screen_failed: bool,
    withdrawn: bool,
    randomised: bool = False,
) -> ScreeningStatus:
    """The one status shown for a participant; the later and more final steps win."""
    if withdrawn:
        return ScreeningStatus.WITHDRAWN
    if randomised:
        return ScreeningStatus.RANDOMISED
    if screen_failed:
        return ScreeningStatus.SCREEN_FAILED
    if confirmed:
        return ScreeningStatus.CONFIRMED
    if decision == Decision.ELIGIBLE:
        return ScreeningStatus.ELIGIBLE
    if any_form_entered:
        return ScreeningStatus.SCREENING
    return ScreeningStatus.CONSENTED
