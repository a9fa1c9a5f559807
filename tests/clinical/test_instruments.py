from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinical.instruments import (
    HAQ_CATEGORIES,
    HAQ_ITEM_CODES,
    HAQ_ITEM_LABELS,
    HAQ_ITEMS,
    HaqResult,
    bmi,
    cdai,
    haq_di,
    mrss_change,
    mrss_responder,
)

CATEGORY_CODES = [code for code, _ in HAQ_CATEGORIES]


def items_with(**category_scores: int | None) -> dict[str, int | None]:
    """Every item of each named category set to that score (others unanswered)."""
    return {item: score for category, score in category_scores.items() for item in HAQ_ITEMS[category]}


# --- BMI ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weight", "height", "expected"),
    [
        (70, 170, 24.221453),
        (45.5, 152, 19.693560),
        (100, 200, 25.0),
        (20, 100, 20.0),
        (300, 230, 56.710775),
    ],
)
def test_bmi(weight: float, height: float, expected: float) -> None:
    assert bmi(weight, height) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    ("weight", "height", "message"),
    [
        (19.9, 170, "weight"),
        (300.1, 170, "weight"),
        (154, 170, None),  # 154 is a plausible weight in kg; no error
        (70, 99.9, "height"),
        (70, 230.1, "height"),
        (70, 1.7, "height"),  # metres, not centimetres
        (float("nan"), 170, "weight"),
        (True, 170, "weight"),
    ],
)
def test_bmi_refuses_implausible_weight_or_height(weight: float, height: float, message: str | None) -> None:
    if message is None:
        assert bmi(weight, height) == pytest.approx(53.287197, abs=1e-6)
        return
    with pytest.raises(ValueError, match=message):
        bmi(weight, height)


# --- HAQ-DI ---------------------------------------------------------------------------------------------------


def test_haq_has_20_items_in_8_categories_as_the_stanford_questionnaire() -> None:
    assert list(HAQ_ITEMS) == CATEGORY_CODES
    assert [len(HAQ_ITEMS[code]) for code in CATEGORY_CODES] == [2, 2, 3, 2, 3, 2, 3, 3]
    assert len(HAQ_ITEM_CODES) == len(set(HAQ_ITEM_CODES)) == 20
    assert list(HAQ_ITEM_LABELS) == list(HAQ_ITEM_CODES)
    assert dict(HAQ_CATEGORIES)["dressing"] == "Dressing & grooming"
    assert HAQ_ITEM_LABELS["climb_steps"] == "Climb up five steps?"


def test_all_zero_is_zero_and_all_three_is_three() -> None:
    assert haq_di(dict.fromkeys(HAQ_ITEM_CODES, 0), {}).score == 0
    assert haq_di(dict.fromkeys(HAQ_ITEM_CODES, 3), {}).score == 3


def test_a_category_scores_its_highest_item() -> None:
    items: dict[str, int | None] = dict.fromkeys(HAQ_ITEM_CODES, 0)
    items |= {"cut_meat": 1, "lift_cup": 2, "open_carton": 0, "climb_steps": 3}
    result = haq_di(items, {})
    assert dict(result.category_scores) == dict.fromkeys(CATEGORY_CODES, 0) | {"eating": 2, "walking": 3}
    assert result.score == 5 / 8 == 0.625
    assert result.answered_categories == 8


