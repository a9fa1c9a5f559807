from __future__ import annotations

import itertools
from dataclasses import fields, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinical.acr_eular import ITEM_LABELS, MAXIMUM_TOTAL, AcrEularItems, acr_eular_score, item_points
from tests.clinical.builders import ACR_EULAR_NONE_YES

FIELDS = [field.name for field in fields(AcrEularItems)]


def score_of(**yes: bool | None) -> int:
    return acr_eular_score(replace(ACR_EULAR_NONE_YES, **yes)).total


def test_every_field_has_a_label() -> None:
    assert set(ITEM_LABELS) == set(FIELDS)


@pytest.mark.parametrize(
    ("yes", "total"),
    [
        ({"puffy_fingers": True}, 2),
        ({"sclerodactyly": True}, 4),
        ({"puffy_fingers": True, "sclerodactyly": True}, 4),  # highest sub-item, not 6
        ({"digital_tip_ulcers": True, "fingertip_pitting_scars": True}, 3),
        ({"pulmonary_arterial_hypertension": True, "interstitial_lung_disease": True}, 2),
        ({"anticentromere": True, "anti_topoisomerase_i": True, "anti_rna_polymerase_iii": True}, 3),
        ({"telangiectasia": True, "abnormal_nailfold_capillaries": True, "raynaud_phenomenon": True}, 7),
    ],
)
def test_each_item_counts_its_highest_sub_item(yes: dict[str, bool], total: int) -> None:
    assert score_of(**yes) == total


def test_every_item_yes_scores_19_without_the_sufficient_item() -> None:
    everything = {name: True for name in FIELDS[:13]} | {"skin_thickening_proximal_to_mcp": False}
    score = acr_eular_score(replace(ACR_EULAR_NONE_YES, **everything))
    assert (score.total, score.classified) == (19, True)


def test_the_sufficient_item_alone_classifies() -> None:
    score = acr_eular_score(replace(ACR_EULAR_NONE_YES, skin_thickening_proximal_to_mcp=True))
    assert (score.total, score.maximum_possible, score.classified) == (9, 9, True)


def test_the_sufficient_item_adds_to_the_other_items_as_published() -> None:
    items = replace(
        ACR_EULAR_NONE_YES,
        skin_thickening_proximal_to_mcp=True,
        sclerodactyly=True,
        raynaud_phenomenon=True,
        anti_topoisomerase_i=True,
        interstitial_lung_disease=True,
    )
    assert acr_eular_score(items).total == 9 + 4 + 3 + 3 + 2


def test_every_item_yes_scores_28() -> None:
    score = acr_eular_score(replace(ACR_EULAR_NONE_YES, **{name: True for name in FIELDS[:13]}))
    assert score.total == score.maximum_possible == MAXIMUM_TOTAL == 28


def test_the_points_of_each_item_add_up_to_the_total() -> None:
    items = replace(ACR_EULAR_NONE_YES, puffy_fingers=True, sclerodactyly=None, telangiectasia=True)
    points = {item.key: (item.points, item.possible, item.answered) for item in item_points(items)}
    assert points["skin_of_fingers"] == (2, 4, True)  # puffy fingers so far; sclerodactyly could make it 4
    assert points["telangiectasia"] == (2, 2, True)
    assert points["skin_proximal_to_mcp"] == (0, 0, True)
    assert sum(item.points for item in item_points(items)) == acr_eular_score(items).total == 4
    assert [item.answered for item in item_points(AcrEularItems())] == [False] * 8


# The published weights of the 2013 ACR/EULAR criteria (van den Hoogen 2013, table 2), written out again here:
# each item's options, and the points an option scores. An item with several sub-items scores its highest.
PUBLISHED_ITEMS: list[list[tuple[dict[str, bool], int]]] = [
    [({"skin_thickening_proximal_to_mcp": False}, 0), ({"skin_thickening_proximal_to_mcp": True}, 9)],
    [({"puffy_fingers": p, "sclerodactyly": s}, 4 if s else 2 if p else 0)
     for p in (False, True) for s in (False, True)],
    [({"digital_tip_ulcers": u, "fingertip_pitting_scars": s}, 3 if s else 2 if u else 0)
     for u in (False, True) for s in (False, True)],
    [({"telangiectasia": t}, 2 if t else 0) for t in (False, True)],
    [({"abnormal_nailfold_capillaries": n}, 2 if n else 0) for n in (False, True)],
    [({"pulmonary_arterial_hypertension": p, "interstitial_lung_disease": i}, 2 if p or i else 0)
     for p in (False, True) for i in (False, True)],
    [({"raynaud_phenomenon": r}, 3 if r else 0) for r in (False, True)],
    [({"anticentromere": a, "anti_topoisomerase_i": b, "anti_rna_polymerase_iii": c}, 3 if a or b or c else 0)
     for a in (False, True) for b in (False, True) for c in (False, True)],
]  # fmt: skip


