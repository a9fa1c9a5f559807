"""The 2013 ACR/EULAR classification criteria for systemic sclerosis (van den Hoogen et al., Arthritis Rheum
2013;65:2737-47 and Ann Rheum Dis 2013;72:1747-55).

Each item counts its highest sub-item once; the total is the sum of every item's points, as published (from 0
to 28: 9 + 4 + 3 + 2 + 2 + 2 + 3 + 3); a total ≥ 9 classifies. Skin thickening of the fingers of both hands
extending proximal to the MCP joints scores 9, which is sufficient on its own; the other items still add
their points to the total. The criteria are not applicable when skin thickening spares the fingers, or when a
scleroderma-like disorder explains the picture better.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class AcrEularItems:
    """The answers: True yes, False no, None not yet answered."""

    skin_thickening_proximal_to_mcp: bool | None = None  # sufficient on its own (9)
    puffy_fingers: bool | None = None  # skin thickening of the fingers: 2
    sclerodactyly: bool | None = None  # … sclerodactyly distal to the MCP joints: 4 (item max 4)
    digital_tip_ulcers: bool | None = None  # fingertip lesions: 2
    fingertip_pitting_scars: bool | None = None  # … 3 (item max 3)
    telangiectasia: bool | None = None  # 2
    abnormal_nailfold_capillaries: bool | None = None  # 2
    pulmonary_arterial_hypertension: bool | None = None  # PAH and/or ILD: 2
    interstitial_lung_disease: bool | None = None  # … 2 (item max 2)
    raynaud_phenomenon: bool | None = None  # 3
    anticentromere: bool | None = None  # SSc-related autoantibodies: 3
    anti_topoisomerase_i: bool | None = None  # … 3
    anti_rna_polymerase_iii: bool | None = None  # … 3 (item max 3)
    # Applicability: True on either makes the criteria not applicable.
    skin_thickening_spares_fingers: bool | None = None
    better_explained_by_other_disorder: bool | None = None


@dataclass(frozen=True)
class AcrEularScore:
    """The score so far and what it can still become.

    ``total``: the sum over the items of each one's highest sub-item answered yes (the sufficient item is 9).
    ``maximum_possible``: the total if every unanswered item turned out yes.
    ``applicable``: False if either applicability question is yes, True if both are no, else None.
    ``classified``: True if applicable and total ≥ threshold; False if not applicable or the maximum possible
    is below the threshold; None otherwise.
    ``unanswered``: the field names still None that could change ``classified`` (empty once it is decided).
    """

    total: int
    maximum_possible: int
    applicable: bool | None
    classified: bool | None
    unanswered: tuple[str, ...]


SUFFICIENT_ITEM: Final = "skin_thickening_proximal_to_mcp"
SUFFICIENT_POINTS: Final = 9
DEFAULT_THRESHOLD: Final = 9

ITEMS: Final[tuple[tuple[str, tuple[tuple[str, int], ...]], ...]] = (
    ("skin_proximal_to_mcp", ((SUFFICIENT_ITEM, SUFFICIENT_POINTS),)),
    ("skin_of_fingers", (("puffy_fingers", 2), ("sclerodactyly", 4))),
    ("fingertip_lesions", (("digital_tip_ulcers", 2), ("fingertip_pitting_scars", 3))),
    ("telangiectasia", (("telangiectasia", 2),)),
    ("nailfold_capillaries", (("abnormal_nailfold_capillaries", 2),)),
    ("pah_or_ild", (("pulmonary_arterial_hypertension", 2), ("interstitial_lung_disease", 2))),
    ("raynaud", (("raynaud_phenomenon", 3),)),
    ("autoantibodies", (("anticentromere", 3), ("anti_topoisomerase_i", 3), ("anti_rna_polymerase_iii", 3))),
)
"""The eight items of the published table, each with its sub-items (field name, points); an item counts its
highest sub-item answered yes, once."""

ITEM_GROUPS: Final[tuple[tuple[tuple[str, int], ...], ...]] = tuple(group for _key, group in ITEMS[1:])
"""The items after the sufficient one."""

MAXIMUM_TOTAL: Final = sum(max(weight for _name, weight in group) for _key, group in ITEMS)
"""28: every item at its highest sub-item."""

APPLICABILITY_QUESTIONS: Final[tuple[str, ...]] = (
    "skin_thickening_spares_fingers",
    "better_explained_by_other_disorder",
)

ITEM_LABELS: Final[dict[str, str]] = {
    "skin_thickening_proximal_to_mcp": "skin thickening of the fingers of both hands proximal to the MCP joints",
    "puffy_fingers": "puffy fingers",
    "sclerodactyly": "sclerodactyly distal to the MCP joints",
    "digital_tip_ulcers": "digital tip ulcers",
    "fingertip_pitting_scars": "fingertip pitting scars",
    "telangiectasia": "telangiectasia",
    "abnormal_nailfold_capillaries": "abnormal nailfold capillaries",
    "pulmonary_arterial_hypertension": "pulmonary arterial hypertension",
    "interstitial_lung_disease": "interstitial lung disease",
    "raynaud_phenomenon": "Raynaud's phenomenon",
    "anticentromere": "anticentromere antibodies",
    "anti_topoisomerase_i": "anti-topoisomerase I (Scl-70) antibodies",
    "anti_rna_polymerase_iii": "anti-RNA polymerase III antibodies",
    "skin_thickening_spares_fingers": "whether skin thickening spares the fingers",
    "better_explained_by_other_disorder": "whether a scleroderma-like disorder explains the picture better",
}
"""Plain-English names of the fields, for explanations."""


def _group_points(items: AcrEularItems, group: tuple[tuple[str, int], ...], *, unknown_as_yes: bool) -> int:
    points = 0
    for name, weight in group:
        answer = getattr(items, name)
        if answer is True or (answer is None and unknown_as_yes):
            points = max(points, weight)
    return points


def _applicable(items: AcrEularItems) -> bool | None:
    answers = [getattr(items, name) for name in APPLICABILITY_QUESTIONS]
    if any(answer is True for answer in answers):
        return False
    if all(answer is False for answer in answers):
        return True
    return None


def _open_items(items: AcrEularItems) -> list[str]:
    """Unanswered score items that would still add points if answered yes."""
    names = [SUFFICIENT_ITEM] if getattr(items, SUFFICIENT_ITEM) is None else []
    for group in ITEM_GROUPS:
        reached = _group_points(items, group, unknown_as_yes=False)
        names.extend(name for name, weight in group if getattr(items, name) is None and weight > reached)
    return names


@dataclass(frozen=True)
class ItemPoints:
    """One item's points: ``points`` from the sub-items answered yes so far, ``possible`` if every unanswered
    sub-item turned out yes; ``maximum`` is the item's highest weight; ``answered`` is False while no sub-item
    is answered."""

    key: str
    points: int
    possible: int
    maximum: int
    answered: bool


def item_points(items: AcrEularItems) -> tuple[ItemPoints, ...]:
    """The points of each of the eight items, in the published order; their sum is ``acr_eular_score().total``."""
    return tuple(
        ItemPoints(
            key=key,
            points=_group_points(items, group, unknown_as_yes=False),
            possible=_group_points(items, group, unknown_as_yes=True),
            maximum=max(weight for _name, weight in group),
            answered=any(getattr(items, name) is not None for name, _weight in group),
        )
        for key, group in ITEMS
    )


def acr_eular_score(items: AcrEularItems, *, threshold: int = DEFAULT_THRESHOLD) -> AcrEularScore:
    """Score the 2013 ACR/EULAR criteria; see ``AcrEularScore`` for the meaning of each field."""
    points = item_points(items)
    total = sum(item.points for item in points)
    maximum = sum(item.possible for item in points)
    applicable = _applicable(items)

    classified: bool | None
    if applicable is False or maximum < threshold:
        classified = False
    elif applicable is True and total >= threshold:
        classified = True
    else:
        classified = None

    unanswered: tuple[str, ...] = ()
    if classified is None:
        open_items = _open_items(items) if total < threshold else []
        open_questions = [name for name in APPLICABILITY_QUESTIONS if getattr(items, name) is None]
        unanswered = tuple(name for name in ITEM_LABELS if name in {*open_items, *open_questions})
    return AcrEularScore(
        total=total, maximum_possible=maximum, applicable=applicable, classified=classified, unanswered=unanswered
    )
