"""Scores of the trial's instruments: body-mass index, HAQ-DI, CDAI and the change in mRSS.

Every score is returned unrounded; rounding is for display only, so that a value is never pushed across a
threshold before it is compared.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Final

from clinical.mrss import MRSS_MAX_TOTAL


def _number(value: float, what: str, low: float, high: float, unit: str = "") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{what} must be a number, not {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{what} must be between {low:g} and {high:g}{unit}, not {value:g}{unit}")
    return value


def _count(value: int, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{what} must be a whole number {low}–{high}, not {value!r}")
    return value


def _exact(value: float) -> Fraction:
    """The value as it was typed (0.1 is one tenth, not the nearest binary fraction)."""
    return Fraction(repr(value)) if isinstance(value, float) else Fraction(value)


# --- Body-mass index ----------------------------------------------------------------------------------------

BMI_WEIGHT_RANGE_KG: Final = (20.0, 300.0)
BMI_HEIGHT_RANGE_CM: Final = (100.0, 230.0)


def bmi(weight_kg: float, height_cm: float) -> float:
    """Body-mass index in kg/m²: weight ÷ height², unrounded (usually shown to 1 decimal).

    70 kg and 170 cm give 24.22. Raises ValueError for a weight outside 20–300 kg or a height outside
    100–230 cm (edges allowed): such values are almost always a unit slip (pounds, metres, inches).
    """
    weight = _number(weight_kg, "weight", *BMI_WEIGHT_RANGE_KG, " kg")
    height_m = _number(height_cm, "height", *BMI_HEIGHT_RANGE_CM, " cm") / 100
    return weight / (height_m * height_m)


# --- HAQ-DI -------------------------------------------------------------------------------------------------

HAQ_CATEGORIES: Final[tuple[tuple[str, str], ...]] = (
    ("dressing", "Dressing & grooming"),
    ("arising", "Arising"),
    ("eating", "Eating"),
    ("walking", "Walking"),
    ("hygiene", "Hygiene"),
    ("reach", "Reach"),
    ("grip", "Grip"),
    ("activities", "Activities"),
)
"""The 8 categories of the Stanford HAQ Disability Index, in the order of the questionnaire, as (code, label)."""

HAQ_ITEM_LABELS: Final[dict[str, str]] = {
    "dress": "Dress yourself, including tying shoelaces and doing buttons?",
    "shampoo": "Shampoo your hair?",
    "stand_up": "Stand up from a straight chair?",
    "in_out_of_bed": "Get in and out of bed?",
    "cut_meat": "Cut your meat?",
    "lift_cup": "Lift a full cup or glass to your mouth?",
    "open_carton": "Open a new milk carton?",
    "walk_outdoors": "Walk outdoors on flat ground?",
    "climb_steps": "Climb up five steps?",
    "wash_body": "Wash and dry your body?",
    "take_bath": "Take a tub bath?",
    "toilet": "Get on and off the toilet?",
    "reach_object": "Reach and get down a 5-pound object (such as a bag of sugar) from just above your head?",
    "pick_up_clothing": "Bend down to pick up clothing from the floor?",
    "open_car_doors": "Open car doors?",
    "open_jars": "Open jars which have been previously opened?",
    "turn_taps": "Turn faucets on and off?",
    "errands": "Run errands and shop?",
    "in_out_of_car": "Get in and out of a car?",
    "chores": "Do chores such as vacuuming or yardwork?",
}
"""The 20 items as (code → the English question, "Are you able to …"), in the order of the questionnaire.
A translated form shows its validated translation; the codes stay the same."""

HAQ_ITEMS: Final[dict[str, tuple[str, ...]]] = {
    "dressing": ("dress", "shampoo"),
    "arising": ("stand_up", "in_out_of_bed"),
    "eating": ("cut_meat", "lift_cup", "open_carton"),
    "walking": ("walk_outdoors", "climb_steps"),
    "hygiene": ("wash_body", "take_bath", "toilet"),
    "reach": ("reach_object", "pick_up_clothing"),
    "grip": ("open_car_doors", "open_jars", "turn_taps"),
    "activities": ("errands", "in_out_of_car", "chores"),
}
"""Each category's item codes: 20 items in all (2, 2, 3, 2, 3, 2, 3, 3)."""

HAQ_ITEM_CODES: Final[tuple[str, ...]] = tuple(code for items in HAQ_ITEMS.values() for code in items)
HAQ_MAX_ITEM_SCORE: Final = 3  # 0 without any difficulty, 1 with some, 2 with much difficulty, 3 unable to do
HAQ_AID_MINIMUM: Final = 2  # an aid, device or help raises a category score of 0 or 1 to 2
HAQ_MIN_ANSWERED_CATEGORIES: Final = 6

_CATEGORY_OF_ITEM: Final = {item: category for category, items in HAQ_ITEMS.items() for item in items}


@dataclass(frozen=True)
class HaqResult:
    """The HAQ-DI and how it was reached.

    ``score`` is the Disability Index (0–3, unrounded) or None when fewer than 6 categories were answered;
    ``category_scores`` gives each category's score after the aids-or-help rule, in questionnaire order, None
    for a category with no answered item; ``answered_categories`` counts the categories with a score.
    """

    score: float | None
    category_scores: tuple[tuple[str, int | None], ...]
    answered_categories: int


