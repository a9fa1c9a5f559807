from __future__ import annotations

import pytest

from clinical.steroids import PREDNISONE_EQUIVALENT_FACTOR, prednisone_equivalent_mg


def test_factors_follow_the_usual_equivalent_doses() -> None:
    assert dict(PREDNISONE_EQUIVALENT_FACTOR) == pytest.approx(
        {
            "prednisone": 1,
            "prednisolone": 1,
            "methylprednisolone": 5 / 4,
            "deflazacort": 5 / 6,
            "hydrocortisone": 5 / 20,
            "dexamethasone": 5 / 0.75,
            "betamethasone": 5 / 0.6,
        }
    )


@pytest.mark.parametrize(
    ("drug", "dose"),
    [
        ("prednisone", 10),
        ("prednisolone", 10),
        ("methylprednisolone", 8),
        ("hydrocortisone", 40),
        ("dexamethasone", 1.5),
        ("betamethasone", 1.2),
        ("deflazacort", 12),
    ],
)
def test_equivalent_of_10_mg_prednisone_lands_exactly_on_10(drug: str, dose: float) -> None:
    assert prednisone_equivalent_mg(drug, dose) == 10


def test_drug_names_ignore_case_and_spaces() -> None:
    assert prednisone_equivalent_mg(" Methylprednisolone ", 4) == 5
    assert prednisone_equivalent_mg("prednisolone", 0) == 0


@pytest.mark.parametrize("drug", ["cortisone", "budesonide", ""])
def test_unknown_drug_is_refused(drug: str) -> None:
    with pytest.raises(ValueError, match="unknown corticosteroid"):
        prednisone_equivalent_mg(drug, 5)


@pytest.mark.parametrize("dose", [-0.5, float("nan")])
def test_negative_dose_is_refused(dose: float) -> None:
    with pytest.raises(ValueError, match="dose"):
        prednisone_equivalent_mg("prednisone", dose)
