from __future__ import annotations

from dataclasses import replace

import pytest

from clinical.skin import PROXIMAL_SITES, SkinInvolvement, SkinSubset, diffuse_cutaneous, skin_subset
from tests.clinical.builders import SKIN_NONE


@pytest.mark.parametrize("site", PROXIMAL_SITES)
def test_thickening_proximal_to_elbows_or_knees_or_on_the_trunk_is_diffuse(site: str) -> None:
    assert skin_subset(SkinInvolvement(**{site: True})) is SkinSubset.DIFFUSE


@pytest.mark.parametrize("site", ["fingers", "hands", "forearms", "face", "neck", "lower_legs", "feet"])
def test_thickening_only_distal_or_on_face_and_neck_is_limited(site: str) -> None:
    assert skin_subset(replace(SKIN_NONE, **{site: True})) is SkinSubset.LIMITED


def test_limited_is_decided_while_other_distal_sites_are_unrecorded() -> None:
    skin = SkinInvolvement(upper_arms=False, thighs=False, chest=False, abdomen=False, fingers=True)
    assert skin_subset(skin) is SkinSubset.LIMITED


def test_no_thickening_anywhere_is_sine_scleroderma() -> None:
    assert skin_subset(SKIN_NONE) is SkinSubset.SINE


@pytest.mark.parametrize(
    "skin",
    [
        SkinInvolvement(),
        SkinInvolvement(fingers=True),  # a proximal site could still be thickened
        replace(SKIN_NONE, chest=None),
        replace(SKIN_NONE, feet=None),  # limited or sine
    ],
)
def test_undecided_while_unrecorded_sites_could_change_it(skin: SkinInvolvement) -> None:
    assert skin_subset(skin) is None


def test_diffuse_cutaneous_is_decided_by_the_proximal_sites_alone() -> None:
    assert diffuse_cutaneous(replace(SKIN_NONE, feet=None)) is False
    assert diffuse_cutaneous(SkinInvolvement(thighs=True)) is True
    assert diffuse_cutaneous(SkinInvolvement(thighs=False)) is None


def test_subset_values() -> None:
    assert [subset.value for subset in SkinSubset] == ["diffuse", "limited", "sine"]
