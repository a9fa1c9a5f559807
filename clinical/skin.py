"""Cutaneous subset of systemic sclerosis by the extent of skin thickening (LeRoy & Medsger, J Rheumatol 2001).

Diffuse: thickening proximal to the elbows or knees or on the trunk (upper arms, thighs, chest, abdomen) at
any time. Limited: thickening only distal to the elbows and knees, with or without the face and neck.
SSc sine scleroderma: no skin thickening at all.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Final


@dataclass(frozen=True)
class SkinInvolvement:
    """Skin thickening at each site at any time: True yes, False no, None not yet recorded."""

    fingers: bool | None = None
    hands: bool | None = None
    forearms: bool | None = None
    upper_arms: bool | None = None
    face: bool | None = None
    neck: bool | None = None
    chest: bool | None = None
    abdomen: bool | None = None
    thighs: bool | None = None
    lower_legs: bool | None = None
    feet: bool | None = None


class SkinSubset(StrEnum):
    DIFFUSE = "diffuse"
    LIMITED = "limited"
    SINE = "sine"  # SSc sine scleroderma: no skin thickening


SKIN_SITES: Final[tuple[str, ...]] = tuple(field.name for field in fields(SkinInvolvement))
PROXIMAL_SITES: Final[tuple[str, ...]] = ("upper_arms", "thighs", "chest", "abdomen")
"""Sites proximal to the elbows or knees, or on the trunk: thickening at any of them makes the subset diffuse."""
DISTAL_SITES: Final[tuple[str, ...]] = tuple(site for site in SKIN_SITES if site not in PROXIMAL_SITES)

SITE_LABELS: Final[dict[str, str]] = {
    "fingers": "fingers",
    "hands": "hands",
    "forearms": "forearms",
    "upper_arms": "upper arms",
    "face": "face",
    "neck": "neck",
    "chest": "chest",
    "abdomen": "abdomen",
    "thighs": "thighs",
    "lower_legs": "lower legs",
    "feet": "feet",
}


def _answers(skin: SkinInvolvement, sites: tuple[str, ...]) -> list[bool | None]:
    return [getattr(skin, site) for site in sites]


def diffuse_cutaneous(skin: SkinInvolvement) -> bool | None:
    """True if any proximal site is thickened, False if every proximal site is recorded as not, else None.

    Unlike ``skin_subset`` this is decided as soon as the proximal sites are, even while limited and sine
    cannot yet be told apart.
    """
    proximal = _answers(skin, PROXIMAL_SITES)
    if any(answer is True for answer in proximal):
        return True
    if all(answer is False for answer in proximal):
        return False
    return None


def skin_subset(skin: SkinInvolvement) -> SkinSubset | None:
    """Diffuse, limited or sine scleroderma; None while unrecorded sites could still change the answer."""
    diffuse = diffuse_cutaneous(skin)
    if diffuse is True:
        return SkinSubset.DIFFUSE
    if diffuse is None:
        return None
    distal = _answers(skin, DISTAL_SITES)
    if any(answer is True for answer in distal):
        return SkinSubset.LIMITED
    if all(answer is False for answer in distal):
        return SkinSubset.SINE
    return None
