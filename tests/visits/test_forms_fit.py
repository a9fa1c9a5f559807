"""Forms that fit the question: branching declared once with the form (a field that applies only when another has
some value: shown by the page, enforced by the server), short inputs for short answers, messages that name the
field, the value and the range with its unit, and the unusual-values confirmation only when a value is unusual."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from safety.models import AdverseEvent
from screening.models.crfs import ExclusionHistory
from tests.visits.test_crfs import d1, in_use  # noqa: F401  (fixtures)
from tests.visits.test_schedule import randomised_on
from trial_site.branching import ShownWhen, branching_errors
from trial_site.form_numbers import limit_message, unusual_message
from trial_site.registry import FormSpec, Placement
from visits import services
from visits.crfs import StudyDrug, VitalSigns
from visits.models import Visit


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def errors_of(page: str) -> list[str]:
    """The messages shown next to the fields (crispy's invalid-feedback), as text."""
    found = re.findall(r'<p id="error_\d+_id_[^"]+"><strong>(.*?)</strong>', page, re.S)
    return [re.sub(r"\s+", " ", text).strip() for text in found]


# The declaration and its pure rules


def test_a_condition_holds_for_its_values_only() -> None:
    changed = ShownWhen("dose_changed", (True,), required=True)
    assert changed.applies(True)
    assert not changed.applies(False) and not changed.applies(None) and not changed.applies(1)
    steroid = ExclusionHistory.form_spec.branching["steroid_dose_mg_day"]
    assert steroid.applies("prednisone") and not steroid.applies("none") and not steroid.applies("")


def test_a_field_cannot_depend_on_itself_or_on_a_field_that_itself_depends() -> None:
    with pytest.raises(ValueError, match="depends on"):
        FormSpec("x", None, Placement.VISIT, branching={"a": ShownWhen("a", (True,))})
    with pytest.raises(ValueError, match="depends on"):
        FormSpec("x", None, Placement.VISIT, branching={"a": ShownWhen("b", (True,)), "b": ShownWhen("c", (True,))})


def test_an_inapplicable_value_is_refused_naming_the_field_and_when_it_applies() -> None:
    drug = StudyDrug(dose_changed=False, dose_change_reason="eGFR 52", interrupted=False)
    assert branching_errors(drug, StudyDrug.form_spec.branching) == {
        "dose_change_reason": "Reason for the dose change: leave it empty; it applies only when "
        "“Dose changed since the previous visit” is Yes."
    }


def test_a_required_field_that_applies_must_be_filled() -> None:
    drug = StudyDrug(dose_changed=False, interrupted=True, interruption_from=date(2026, 1, 5))
    errors = branching_errors(drug, StudyDrug.form_spec.branching)
    assert set(errors) == {"interruption_to", "interruption_reason"}
    assert errors["interruption_reason"] == (
        "Reason for the interruption: needed, because “Study drug interrupted during the period” is Yes."
    )


def test_an_adverse_event_stop_date_applies_only_once_the_event_is_no_longer_ongoing() -> None:
    rule = AdverseEvent.form_spec.branching
    ongoing = AdverseEvent(ongoing=True, stop_date=date(2026, 1, 5))
    assert list(branching_errors(ongoing, rule)) == ["stop_date"]
    assert branching_errors(AdverseEvent(ongoing=False, stop_date=date(2026, 1, 5)), rule) == {}
    assert branching_errors(AdverseEvent(ongoing=False), rule) == {}  # a stop date not yet known


# Messages: the field, the value entered, the range and its unit


def test_a_refusal_names_the_field_the_value_and_the_range_with_its_unit() -> None:
    assert limit_message("Temperature (°C)", 98.6, 30, 43, "°C") == "Temperature: 98.6 is outside 30–43 °C."
    assert limit_message("Creatinine", 0.09, 0.1, 20.0, "mg/dL") == "Creatinine: 0.09 is outside 0.1–20 mg/dL."
    assert limit_message("Patient global assessment (0–10)", 11, 0, 10, "0–10") == (
        "Patient global assessment: 11 is outside 0–10."
    )
    assert limit_message("Tablets returned (tablets)", 1200, None, 1000, "tablets") == (
        "Tablets returned: 1200 is not allowed; it must be ≤ 1000 tablets."
    )
    assert unusual_message("Weight (kg)", 130.0, 30.0, 120.0, "kg") == (
        "Weight: 130 is unusual (usually 30–120 kg). Check it, then confirm it below."
    )


# On the pages


@pytest.fixture
def w4(site: Any, coordinator: Any, investigator: Any, in_use: Any) -> Visit:  # noqa: F811
    participant = randomised_on(timezone.localdate() - timedelta(days=90), site, coordinator, investigator)
    visit = participant.visits.get(code="W4")
    return services.visit_record_done(visit=visit, by=coordinator, done_on=visit.target_date)


def drug_post(visit: Visit, **changes: str) -> dict[str, str]:
    day1 = visit.participant.visits.get(code="D1").target_date
    return {"dispensed": "30", "returned": "4", "period_start": day1.isoformat(), "tablets_per_week": "7",
            "current_dose": "4 mg once daily", "dose_changed": "False", "interrupted": "False",
            "complete": "0"} | changes  # fmt: skip


def test_the_drug_form_marks_its_dependent_fields_and_sizes_its_inputs(w4: Visit, coordinator: Any) -> None:
    page = client_for(coordinator).get(f"/visits/{w4.pk}/forms/drug/").content.decode()
    reason = re.search(r"<[^>]*name=\"dose_change_reason\"[^>]*>", page).group(0)  # type: ignore[union-attr]
    assert reason.startswith("<input") and 'type="text"' in reason  # a one-line answer, not a big box
    assert 'data-shown-when="dose_changed"' in reason and 'data-shown-values="[&quot;true&quot;]"' in reason
    for name in ("interruption_from", "interruption_to", "interruption_reason"):
        tag = re.search(rf"<[^>]*name=\"{name}\"[^>]*>", page).group(0)  # type: ignore[union-attr]
        assert 'data-shown-when="interrupted"' in tag
    for name in ("dispensed", "tablets_per_week", "period_start"):
        tag = re.search(rf"<input[^>]*name=\"{name}\"[^>]*>", page).group(0)  # type: ignore[union-attr]
        assert "input-short" in tag
    assert "js/branching.js" in page


def test_the_server_refuses_a_reason_when_the_dose_did_not_change_and_asks_for_it_when_it_did(
    w4: Visit, coordinator: Any
) -> None:
    client = client_for(coordinator)
    refused = client.post(f"/visits/{w4.pk}/forms/drug/", drug_post(w4, dose_change_reason="eGFR 52"))
    assert refused.status_code == 200 and not StudyDrug.objects.exists()
    assert errors_of(refused.content.decode()) == [
        "Reason for the dose change: leave it empty; it applies only when “Dose changed since the previous visit” "
        "is Yes."
    ]
    missing = client.post(f"/visits/{w4.pk}/forms/drug/", drug_post(w4, dose_changed="True"))
    assert missing.status_code == 200 and not StudyDrug.objects.exists()
    assert errors_of(missing.content.decode()) == [
        "Reason for the dose change: needed, because “Dose changed since the previous visit” is Yes."
    ]
    saved = client.post(f"/visits/{w4.pk}/forms/drug/", drug_post(w4, dose_changed="True", dose_change_reason="x"))
    assert saved.status_code == 302
    assert StudyDrug.objects.get().dose_change_reason == "x"


def vitals_post(**changes: str) -> dict[str, str]:
    return {"weight_kg": "62", "height_cm": "160", "systolic_bp": "120", "diastolic_bp": "80", "heart_rate": "70",
            "temperature_c": "36.8", "complete": "0"} | changes  # fmt: skip


def test_an_out_of_range_value_is_refused_next_to_its_field_with_the_full_message(d1: Visit, coordinator: Any) -> None:  # noqa: F811
    response = client_for(coordinator).post(f"/visits/{d1.pk}/forms/vitals/", vitals_post(temperature_c="98.6"))
    assert response.status_code == 200 and not VitalSigns.objects.exists()
    assert errors_of(response.content.decode()) == ["Temperature: 98.6 is outside 30–43 °C."]


def test_a_whole_number_with_a_maximum_names_its_range_and_unit(d1: Visit, investigator: Any) -> None:  # noqa: F811
    data = {"patient_global": "4", "physician_global": "3", "swollen_28": "30", "tender_28": "2", "complete": "0"}
    response = client_for(investigator).post(f"/visits/{d1.pk}/forms/globals/", data)
    assert errors_of(response.content.decode()) == ["Swollen joints (of 28): 30 is outside 0–28 joints."]


def test_the_unusual_values_box_appears_only_for_an_unusual_value_and_saves_once_ticked(
    d1: Visit,  # noqa: F811
    coordinator: Any,
) -> None:
    client = client_for(coordinator)
    url = f"/visits/{d1.pk}/forms/vitals/"
    assert 'name="unusual_values_confirmed"' not in client.get(url).content.decode()

    first = client.post(url, vitals_post(weight_kg="130"))
    page = first.content.decode()
    assert first.status_code == 200 and not VitalSigns.objects.exists()
    assert 'type="checkbox" name="unusual_values_confirmed"' in page
    assert "Weight: 130 is unusual (usually 30–120 kg). Check it, then confirm it below." in errors_of(page)

    confirmed = client.post(url, vitals_post(weight_kg="130", unusual_values_confirmed="on"))
    assert confirmed.status_code == 302
    vitals = VitalSigns.objects.get()
    assert (vitals.weight_kg, vitals.unusual_values_confirmed) == (130.0, True)
    # the saved form shows the box ticked, beside the value it confirms
    again = client.get(url).content.decode()
    assert re.search(r'<input[^>]*name="unusual_values_confirmed"[^>]*checked', again)


def test_a_plain_form_never_shows_the_box(d1: Visit, coordinator: Any) -> None:  # noqa: F811
    client = client_for(coordinator)
    url = f"/visits/{d1.pk}/forms/vitals/"
    refused = client.post(url, vitals_post(temperature_c="98.6")).content.decode()  # refused, but not unusual
    assert 'name="unusual_values_confirmed"' not in refused
    assert client.post(url, vitals_post()).status_code == 302
    assert 'name="unusual_values_confirmed"' not in client.get(url).content.decode()