def test_every_combination_of_every_item_scores_the_published_total() -> None:
    combinations = 0
    for options in itertools.product(*PUBLISHED_ITEMS):
        answers = {name: value for option, _points in options for name, value in option.items()}
        expected = sum(points for _option, points in options)
        score = acr_eular_score(replace(ACR_EULAR_NONE_YES, **answers))
        assert score.total == expected, answers
        assert score.maximum_possible == expected  # nothing unanswered
        assert score.classified is (expected >= 9), answers
        assert sum(item.points for item in item_points(replace(ACR_EULAR_NONE_YES, **answers))) == expected
        combinations += 1
    assert combinations == 2 * 4 * 4 * 2 * 2 * 4 * 2 * 8  # every answer of the 13 items: 2¹³ = 8192


def test_the_sufficient_item_classifies_while_other_items_are_unanswered() -> None:
    score = acr_eular_score(
        AcrEularItems(
            skin_thickening_proximal_to_mcp=True,
            skin_thickening_spares_fingers=False,
            better_explained_by_other_disorder=False,
        )
    )
    assert score.classified is True
    assert score.unanswered == ()


@pytest.mark.parametrize("question", ["skin_thickening_spares_fingers", "better_explained_by_other_disorder"])
def test_not_applicable_never_classifies_whatever_the_score(question: str) -> None:
    items = replace(ACR_EULAR_NONE_YES, skin_thickening_proximal_to_mcp=True, **{question: True})
    score = acr_eular_score(items)
    assert score.applicable is False
    assert score.classified is False
    assert score.unanswered == ()


def test_unknown_while_unanswered_items_could_still_reach_9() -> None:
    items = replace(ACR_EULAR_NONE_YES, sclerodactyly=True, telangiectasia=True, raynaud_phenomenon=None)
    score = acr_eular_score(items)
    assert (score.total, score.maximum_possible, score.classified) == (6, 9, None)
    assert score.unanswered == ("raynaud_phenomenon",)


def test_unanswered_items_that_cannot_add_points_are_not_asked_for() -> None:
    items = replace(
        ACR_EULAR_NONE_YES, sclerodactyly=True, telangiectasia=True, puffy_fingers=None, anticentromere=None
    )
    score = acr_eular_score(items)
    assert (score.total, score.maximum_possible) == (6, 9)
    assert score.unanswered == ("anticentromere",)  # puffy fingers (2) cannot add to sclerodactyly (4)


def test_decided_as_not_classified_when_even_all_yes_stays_below_9() -> None:
    items = replace(ACR_EULAR_NONE_YES, puffy_fingers=True, telangiectasia=None, interstitial_lung_disease=None)
    score = acr_eular_score(items)
    assert (score.total, score.maximum_possible, score.classified) == (2, 6, False)
    assert score.unanswered == ()


def test_an_unanswered_sufficient_item_keeps_9_possible() -> None:
    score = acr_eular_score(replace(ACR_EULAR_NONE_YES, skin_thickening_proximal_to_mcp=None))
    assert (score.total, score.maximum_possible, score.classified) == (0, 9, None)
    assert score.unanswered == ("skin_thickening_proximal_to_mcp",)


def test_score_reaches_9_but_applicability_unanswered() -> None:
    items = replace(ACR_EULAR_NONE_YES, skin_thickening_proximal_to_mcp=True, skin_thickening_spares_fingers=None)
    score = acr_eular_score(items)
    assert score.classified is None
    assert score.unanswered == ("skin_thickening_spares_fingers",)


def test_threshold_is_a_parameter() -> None:
    items = replace(ACR_EULAR_NONE_YES, sclerodactyly=True, raynaud_phenomenon=True, telangiectasia=True)
    assert acr_eular_score(items).classified is True
    assert acr_eular_score(items, threshold=10).classified is False


answers = st.sampled_from([True, False, None])
items_strategy = st.builds(AcrEularItems, **{name: answers for name in FIELDS})


@settings(max_examples=300)
@given(items=items_strategy, completion=st.lists(st.booleans(), min_size=15, max_size=15))
def test_a_decided_classification_never_changes_when_the_rest_is_answered(
    items: AcrEularItems, completion: list[bool]
) -> None:
    score = acr_eular_score(items)
    assert score.total <= score.maximum_possible
    completed = replace(
        items, **{name: value for name, value in zip(FIELDS, completion, strict=True) if getattr(items, name) is None}
    )
    final = acr_eular_score(completed)
    assert final.total <= score.maximum_possible
    assert score.total <= final.total
    if score.classified is not None:
        assert final.classified is score.classified


@settings(max_examples=300)
@given(items=items_strategy, completion=st.lists(st.booleans(), min_size=15, max_size=15))
def test_unanswered_items_not_listed_cannot_change_the_classification(
    items: AcrEularItems, completion: list[bool]
) -> None:
    score = acr_eular_score(items)
    unlisted = [name for name in FIELDS if getattr(items, name) is None and name not in score.unanswered]
    rest = {name: value for name, value in zip(FIELDS, completion, strict=True) if getattr(items, name) is None}
    for name in unlisted:
        as_yes = acr_eular_score(replace(items, **(rest | {name: True}))).classified
        as_no = acr_eular_score(replace(items, **(rest | {name: False}))).classified
        assert as_yes is as_no
