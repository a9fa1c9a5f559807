"""No silent defaults: every choice and yes/no question of the visit, screening and safety forms starts empty on a
new form and must be chosen; the investigator's causality assessment opens empty whatever the site recorded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django import forms
from django.db import models
from django.test import Client
from django.utils import timezone

from safety import services as safety_services
from safety.forms import AdverseEventForm, SaeSignForm
from safety.models import AdverseEvent, SaeReport
from screening.forms import screening_form_class
from screening.models import ScreeningLabs
from tests.randomization.factories import list_in_use
from tests.screening.factories import register
from tests.trial_site.test_form_numbers_in_forms import every_form
from tests.visits.test_schedule import randomised_on
from trial_site.form_choices import ChoicesStartEmptyMixin, YesNoField
from visits.forms import EndOfStudyForm, MedicationForm

pytestmark = pytest.mark.django_db


@pytest.fixture
def randomised(site: Any, coordinator: Any, investigator: Any, statistician: Any) -> Any:
    list_in_use(statistician)
    return randomised_on(timezone.localdate() - timedelta(days=20), site, coordinator, investigator)


def judgement_forms(participant: Any) -> list[tuple[str, forms.BaseForm]]:
    """The forms of clinical and safety data: every one of ``every_form`` but the registration of a participant,
    whose preferences (language, reminder channel) are not judgements; and the end of study."""
    chosen = [(name, form) for name, form in every_form(participant) if name != "participant"]
    return [*chosen, ("end of study", EndOfStudyForm())]


def choice_fields(participant: Any) -> list[tuple[str, str, forms.BoundField]]:
    found = []
    for form_name, form in judgement_forms(participant):
        for name, field in form.fields.items():
            is_choice = isinstance(field, forms.ChoiceField) and not isinstance(field, forms.ModelChoiceField)
            if is_choice and not field.widget.is_hidden:
                found.append((form_name, name, form[name]))
    return found


def test_every_choice_and_yes_no_question_starts_empty_with_a_blank_option_selected(randomised: Any) -> None:
    fields = choice_fields(randomised)
    names = {f"{form} {name}" for form, name, _bound in fields}
    for judgement in ("relationship", "grade", "outcome", "expected", "action_taken", "serious_hospitalisation",
                      "ongoing"):  # fmt: skip
        assert f"adverse event {judgement}" in names
    assert "SaeSignForm causality" in names
    assert {"visit drug dose_changed", "visit drug interrupted", "visit haq aids_dressing"} <= names
    preselected = []
    for form_name, name, bound in fields:
        html = str(bound)
        if bound.value() not in (None, "") or '<option value="" selected>' not in html:
            preselected.append(f"{form_name} {name}: {bound.value()!r}")
    assert preselected == []


def test_no_yes_no_question_is_a_checkbox_that_means_no_when_left_unticked(randomised: Any) -> None:
    checkboxes = []
    for form_name, form in judgement_forms(randomised):
        model = getattr(getattr(form, "_meta", None), "model", None)
        for name, field in form.fields.items():
            names = {model_field.name for model_field in model._meta.get_fields()} if model is not None else set()
            model_field = model._meta.get_field(name) if name in names else None
            question = isinstance(model_field, models.BooleanField) and name not in ChoicesStartEmptyMixin.tick_boxes
            if question and not isinstance(field, YesNoField):
                checkboxes.append(f"{form_name} {name}")
    assert checkboxes == []


def test_a_required_judgement_left_blank_is_refused_next_to_the_field(randomised: Any) -> None:
    form = AdverseEventForm(
        {"description": "Nausea", "onset_date": timezone.localdate().isoformat(), "grade": "1",
         "relationship": "possible", "action_taken": "none",
         "learned_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M")},
        participant=randomised,
    )  # fmt: skip
    assert not form.is_valid()
    for unanswered in ("outcome", "expected", "ongoing", "serious_death", "serious_important_medical_event"):
        assert unanswered in form.errors, unanswered
    assert "relationship" not in form.errors


def test_the_yes_no_answers_are_saved_as_given(randomised: Any) -> None:
    data = {
        "description": "Nausea", "onset_date": (timezone.localdate() - timedelta(days=1)).isoformat(), "grade": "1",
        "relationship": "possible", "action_taken": "none", "outcome": "recovering", "ongoing": "True",
        "expected": "False", "learned_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
        **{name: "False" for name in ("serious_death", "serious_life_threatening", "serious_disability",
                                      "serious_congenital_anomaly", "serious_important_medical_event")},
        "serious_hospitalisation": "True",
    }  # fmt: skip
    form = AdverseEventForm(data, participant=randomised)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["serious_hospitalisation"] is True
    assert form.cleaned_data["serious_death"] is False
    assert form.cleaned_data["ongoing"] is True


def test_the_causality_assessment_opens_empty_although_the_site_recorded_possible(
    randomised: Any, coordinator: Any, investigator: Any
) -> None:
    event = AdverseEvent(
        participant=randomised, description="Pneumonia", onset_date=timezone.localdate() - timedelta(days=1),
        grade=3, relationship="possible", action_taken="interrupted", outcome="recovering",
        serious_hospitalisation=True,
    )  # fmt: skip
    event = safety_services.adverse_event_record(event=event, by=coordinator)
    report = SaeReport.objects.get(adverse_event=event)
    form = SaeSignForm(instance=report)
    assert form["causality"].value() in (None, "")
    assert '<option value="" selected>' in str(form["causality"])
    client = Client()
    client.force_login(investigator)
    page = client.get(f"/safety/events/{event.pk}/").content.decode()
    sign_form = page[page.index('name="causality"') :]
    sign_form = sign_form[: sign_form.index("</select>")]
    assert '<option value="" selected>' in sign_form
    assert "selected" not in sign_form.replace('<option value="" selected>', "")
    refused = client.post(f"/safety/reports/{report.pk}/sign/", {"causality": ""})
    assert refused.status_code == 200
    assert "causality" in refused.context["shown_form"].errors
    report.refresh_from_db()
    assert report.signed_by is None and report.causality == ""


def adverse_event_answers(**overrides: str) -> dict[str, str]:
    """What a coordinator chooses on the adverse event form, every question answered."""
    return {
        "description": "Pneumonia", "onset_date": (timezone.localdate() - timedelta(days=1)).isoformat(),
        "grade": "3", "relationship": "possible", "action_taken": "interrupted", "outcome": "recovering",
        "ongoing": "True", "expected": "False", "learned_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
        **{name: "False" for name in ("serious_death", "serious_life_threatening", "serious_disability",
                                      "serious_congenital_anomaly", "serious_important_medical_event")},
        "serious_hospitalisation": "True", **overrides,
    }  # fmt: skip


def selected(page: str, name: str) -> list[str]:
    """The values selected in the list ``name`` of ``page``."""
    start = page.index(f'name="{name}"')
    options = page[start : page.index("</select>", start)].split("<option")[1:]
    return [option.split('value="', 1)[1].split('"', 1)[0] for option in options if " selected" in option]


def test_the_answers_chosen_are_saved_in_the_audit_history_and_shown_again_on_the_saved_record(
    randomised: Any, coordinator: Any
) -> None:
    client = Client()
    client.force_login(coordinator)
    path = f"/safety/participants/{randomised.screening_number}/"
    new_form = client.get(path).content.decode()
    for question in ("outcome", "ongoing", "expected", "serious_hospitalisation", "relationship"):
        assert selected(new_form, question) == [""], question

    assert client.post(path, adverse_event_answers()).status_code == 302

    event = AdverseEvent.objects.get()
    [created] = event.history.all()
    assert (created.serious_hospitalisation, created.serious_death, created.expected, created.ongoing) == (
        True, False, False, True,
    )  # fmt: skip
    assert (created.outcome, created.relationship) == ("recovering", "possible")
    page = client.get(f"/safety/events/{event.pk}/").content.decode()
    edit = page[page.index('value="change"') :]
    assert selected(edit, "serious_hospitalisation") == ["True"]
    assert selected(edit, "serious_death") == ["False"] and selected(edit, "expected") == ["False"]
    assert selected(edit, "ongoing") == ["True"] and selected(edit, "outcome") == ["recovering"]


def test_a_yes_no_question_left_unanswered_saves_nothing_and_says_which(randomised: Any, coordinator: Any) -> None:
    client = Client()
    client.force_login(coordinator)
    path = f"/safety/participants/{randomised.screening_number}/"
    answers = adverse_event_answers()
    del answers["serious_life_threatening"]  # as a browser sends the list left on its blank option: ""
    refused = client.post(path, {**answers, "serious_life_threatening": ""})
    assert refused.status_code == 200
    assert list(refused.context["form"].errors) == ["serious_life_threatening"]
    assert AdverseEvent.objects.count() == 0


def test_a_grade_the_page_passes_on_purpose_is_kept_and_the_judgements_stay_empty(
    randomised: Any, coordinator: Any
) -> None:
    """A laboratory value of CTCAE grade 3 links to the form with the grade filled in (``initial=``)."""
    client = Client()
    client.force_login(coordinator)
    page = client.get(f"/safety/participants/{randomised.screening_number}/?grade=3&description=Neutropenia")
    html = page.content.decode()
    assert selected(html, "grade") == ["3"]
    for judgement in ("relationship", "outcome", "action_taken", "serious_death", "expected"):
        assert selected(html, judgement) == [""], judgement


def test_the_end_of_study_reason_and_a_medication_route_must_be_chosen() -> None:
    ended = EndOfStudyForm({"ended_on": timezone.localdate().isoformat(), "reason": ""})
    assert not ended.is_valid() and "reason" in ended.errors
    medication = MedicationForm(
        {"drug": "Omeprazole", "dose": "20 mg", "frequency": "once daily", "indication": "reflux",
         "start_date": timezone.localdate().isoformat()}
    )  # fmt: skip
    assert not medication.is_valid() and list(medication.errors) == ["route"]


def test_a_screening_creatinine_needs_the_unit_chosen_and_no_unit_is_assumed(site: Any, coordinator: Any) -> None:
    participant = register(site, coordinator)
    form_class = screening_form_class(ScreeningLabs)
    form = form_class(instance=ScreeningLabs(participant=participant, site=site))
    assert form["creatinine_unit"].value() in (None, "")
    without_unit = form_class({"creatinine": "88"}, instance=ScreeningLabs(participant=participant, site=site))
    assert not without_unit.is_valid()
    assert without_unit.errors["creatinine_unit"] == ["Choose the unit of the creatinine value."]
    in_micromoles = form_class(
        {"creatinine": "88", "creatinine_unit": "µmol/L"}, instance=ScreeningLabs(participant=participant, site=site)
    )
    assert in_micromoles.is_valid(), in_micromoles.errors
    assert round(in_micromoles.instance.creatinine_mg_dl, 2) == 1.0  # 88 µmol/L, never read as 88 mg/dL
    no_creatinine = form_class({"hb_g_dl": "12.1"}, instance=ScreeningLabs(participant=participant, site=site))
    assert no_creatinine.is_valid(), no_creatinine.errors  # the unit is asked with a value, not before


def test_a_screening_criterion_not_yet_known_says_unknown_and_a_required_question_shows_a_blank(
    site: Any, coordinator: Any, randomised: Any
) -> None:
    from screening.models import ClassificationCriteria

    participant = register(site, coordinator)
    criteria = screening_form_class(ClassificationCriteria)(
        instance=ClassificationCriteria(participant=participant, site=site)
    )
    puffy = str(criteria["puffy_fingers"])
    assert '<option value="" selected>Unknown</option>' in puffy  # starts on "not known yet", saved as None
    dose_changed = next(bound for _form, name, bound in choice_fields(randomised) if name == "dose_changed")
    assert '<option value="" selected>---------</option>' in str(dose_changed)
    assert "Unknown" not in str(dose_changed)  # a question that must be answered offers no way round it