def haq_di(items: Mapping[str, int | None], aids_or_help: Mapping[str, bool]) -> HaqResult:
    """The HAQ Disability Index (Stanford scoring, with aids and help).

    - Each item is scored 0–3; an item left out of ``items`` or given as None is unanswered.
    - A category scores its highest answered item.
    - If the participant uses an aid or device or needs help from another person for a category
      (``aids_or_help[category]`` True), a category score of 0 or 1 is raised to 2; a 2 or 3 stays. A category
      with no answered item stays unanswered even if an aid is ticked (the aid raises a score, it does not
      create one).
    - The HAQ-DI is the mean of the answered categories, provided at least 6 of the 8 are answered; otherwise
      it is None.

    The score is not rounded. It is usually shown to 3 decimals; with all 8 categories answered it moves in
    steps of 0.125 (1/8), e.g. 1.375, while with 6 or 7 categories it may fall between those steps
    (7 ÷ 6 = 1.167).

    Raises ValueError for an unknown item or category code, an item score that is not a whole number 0–3, or
    an aids-or-help answer that is not True or False.
    """
    unknown_items = sorted(set(items) - set(HAQ_ITEM_CODES))
    if unknown_items:
        raise ValueError(f"unknown HAQ-DI item code(s): {', '.join(map(repr, unknown_items))}")
    unknown_categories = sorted(set(aids_or_help) - set(HAQ_ITEMS))
    if unknown_categories:
        raise ValueError(f"unknown HAQ-DI category code(s): {', '.join(map(repr, unknown_categories))}")
    for category, used in aids_or_help.items():
        if not isinstance(used, bool):
            raise ValueError(f"aids or help for HAQ-DI category {category!r} must be True or False, not {used!r}")
    answered: dict[str, int] = {}
    for code, score in items.items():
        if score is not None:
            answered[code] = _count(score, f"HAQ-DI item {code!r}", 0, HAQ_MAX_ITEM_SCORE)

    category_scores: list[tuple[str, int | None]] = []
    for category, _ in HAQ_CATEGORIES:
        scores = [answered[item] for item in HAQ_ITEMS[category] if item in answered]
        category_score = max(scores) if scores else None
        if category_score is not None and aids_or_help.get(category, False):
            category_score = max(category_score, HAQ_AID_MINIMUM)
        category_scores.append((category, category_score))

    values = [score for _, score in category_scores if score is not None]
    mean = sum(values) / len(values) if len(values) >= HAQ_MIN_ANSWERED_CATEGORIES else None
    return HaqResult(score=mean, category_scores=tuple(category_scores), answered_categories=len(values))


# --- CDAI ---------------------------------------------------------------------------------------------------

CDAI_MAX: Final = 76


def cdai(*, swollen_28: int, tender_28: int, patient_global: float, evaluator_global: float) -> float:
    """Clinical Disease Activity Index: swollen + tender joint counts (28 joints each, 0–28) + patient global
    + evaluator global (0–10 each); range 0–76, unrounded.

    The sum is taken of the values as entered, so 3 + 4 + 2.1 + 3.3 is exactly 12.4.
    Raises ValueError for a count that is not a whole number 0–28 or a global outside 0–10.
    """
    swollen = _count(swollen_28, "swollen joint count (28 joints)", 0, 28)
    tender = _count(tender_28, "tender joint count (28 joints)", 0, 28)
    patient = _number(patient_global, "patient global assessment", 0, 10)
    evaluator = _number(evaluator_global, "evaluator global assessment", 0, 10)
    return float(swollen + tender + _exact(patient) + _exact(evaluator))


# --- mRSS change ----------------------------------------------------------------------------------------------

MRSS_RESPONDER_MIN_POINTS_EXCLUSIVE: Final = 5  # improves by more than 5 points …
MRSS_RESPONDER_MIN_FRACTION: Final = Fraction(1, 4)  # … and by at least 25 % of the baseline score


def _mrss(value: int, what: str) -> int:
    return _count(value, f"{what} mRSS", 0, MRSS_MAX_TOTAL)


def mrss_change(baseline: int, follow_up: int) -> int:
    """Change in mRSS from baseline: follow-up − baseline. Negative is improvement (less skin thickening).

    Raises ValueError for a total that is not a whole number 0–51.
    """
    return _mrss(follow_up, "follow-up") - _mrss(baseline, "baseline")


def mrss_responder(baseline: int, follow_up: int) -> bool:
    """True if the mRSS improved by more than 5 points AND by at least 25 % of the baseline score.

    An improvement of exactly 5 points is not enough; 25 % is inclusive (24 → 18 is a responder: 6 points,
    25 %; 30 → 23 is not: 7 points is only 23 %). A baseline of 0 cannot improve, so it is never a responder.
    Raises ValueError for a total that is not a whole number 0–51.
    """
    improvement = -mrss_change(baseline, follow_up)
    return improvement > MRSS_RESPONDER_MIN_POINTS_EXCLUSIVE and improvement >= MRSS_RESPONDER_MIN_FRACTION * baseline