def test_worked_example_with_aids() -> None:
    # Category maxima 1, 0, 2, 1, 0, 3, 1, 2; aids for arising (0 → 2), walking (1 → 2) and eating (2 stays 2).
    items = {
        "dress": 1,
        "shampoo": 0,
        "stand_up": 0,
        "in_out_of_bed": 0,
        "cut_meat": 2,
        "lift_cup": 1,
        "open_carton": None,
        "walk_outdoors": 1,
        "climb_steps": 1,
        "wash_body": 0,
        "take_bath": 0,
        "toilet": 0,
        "reach_object": 3,
        "pick_up_clothing": 2,
        "open_car_doors": 1,
        "open_jars": 1,
        "turn_taps": 0,
        "errands": 2,
        "in_out_of_car": 1,
        "chores": 2,
    }
    result = haq_di(items, {"arising": True, "walking": True, "eating": True, "hygiene": False})
    assert result.category_scores == (
        ("dressing", 1),
        ("arising", 2),
        ("eating", 2),
        ("walking", 2),
        ("hygiene", 0),
        ("reach", 3),
        ("grip", 1),
        ("activities", 2),
    )
    assert result.score == 13 / 8 == 1.625
    assert result == HaqResult(score=1.625, category_scores=result.category_scores, answered_categories=8)


@pytest.mark.parametrize(("item_score", "with_aid"), [(0, 2), (1, 2), (2, 2), (3, 3)])
def test_aids_or_help_raise_0_and_1_to_2_only(item_score: int, with_aid: int) -> None:
    items = dict.fromkeys(HAQ_ITEM_CODES, 0) | {"dress": item_score}
    assert dict(haq_di(items, {"dressing": True}).category_scores)["dressing"] == with_aid
    assert dict(haq_di(items, {"dressing": False}).category_scores)["dressing"] == item_score


def test_an_aid_does_not_score_a_category_with_no_answered_item() -> None:
    items = items_with(dressing=1, arising=1, eating=1, walking=1, hygiene=1, reach=1)
    result = haq_di(items, {"grip": True, "activities": True})
    assert dict(result.category_scores)["grip"] is None
    assert dict(result.category_scores)["activities"] is None
    assert result.answered_categories == 6
    assert result.score == 1


def test_one_answered_item_is_enough_for_a_category() -> None:
    items = items_with(dressing=0, arising=0, eating=0, walking=0, hygiene=0, reach=0, grip=0) | {"chores": 3}
    assert dict(haq_di(items, {}).category_scores)["activities"] == 3
    assert haq_di(items, {}).score == 3 / 8


def test_six_answered_categories_score_and_five_do_not() -> None:
    six = items_with(dressing=1, arising=2, eating=0, walking=3, hygiene=1, reach=0)
    result = haq_di(six, {})
    assert (result.answered_categories, result.score) == (6, 7 / 6)
    assert round(result.score, 3) == 1.167  # type: ignore[arg-type]
    seven = six | {"open_jars": 2}
    assert haq_di(seven, {}).score == 9 / 7
    five = items_with(dressing=1, arising=2, eating=0, walking=3, hygiene=1)
    result = haq_di(five, {"reach": True})
    assert (result.answered_categories, result.score) == (5, None)
    assert haq_di({}, {}) == HaqResult(
        score=None, category_scores=tuple((c, None) for c in CATEGORY_CODES), answered_categories=0
    )


def test_none_is_unanswered() -> None:
    items = dict.fromkeys(HAQ_ITEM_CODES, None) | items_with(dressing=2, arising=2, eating=2, walking=2, hygiene=2)
    assert haq_di(items, {}).score is None


@pytest.mark.parametrize("score", [-1, 4, 1.5, True, "2"])
def test_item_scores_outside_0_to_3_are_refused(score: object) -> None:
    with pytest.raises(ValueError, match="0–3"):
        haq_di({"dress": score}, {})  # type: ignore[dict-item]


def test_unknown_codes_and_non_boolean_aids_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown HAQ-DI item"):
        haq_di({"dance": 1}, {})
    with pytest.raises(ValueError, match="unknown HAQ-DI category"):
        haq_di({}, {"sleep": True})
    with pytest.raises(ValueError, match="True or False"):
        haq_di({}, {"grip": 1})  # type: ignore[dict-item]


haq_items = st.fixed_dictionaries({code: st.one_of(st.none(), st.integers(0, 3)) for code in HAQ_ITEM_CODES})
haq_aids = st.fixed_dictionaries({code: st.booleans() for code in CATEGORY_CODES})


