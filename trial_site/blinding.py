"""What a blinded viewer may see: the one place that decides it.

A viewer is *blinded at a site* when none of their roles there grants ``randomization.view_arm`` (today the blinded
assessor). Such a viewer sees nothing the arm determines or strongly predicts (``HIDDEN_FROM_BLINDED``, each item
with the reason it would unblind; ``docs/roles.md`` lists them), and while scoring the skin they see no earlier mRSS
score. Views ask this module, never a role name: ``blinded_at``, ``shows``, ``mrss_values_shown``.

An emergency unblinding reveals one participant's arm on the randomisation page only (``randomization.selectors.
arm_visible_to``); it does not open the items below, which stay with the unblinded roles.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from trial_site.permissions import user_can
from trial_site.roles import SEES_ARM


class Hidden(StrEnum):
    """What the arm determines or strongly predicts, or what would bias the blinded skin score."""

    ARM = "arm"
    STUDY_DRUG = "study_drug"
    HOLD_RULES = "hold_rules"
    LABORATORY = "laboratory"
    CONCOMITANT_MEDICATIONS = "concomitant_medications"
    OTHER_VISIT_FORMS = "other_visit_forms"
    SAFETY = "safety"
    EARLIER_MRSS = "earlier_mrss"


@dataclass(frozen=True)
class HiddenItem:
    item: Hidden
    what: str
    why: str


# The table of docs/roles.md ("Blinding"), in code: the test of that page checks that it names every item.
HIDDEN_FROM_BLINDED: tuple[HiddenItem, ...] = (
    HiddenItem(Hidden.ARM, "allocation arm, treatment and dose", "they are the arm"),
    HiddenItem(
        Hidden.STUDY_DRUG,
        "the study drug form (tablets dispensed and returned, dose changes, dosing schedule)",
        "daily 4 mg tablets and a weekly 25 mg dose differ in count, schedule and dose reductions",
    ),
    HiddenItem(
        Hidden.HOLD_RULES,
        'drug-specific hold rules and laboratory alerts ("hold …")',
        "each rule belongs to one drug: an alert names or implies it",
    ),
    HiddenItem(
        Hidden.LABORATORY,
        "laboratory values, CTCAE grades and trends of the visit panels (lipids and ESR/CRP forms included)",
        "baricitinib lowers lymphocytes and raises lipids, methotrexate lowers white cells and platelets and raises "
        "ALT; the hold rules follow exactly these tests",
    ),
    HiddenItem(
        Hidden.CONCOMITANT_MEDICATIONS,
        "concomitant medications (the page, its entries, the visit form)",
        "folic acid 5 mg weekly is given with methotrexate only",
    ),
    HiddenItem(
        Hidden.OTHER_VISIT_FORMS,
        "every visit form but the mRSS (vital signs, HAQ-DI, globals, pulmonary function, pregnancy test, …)",
        "they carry dosing, adverse effects and free text that may name the drug",
    ),
    HiddenItem(
        Hidden.SAFETY,
        "adverse events, SAE reports and the safety summary",
        "the events of special interest differ by drug (herpes zoster, lipids; mucositis, hepatotoxicity) and "
        "reports name the drug",
    ),
    HiddenItem(
        Hidden.EARLIER_MRSS,
        "earlier mRSS scores: screening and visit totals, the chart and change from baseline, completed mRSS forms",
        "an assessor who knows the earlier score and sees a change can guess the better arm and bias the score",
    ),
)


# The eligibility criteria whose "value used" is an mRSS total (shown as concealed to a blinded viewer).
MRSS_CRITERIA = frozenset({"I4"})


def blinded_at(user: Any, site: Any) -> bool:
    """Whether ``user`` is blinded at ``site``: no role there lets them see the arm."""
    return not user_can(user, SEES_ARM, site)


def shows(user: Any, site: Any, item: Hidden) -> bool:
    """Whether ``user`` may see ``item`` for a participant of ``site`` (everything when not blinded there)."""
    return not blinded_at(user, site)


def mrss_values_shown(user: Any, site: Any, *, complete: bool, later_scored: bool) -> bool:
    """Whether ``user`` may see the scores of one mRSS form of a participant of ``site``.

    A blinded viewer sees only the form being scored now: not a complete one, and not one followed by a later mRSS
    of the same participant (a screening mRSS once the participant is randomised counts as followed).
    """
    return shows(user, site, Hidden.EARLIER_MRSS) or not (complete or later_scored)
