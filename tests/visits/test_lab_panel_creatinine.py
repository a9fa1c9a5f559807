"""Creatinine on the visit laboratory panel, in either unit (mg/dL or µmol/L), as on the screening form."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from clinical.dates import age_in_years
from clinical.egfr import egfr_ckd_epi_2021
from tests.randomization.factories import list_in_use
from tests.visits.test_schedule import randomised_on
from visits import services
from visits.crf_services import visit_form_save
from visits.crfs import LabPanel
from visits.models import Visit

LABS = {"hb_g_dl": 12.5, "wbc": 6.0, "anc": 3.5, "alc": 1.8, "platelets": 240.0, "alt": 25.0, "alt_uln": 40.0}


@pytest.fixture
def d1(site: Any, coordinator: Any, investigator: Any, statistician: Any) -> Visit:
    list_in_use(statistician)
    participant = randomised_on(timezone.localdate() - timedelta(days=10), site, coordinator, investigator)
    visit = participant.visits.get(code="D1")
    return services.visit_record_done(visit=visit, by=coordinator, done_on=visit.target_date)


def save_labs(visit: Visit, by: Any, **creatinine: Any) -> LabPanel:
    record = LabPanel(visit=visit, **LABS, **creatinine)
    visit_form_save(record=record, by=by, complete=True)
    return LabPanel.objects.get(pk=record.pk)


@pytest.mark.parametrize(
    ("value", "unit", "mg_dl"), [(0.8, "mg/dL", 0.8), (70.72, "µmol/L", 0.8), (88.4, "µmol/L", 1.0)]
)
def test_creatinine_in_either_unit_gives_the_same_mg_dl_and_egfr(
    d1: Visit, coordinator: Any, value: float, unit: str, mg_dl: float
) -> None:
    labs = save_labs(d1, coordinator, creatinine=value, creatinine_unit=unit)
    assert (labs.creatinine, labs.creatinine_unit) == (value, unit)  # kept as the laboratory reported it
    assert labs.creatinine_mg_dl == pytest.approx(mg_dl)
    age = age_in_years(d1.participant.date_of_birth, d1.done_on)
    assert labs.egfr == pytest.approx(egfr_ckd_epi_2021(creatinine_mg_dl=mg_dl, age_years=age, sex="F"), rel=1e-3)


def test_a_creatinine_without_its_unit_is_refused(d1: Visit, coordinator: Any) -> None:
    with pytest.raises(ValidationError) as refused:
        save_labs(d1, coordinator, creatinine=70.0)
    assert refused.value.message_dict == {"creatinine_unit": ["Choose the unit of the creatinine value."]}
    assert not LabPanel.objects.exists()


@pytest.mark.parametrize(
    ("value", "unit", "allowed"),
    [(0.8, "µmol/L", False), (9.0, "µmol/L", True), (1768.0, "µmol/L", True), (1769.0, "µmol/L", False),
     (70.0, "mg/dL", False), (20.0, "mg/dL", True), (0.09, "mg/dL", False)],
    ids=["0.8 µmol/L", "9 µmol/L", "1768 µmol/L", "1769 µmol/L", "70 mg/dL", "20 mg/dL", "0.09 mg/dL"],
)  # fmt: skip
def test_a_value_implausible_in_its_unit_is_refused(
    d1: Visit, coordinator: Any, value: float, unit: str, allowed: bool
) -> None:
    if allowed:
        assert save_labs(d1, coordinator, creatinine=value, creatinine_unit=unit, unusual_values_confirmed=True)
        return
    with pytest.raises(ValidationError) as refused:
        save_labs(d1, coordinator, creatinine=value, creatinine_unit=unit)
    low, high = {"µmol/L": ("9", "1768"), "mg/dL": ("0.1", "20")}[unit]
    assert refused.value.message_dict["creatinine"][0] == f"Creatinine: {value:g} is outside {low}–{high} {unit}."


def test_the_form_page_takes_creatinine_in_micromoles(d1: Visit, coordinator: Any) -> None:
    client = Client()
    client.force_login(coordinator)
    page = client.get(f"/visits/{d1.pk}/forms/labs/").content.decode()
    assert 'name="creatinine_unit"' in page and "µmol/L" in page and 'name="creatinine_mg_dl"' not in page
    data = {key: str(value) for key, value in LABS.items()} | {
        "creatinine": "61.9",
        "creatinine_unit": "µmol/L",
        "complete": "1",
    }
    assert client.post(f"/visits/{d1.pk}/forms/labs/", data).status_code == 302
    labs = LabPanel.objects.get()
    assert labs.creatinine_mg_dl == pytest.approx(61.9 / 88.4)
