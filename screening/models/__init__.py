"""Screening: participants, informed consent, the screening case report forms, confirmation and failure."""

from screening.models.consent import Consent, ConsentWithdrawal, Reconsent
from screening.models.crfs import (
    SCREENING_FORMS,
    ClassificationCriteria,
    Day1Baseline,
    DiseaseHistory,
    ExclusionHistory,
    ScreeningLabs,
    ScreeningMrss,
)
from screening.models.outcome import EligibilityConfirmation, ScreenFailure
from screening.models.participant import IDENTIFYING_FIELDS, Participant
from screening.models.state import ScreeningState, ScreeningTally

__all__ = [
    "IDENTIFYING_FIELDS",
    "SCREENING_FORMS",
    "ClassificationCriteria",
    "Consent",
    "ConsentWithdrawal",
    "Day1Baseline",
    "DiseaseHistory",
    "EligibilityConfirmation",
    "ExclusionHistory",
    "Participant",
    "Reconsent",
    "ScreenFailure",
    "ScreeningLabs",
    "ScreeningMrss",
    "ScreeningState",
    "ScreeningTally",
]
