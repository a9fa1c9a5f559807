"""Numbers shown beside a decision never seem to sit on the other side of its threshold."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinical.display import number_against
from clinical.egfr import egfr_ckd_epi_2021

# 59.95, 59.96, …, 60.05: typed or computed values around the eGFR threshold of 60.
AROUND_60 = [float(Decimal("59.95") + Decimal("0.01") * step) for step in range(11)]


def side(value: float, threshold: float) -> int:
    return (value > threshold) - (value < threshold)


@pytest.mark.parametrize("egfr", AROUND_60, ids=[f"{value:.2f}" for value in AROUND_60])
def test_egfr_around_60_is_shown_on_its_side_of_60(egfr: float) -> None:
    shown = number_against(egfr, 60)
    assert side(float(shown), 60) == side(egfr, 60), shown
    assert shown == f"{egfr:.2f}".rstrip("0").rstrip(".")  # typed to 2 decimals: shown as typed


def test_59_96_is_not_shown_as_60() -> None:
    assert number_against(59.96, 60) == "59.96"
    assert number_against(59.9999999, 60) == "59.9999999"
    assert number_against(60.0000001, 60) == "60.0000001"
    assert number_against(60.0, 60) == "60"


@given(creatinine=st.floats(min_value=0.3, max_value=3.0), age=st.integers(min_value=18, max_value=90))
def test_a_computed_egfr_is_never_shown_across_60(creatinine: float, age: int) -> None:
    egfr = egfr_ckd_epi_2021(creatinine_mg_dl=creatinine, age_years=age, sex="F")
    assert side(float(number_against(egfr, 60)), 60) == side(egfr, 60)
