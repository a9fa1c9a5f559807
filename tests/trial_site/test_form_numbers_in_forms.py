"""The one number rule in every form that takes numbers: every numeric field of every visit, screening and safety
form reads "6,2" as 6.2 (or refuses it: a whole number), never as 62; reads Bangla digits; refuses "1,234"; and
shows its unit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django import forms
from django.db import models
from django.utils import translation

from safety.forms import AcknowledgeForm, AdverseEventForm, SaeSignForm, SaeSubmitForm
from safety.models import LabAlert, SaeReport
from screening.forms import ParticipantForm, screening_form_class
from screening.models.crfs import SCREENING_FORMS
from tests.screening.factories import register
from trial_site.form_numbers import NumberField
from visits.crfs import visit_crfs
from visits.forms import MedicationForm, visit_crf_form_class


def every_form(participant: Any) -> Iterator[tuple[str, forms.BaseForm]]:
    """Every form of the visits, screening and safety that a user fills, unbound and new."""
    for model in visit_crfs():
        yield f"visit {model.form_code}", visit_crf_form_class(model)(instance=model())
    for model in SCREENING_FORMS:
        yield f"screening {model.slug}", screening_form_class(model)(instance=model())
    yield "medication", MedicationForm()
    yield "participant", ParticipantForm(site=participant.site)
    yield "adverse event", AdverseEventForm(participant=participant)
    for form_class, record in ((SaeSubmitForm, SaeReport), (SaeSignForm, SaeReport), (AcknowledgeForm, LabAlert)):
        yield form_class.__name__, form_class(instance=record(pk=1))


@pytest.fixture
def participant(site: Any, coordinator: Any) -> Any:
    return register(site, coordinator)


def numeric_fields(participant: Any) -> list[tuple[str, str, forms.Field]]:
    found = []
    for form_name, form in every_form(participant):
        for name, field in form.fields.items():
            numeric = isinstance(field, forms.IntegerField | forms.FloatField | forms.DecimalField | NumberField)
            if numeric and not field.widget.is_hidden:
                found.append((form_name, name, field))
    return found


pytestmark = pytest.mark.django_db


def model_field(form_name: str, name: str, participant: Any) -> Any:
    """The model field behind the form's field ``name`` (None for a field of the form's own)."""
    form = dict(every_form(participant))[form_name]
    model = getattr(getattr(form, "_meta", None), "model", None)
    return None if model is None else model._meta.get_field(name)


def test_there_are_numeric_fields_to_check_and_every_one_reads_by_the_one_rule(participant: Any) -> None:
    fields = numeric_fields(participant)
    assert len(fields) >= 40
    django_own = [f"{form} {name}" for form, name, field in fields if not isinstance(field, NumberField)]
    assert django_own == []
    for form_name, name, field in fields:  # a measured value reads decimals, a count whole numbers
        expected = int if isinstance(model_field(form_name, name, participant), models.IntegerField) else float
        assert field.kind is expected, f"{form_name} {name}"


@pytest.mark.parametrize("language", ["en", "bn"])
def test_every_numeric_field_reads_a_decimal_comma_as_the_decimal_point_or_refuses_it_never_as_62(
    participant: Any, language: str
) -> None:
    with translation.override(language):
        for form_name, name, field in numeric_fields(participant):
            try:
                value = field.to_python("6,2")  # the reading; a range that excludes 6.2 is checked after it
            except forms.ValidationError as refused:
                assert field.kind is int, f"{form_name} {name}: {refused}"
                assert isinstance(model_field(form_name, name, participant), models.IntegerField | type(None))
                assert refused.code == "whole"
                continue
            assert value == pytest.approx(6.2), f"{form_name} {name} read 6,2 as {value}"


def test_every_numeric_field_reads_bangla_digits_and_refuses_a_comma_before_three_digits(participant: Any) -> None:
    for form_name, name, field in numeric_fields(participant):
        assert NumberField.to_python(field, "৬২") == 62, f"{form_name} {name}"
        with pytest.raises(forms.ValidationError) as refused:
            field.to_python("1,234")
        assert refused.value.code == "ambiguous_comma", f"{form_name} {name}"


def test_every_numeric_field_is_a_text_box_the_browser_does_not_reinterpret(participant: Any) -> None:
    for form_name, name, field in numeric_fields(participant):
        html = field.widget.render(name, None)
        assert 'type="number"' not in html, f"{form_name} {name}"
        assert 'inputmode="' in html, f"{form_name} {name}"


@pytest.mark.parametrize("language", ["en", "bn"])
def test_every_numeric_field_is_shown_with_its_unit(participant: Any, language: str) -> None:
    with translation.override(language):
        missing = []
        for form_name, form in every_form(participant):
            for name, field in form.fields.items():
                if isinstance(field, NumberField) and not field.widget.is_hidden:
                    unit = str(translation.gettext(field.unit)) if field.unit else ""
                    label = str(form[name].label_tag())
                    if not unit or unit.split(" | ")[0].lower() not in label.lower():
                        missing.append(f"{form_name} {name}: {label}")
        assert missing == []


def test_the_units_of_the_white_cells_and_creatinine_are_in_their_labels(participant: Any) -> None:
    labs = dict((name, form) for name, form in every_form(participant))["visit labs"]
    assert "×10⁹/L" in str(labs["wbc"].label_tag())
    assert "mg/dL | µmol/L" in str(labs["creatinine"].label_tag())
