from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinical.egfr import UMOL_PER_MG_DL, creatinine_mg_dl, egfr_ckd_epi_2021


@pytest.mark.parametrize(
    ("creatinine", "unit", "age", "sex", "published"),
    [
        (1.09, "mg/dL", 55, "M", 80.2),
        (0.9, "mg/dL", 55, "F", 75.5),
        (70, "µmol/L", 52, "F", 89.7),
    ],
    ids=["man 55 y 1.09 mg/dL", "woman 55 y 0.9 mg/dL", "woman 52 y 70 µmol/L"],
)
def test_published_checks(creatinine: float, unit: str, age: int, sex: str, published: float) -> None:
    egfr = egfr_ckd_epi_2021(creatinine_mg_dl=creatinine_mg_dl(creatinine, unit), age_years=age, sex=sex)
    assert egfr == pytest.approx(published, abs=0.1)
    assert round(egfr, 1) == published


def test_micromoles_are_divided_by_88_4() -> None:
    assert UMOL_PER_MG_DL == 88.4
    assert creatinine_mg_dl(88.4, "µmol/L") == pytest.approx(1.0)
    assert creatinine_mg_dl(1.2, "mg/dL") == 1.2


@pytest.mark.parametrize("unit", ["µmol/L", "umol/L", "μmol/L"])  # micro sign, ASCII, Greek mu
def test_micromole_spellings(unit: str) -> None:
    assert creatinine_mg_dl(70, unit) == pytest.approx(70 / 88.4)


@given(
    umol=st.floats(min_value=20, max_value=1500),
    age=st.integers(min_value=18, max_value=100),
    sex=st.sampled_from(["F", "M"]),
)
def test_both_units_give_the_same_egfr(umol: float, age: int, sex: str) -> None:
    from_umol = egfr_ckd_epi_2021(creatinine_mg_dl=creatinine_mg_dl(umol, "µmol/L"), age_years=age, sex=sex)
    from_mg = egfr_ckd_epi_2021(creatinine_mg_dl=creatinine_mg_dl(umol / 88.4, "mg/dL"), age_years=age, sex=sex)
    assert from_umol == pytest.approx(from_mg, rel=1e-12)


@given(
    low=st.floats(min_value=0.2, max_value=15),
    factor=st.floats(min_value=1.001, max_value=10),
    age=st.integers(min_value=18, max_value=100),
    sex=st.sampled_from(["F", "M"]),
)
def test_higher_creatinine_gives_lower_egfr(low: float, factor: float, age: int, sex: str) -> None:
    lower_creatinine = egfr_ckd_epi_2021(creatinine_mg_dl=low, age_years=age, sex=sex)
    higher_creatinine = egfr_ckd_epi_2021(creatinine_mg_dl=low * factor, age_years=age, sex=sex)
    assert higher_creatinine < lower_creatinine


def test_older_age_gives_lower_egfr_and_women_differ_from_men() -> None:
    assert egfr_ckd_epi_2021(creatinine_mg_dl=1.0, age_years=70, sex="M") < egfr_ckd_epi_2021(
        creatinine_mg_dl=1.0, age_years=40, sex="M"
    )
    assert egfr_ckd_epi_2021(creatinine_mg_dl=1.0, age_years=40, sex="F") != egfr_ckd_epi_2021(
        creatinine_mg_dl=1.0, age_years=40, sex="M"
    )


def test_adults_only_from_the_18th_birthday() -> None:
    assert egfr_ckd_epi_2021(creatinine_mg_dl=0.8, age_years=18, sex="F") > 0
    with pytest.raises(ValueError, match="adults"):
        egfr_ckd_epi_2021(creatinine_mg_dl=0.8, age_years=17.9, sex="F")


@pytest.mark.parametrize("sex", ["f", "m", "X", "", "female"])
def test_sex_must_be_f_or_m(sex: str) -> None:
    with pytest.raises(ValueError, match="sex"):
        egfr_ckd_epi_2021(creatinine_mg_dl=0.8, age_years=40, sex=sex)


@pytest.mark.parametrize("creatinine", [0, -0.5, float("nan"), float("inf")])
def test_creatinine_must_be_positive(creatinine: float) -> None:
    with pytest.raises(ValueError, match="creatinine"):
        egfr_ckd_epi_2021(creatinine_mg_dl=creatinine, age_years=40, sex="M")
    with pytest.raises(ValueError, match="creatinine"):
        creatinine_mg_dl(creatinine, "mg/dL")


@pytest.mark.parametrize("unit", ["mmol/L", "mg/dl", "", "µmol"])
def test_unknown_units_are_refused(unit: str) -> None:
    with pytest.raises(ValueError, match="unit"):
        creatinine_mg_dl(1.0, unit)
