"""The one date field: ISO ``YYYY-MM-DD`` only (Latin or Bangla digits), in every language, in every form."""

from __future__ import annotations

import datetime as dt
import importlib
import pkgutil
from collections.abc import Iterator

import pytest
from django import forms
from django.utils import timezone, translation

from trial_site.form_dates import (
    DATE_MESSAGES,
    IsoDateField,
    IsoDateTimeField,
    NotIsoDate,
    parse_iso_date,
    parse_iso_datetime,
)

AMBIGUOUS_OR_FOREIGN = [
    "06/12/2026",
    "6/12/2026",
    "12/06/2026",
    "6-12-26",
    "06-12-2026",
    "12.06.2026",
    "2026/12/06",
    "2026-6-12",
    "20261206",
    "6 Dec 2026",
    "December 6, 2026",
    "০৬/১২/২০২৬",
    "26-12-06",
]
NONSENSE = ["", " ", "yesterday", "2026-13-01", "2026-02-30", "2026-00-10", "0000-01-01", "1899-12-31",
            "2026-12-06x", "x2026-12-06", "2026-12-06 10:00", "２０２６-１２-０６", "--", "9" * 400, "2026-12-06\x00",
            "<script>"]  # fmt: skip


@pytest.mark.parametrize("text", AMBIGUOUS_OR_FOREIGN + NONSENSE)
def test_parser_refuses_anything_but_iso(text: str) -> None:
    with pytest.raises(NotIsoDate):
        parse_iso_date(text)


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("2026-12-06", dt.date(2026, 12, 6)),
        (" 2026-12-06 ", dt.date(2026, 12, 6)),
        ("২০২৬-১২-০৬", dt.date(2026, 12, 6)),
        ("2024-02-29", dt.date(2024, 2, 29)),
        ("1900-01-01", dt.date(1900, 1, 1)),
    ],
)
def test_parser_reads_iso_dates_in_latin_and_bangla_digits(text: str, meant: dt.date) -> None:
    assert parse_iso_date(text) == meant


def test_an_impossible_day_is_told_apart_from_a_wrong_format() -> None:
    with pytest.raises(NotIsoDate) as impossible:
        parse_iso_date("2025-02-29")
    assert impossible.value.impossible
    with pytest.raises(NotIsoDate) as foreign:
        parse_iso_date("29/02/2024")
    assert not foreign.value.impossible


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("2026-12-06T14:30", dt.datetime(2026, 12, 6, 14, 30)),
        ("2026-12-06 14:30", dt.datetime(2026, 12, 6, 14, 30)),
        ("2026-12-06T14:30:15", dt.datetime(2026, 12, 6, 14, 30, 15)),
        ("২০২৬-১২-০৬T১৪:৩০", dt.datetime(2026, 12, 6, 14, 30)),
        ("2026-12-06 14:30:15.123+00:00", dt.datetime(2026, 12, 6, 14, 30, 15, tzinfo=dt.UTC)),
    ],
)
def test_datetime_parser_reads_iso(text: str, meant: dt.datetime) -> None:
    assert parse_iso_datetime(text) == meant


@pytest.mark.parametrize(
    "text", ["06/12/2026 14:30", "2026-12-06", "2026-12-06T25:00", "2026-12-06T14:60", "6-12-26 2:30 PM", "now"]
)
def test_datetime_parser_refuses_the_rest(text: str) -> None:
    with pytest.raises(NotIsoDate):
        parse_iso_datetime(text)


class _OneDate(forms.Form):
    day = IsoDateField(label="Day")
    moment = IsoDateTimeField(label="Moment", required=False)


@pytest.mark.parametrize("language", ["en", "bn"])
@pytest.mark.parametrize("text", ["06/12/2026", "12/06/2026", "6-12-26", "12.06.2026"])
def test_form_refuses_ambiguous_dates_in_both_languages_with_a_message_at_the_field(language: str, text: str) -> None:
    with translation.override(language):
        form = _OneDate(data={"day": text})
        assert not form.is_valid()
        assert list(form.errors) == ["day"]
        assert "2026-12-06" in form.errors["day"][0]


