from __future__ import annotations

import pytest

from clinical.mrss import MRSS_AREAS, MRSS_MAX_AREA_SCORE, MRSS_MAX_TOTAL, mrss_total

CODES = [code for code, _ in MRSS_AREAS]


def test_seventeen_areas_in_protocol_order() -> None:
    assert len(MRSS_AREAS) == 17
    assert CODES[:5] == ["face", "anterior_chest", "abdomen", "fingers_right", "fingers_left"]
    assert CODES[-2:] == ["feet_right", "feet_left"]
    assert [code.rsplit("_", 1)[0] for code in CODES[3::2]] == [
        "fingers",
        "hands",
        "forearms",
        "upper_arms",
        "thighs",
        "lower_legs",
        "feet",
    ]
    assert dict(MRSS_AREAS)["hands_right"] == "Dorsum of hand, right"
    assert dict(MRSS_AREAS)["feet_left"] == "Dorsum of foot, left"
    assert dict(MRSS_AREAS)["anterior_chest"] == "Anterior chest"
    assert len(set(CODES)) == 17


def test_total_ranges_from_0_to_51() -> None:
    assert (MRSS_MAX_AREA_SCORE, MRSS_MAX_TOTAL) == (3, 51)
    assert mrss_total(dict.fromkeys(CODES, 0)) == 0
    assert mrss_total(dict.fromkeys(CODES, 3)) == 51
    scores = dict.fromkeys(CODES, 0) | {"face": 2, "fingers_left": 3, "thighs_right": 1}
    assert mrss_total(scores) == 6


def test_no_total_while_an_area_is_missing() -> None:
    scores: dict[str, int | None] = dict.fromkeys(CODES, 1)
    scores["feet_left"] = None
    assert mrss_total(scores) is None
    del scores["feet_left"]
    assert mrss_total(scores) is None
    assert mrss_total({}) is None


def test_unknown_area_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown mRSS area"):
        mrss_total(dict.fromkeys(CODES, 1) | {"neck": 1})


@pytest.mark.parametrize("score", [-1, 4, 1.5, True])
def test_scores_outside_0_to_3_are_refused_even_while_incomplete(score: object) -> None:
    with pytest.raises(ValueError, match="0–3"):
        mrss_total({"face": score})  # type: ignore[dict-item]
