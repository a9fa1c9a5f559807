from __future__ import annotations

from dataclasses import fields, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinical.acr_eular import ITEM_LABELS, AcrEularItems, acr_eular_score
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
    if not completed.skin_thickening_proximal_to_mcp:  # the sufficient item reports 9 whatever else is yes
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