@pytest.mark.parametrize("language", ["en", "bn"])
def test_form_reads_the_same_date_in_both_languages(language: str) -> None:
    with translation.override(language):
        form = _OneDate(data={"day": "২০২৬-১২-০৬", "moment": "2026-12-06T09:05"})
        assert form.is_valid(), form.errors
    assert form.cleaned_data["day"] == dt.date(2026, 12, 6)
    moment = timezone.localtime(form.cleaned_data["moment"])
    assert (moment.date(), moment.hour, moment.minute) == (dt.date(2026, 12, 6), 9, 5)


def test_the_message_says_how_to_write_the_date() -> None:
    form = _OneDate(data={"day": "06/12/2026"})
    form.is_valid()
    assert form.errors["day"] == [str(DATE_MESSAGES["invalid"])]


def test_dates_are_shown_in_iso_whatever_the_language() -> None:
    with translation.override("bn"):
        html = str(_OneDate(initial={"day": dt.date(2026, 12, 6)})["day"])
    assert 'type="date"' in html
    assert 'value="2026-12-06"' in html


# Every form of the project, found by walking its packages, so that a new form is covered without a list here.
PACKAGES = ("trial_site", "screening", "randomization", "visits", "safety", "monitoring", "exports", "reminders")


def _import_everything() -> None:
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        for module in pkgutil.walk_packages(package.__path__, f"{package_name}."):
            if any(part in module.name for part in (".migrations", ".management", ".tests", "settings")):
                continue
            importlib.import_module(module.name)


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _project_form_classes() -> list[type[forms.BaseForm]]:
    from screening.forms import screening_form_class
    from screening.models.crfs import SCREENING_FORMS
    from visits.crfs import visit_crfs
    from visits.forms import visit_crf_form_class

    _import_everything()
    found = {
        cls
        for cls in _subclasses(forms.BaseForm)
        if cls.__module__.split(".")[0] in PACKAGES and not getattr(getattr(cls, "Meta", None), "abstract", False)
    }
    found.update(visit_crf_form_class(model) for model in visit_crfs())
    found.update(screening_form_class(model) for model in SCREENING_FORMS)
    return sorted(found, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


def _date_fields() -> list[tuple[str, str, forms.Field]]:
    fields = []
    for cls in _project_form_classes():
        for name, field in getattr(cls, "base_fields", {}).items():
            if isinstance(field, (forms.DateField, forms.DateTimeField, forms.SplitDateTimeField)):
                fields.append((f"{cls.__module__}.{cls.__qualname__}", name, field))
    return fields


def test_the_forms_are_found() -> None:
    names = {f"{form}.{name}" for form, name, _field in _date_fields()}
    for expected in (
        "screening.forms.ParticipantForm.date_of_birth",
        "screening.forms.ConsentForm.consented_at",
        "StudyDrugForm.period_start",
        "PregnancyTestForm.tested_on",
        "safety.forms.AdverseEventForm.learned_at",
        "monitoring.views.audit.AuditFilterForm.date_from",
        "exports.forms.ExportForm.cut_off",
        "monitoring.query_forms.QueryRaiseForm.due_date",
    ):
        assert any(name.endswith(expected) for name in names), sorted(names)
    assert len(names) >= 35


def test_every_date_field_of_every_form_is_the_one_iso_field() -> None:
    wrong = []
    for form, name, field in _date_fields():
        if isinstance(field, forms.DateTimeField):
            ok = isinstance(field, IsoDateTimeField) and field.widget.input_type == "datetime-local"
        else:
            ok = isinstance(field, IsoDateField) and field.widget.input_type in ("date", "hidden")
        if not ok:
            wrong.append(f"{form}.{name}: {type(field).__name__} with {type(field.widget).__name__}")
    assert wrong == []


def test_no_model_date_is_entered_as_text() -> None:
    """A ModelForm's model date or moment is never left to a text box (a CharField or a plain text input)."""
    from django.db import models

    wrong = []
    for cls in _project_form_classes():
        meta = getattr(cls, "_meta", None)
        model = getattr(meta, "model", None)
        if model is None:
            continue
        for name, field in cls.base_fields.items():
            model_field = next((f for f in model._meta.get_fields() if f.name == name), None)
            if isinstance(model_field, models.DateField) and not isinstance(field, (IsoDateField, IsoDateTimeField)):
                wrong.append(f"{cls.__qualname__}.{name}")
    assert wrong == []
