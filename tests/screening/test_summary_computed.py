"""The screening summary's computed values: shown with the precision their rule uses, and the ACR/EULAR points of
each item."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.test import Client

from clinical.dates import age_in_years
from clinical.egfr import egfr_ckd_epi_2021
from screening.models import ClassificationCriteria, DiseaseHistory, Participant, ScreeningLabs
from tests.screening.factories import register, save_form, screen_eligible


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def creatinine_for(target: float, *, age: int, sex: str) -> float:
    """A creatinine (mg/dL, 6 decimals as typed) whose eGFR lies within 0.005 of ``target`` (eGFR falls as
    creatinine rises)."""
    low, high = 0.3, 3.0
    for _ in range(60):
        middle = (low + high) / 2
        if egfr_ckd_epi_2021(creatinine_mg_dl=middle, age_years=age, sex=sex) > target:
            low = middle
        else:
            high = middle
    typed = round(low, 6)
    assert abs(egfr_ckd_epi_2021(creatinine_mg_dl=typed, age_years=age, sex=sex) - target) < 0.005
    return typed


def summary(client: Client, participant: Participant) -> str:
    return client.get(f"/screening/{participant.screening_number}/").content.decode()


@pytest.mark.parametrize("target", [59.955, 59.965, 59.995, 60.004, 60.045])
def test_the_egfr_is_never_shown_on_the_other_side_of_60(site: Any, coordinator: Any, target: float) -> None:
    participant = screen_eligible(register(site, coordinator), coordinator)
    age = age_in_years(participant.date_of_birth, participant.screening_date)
    creatinine = creatinine_for(target, age=age, sex=participant.sex)
    save_form(ScreeningLabs, participant, coordinator, {"creatinine": creatinine}, reason="creatinine corrected")
    participant = Participant.objects.get(pk=participant.pk)
    egfr = participant.screening_labs.egfr
    page = summary(logged_in(coordinator), participant)
    computed = page[page.index('data-testid="egfr"') :].split("</dd>", 1)[0]
    shown = computed.split(">", 1)[1].split(" mL/min", 1)[0]
    assert (float(shown) < 60) == (egfr < 60), (egfr, shown)
    assert shown != "60.0"
    row = page[page.index('data-code="E17"') :].split("</tr>", 1)[0]
    assert f"eGFR {shown} mL/min/1.73 m²" in row
    assert ("(excludes: &lt; 60)" in row) == (egfr < 60)


def test_the_acr_eular_total_and_the_points_of_each_item(site: Any, coordinator: Any) -> None:
    participant = screen_eligible(register(site, coordinator), coordinator)
    save_form(
        ClassificationCriteria,
        participant,
        coordinator,
        {"sclerodactyly": True, "puffy_fingers": True, "anti_topoisomerase_i": True, "fingertip_pitting_scars": False,
         "abnormal_nailfold_capillaries": False, "pulmonary_arterial_hypertension": False,
         "interstitial_lung_disease": False, "anticentromere": False, "anti_rna_polymerase_iii": False},
        reason="all items answered",
    )  # fmt: skip
    page = summary(logged_in(coordinator), Participant.objects.get(pk=participant.pk))
    total = page[page.index('data-testid="acr-eular-total"') :].split("</dd>", 1)[0]
    # 9 + 4 + 3 (Raynaud) + 3 (Scl-70); digital tip ulcers and telangiectasia unanswered: up to 2 + 2 more
    assert ">19 (up to 23)" in total
    items = page[page.index('data-testid="acr-eular-items"') :].split("</table>", 1)[0]

    def points(key: str) -> str:
        return items[items.index(f'data-item="{key}"') :].split("</tr>", 1)[0].rsplit('text-nowrap">', 1)[1]

    assert points("skin_proximal_to_mcp").startswith("9 / 9")
    assert points("skin_of_fingers").startswith("4 / 4")  # puffy fingers and sclerodactyly: the highest, once
    assert points("fingertip_lesions").startswith("0 (up to 2) / 3")
    assert points("raynaud").startswith("3 / 3")
    assert points("autoantibodies").startswith("3 / 3")
    assert points("telangiectasia").startswith("— / 2")  # not answered


def test_the_disease_duration_in_months_and_days_as_i3_counts_it(site: Any, coordinator: Any) -> None:
    participant = screen_eligible(register(site, coordinator, screening_date=date(2026, 6, 1)), coordinator)
    save_form(
        DiseaseHistory, participant, coordinator, {"first_non_raynaud_date": date(2021, 5, 2)}, reason="onset corrected"
    )
    page = summary(logged_in(coordinator), Participant.objects.get(pk=participant.pk))
    duration = page[page.index('data-testid="disease-duration"') :].split("</dd>", 1)[0]
    assert "60 months and 30 days" in duration
    row = page[page.index('data-code="I3"') :].split("</tr>", 1)[0]
    assert "after 2026-05-02 (60 months after it)" in row