@given(items=haq_items, aids=haq_aids)
def test_haq_is_within_0_to_3_and_aids_never_lower_it(items: dict[str, int | None], aids: dict[str, bool]) -> None:
    with_aids, without = haq_di(items, aids), haq_di(items, {})
    assert with_aids.answered_categories == without.answered_categories
    if without.score is None:
        assert with_aids.score is None
    else:
        assert with_aids.score is not None
        assert 0 <= without.score <= with_aids.score <= 3
        assert (without.score * without.answered_categories) % 1 == 0


# --- CDAI ---------------------------------------------------------------------------------------------------


def test_cdai_is_the_sum_of_the_four_parts() -> None:
    assert cdai(swollen_28=3, tender_28=4, patient_global=2.1, evaluator_global=3.3) == 12.4
    assert cdai(swollen_28=0, tender_28=0, patient_global=0, evaluator_global=0) == 0
    assert cdai(swollen_28=28, tender_28=28, patient_global=10, evaluator_global=10) == 76
    assert cdai(swollen_28=1, tender_28=2, patient_global=0.1, evaluator_global=0.2) == 3.3


@pytest.mark.parametrize(
    ("part", "value", "message"),
    [
        ("swollen_28", -1, "swollen"),
        ("swollen_28", 29, "swollen"),
        ("tender_28", 29, "tender"),
        ("tender_28", 2.0, "tender"),
        ("patient_global", 10.1, "patient global"),
        ("patient_global", -0.1, "patient global"),
        ("evaluator_global", 11, "evaluator global"),
        ("evaluator_global", float("inf"), "evaluator global"),
    ],
)
def test_cdai_refuses_parts_out_of_range(part: str, value: float, message: str) -> None:
    parts: dict[str, float] = {"swollen_28": 2, "tender_28": 3, "patient_global": 4, "evaluator_global": 5}
    with pytest.raises(ValueError, match=message):
        cdai(**parts | {part: value})  # type: ignore[arg-type]


# --- mRSS change and response ---------------------------------------------------------------------------------


def test_mrss_change_is_follow_up_minus_baseline() -> None:
    assert mrss_change(24, 18) == -6
    assert mrss_change(18, 24) == 6
    assert mrss_change(10, 10) == 0


@pytest.mark.parametrize(
    ("baseline", "follow_up", "responder"),
    [
        (24, 18, True),  # 6 points, exactly 25 %
        (24, 19, False),  # 5 points is not more than 5
        (20, 14, True),  # 6 points, 30 %
        (25, 19, False),  # 6 points, 24 %
        (25, 18, True),  # 7 points, 28 %
        (30, 23, False),  # 7 points, 23.3 %
        (30, 22, True),  # 8 points, 26.7 %
        (40, 30, True),  # 10 points, exactly 25 %
        (40, 31, False),  # 9 points, 22.5 %
        (10, 4, True),  # 6 points, 60 %
        (10, 5, False),  # 5 points
        (6, 0, True),  # 6 points, 100 %
        (51, 0, True),
        (12, 20, False),  # worse
        (0, 0, False),  # nothing to improve
    ],
)
def test_mrss_responder_improves_by_more_than_5_points_and_at_least_25_percent(
    baseline: int, follow_up: int, responder: bool
) -> None:
    assert mrss_responder(baseline, follow_up) is responder


@pytest.mark.parametrize(("baseline", "follow_up"), [(-1, 10), (52, 10), (10, 52), (10, -1), (10.0, 5), (True, 0)])
def test_mrss_totals_outside_0_to_51_are_refused(baseline: int, follow_up: int) -> None:
    with pytest.raises(ValueError, match="0–51"):
        mrss_change(baseline, follow_up)
    with pytest.raises(ValueError, match="0–51"):
        mrss_responder(baseline, follow_up)
