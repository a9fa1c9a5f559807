"""The one way a date or a moment is entered, in every form and every language.

A date is typed into the browser's date input, which sends ISO ``YYYY-MM-DD`` whatever the interface language;
a moment into its date-and-time input (``YYYY-MM-DDTHH:MM``). The server reads only those forms
(``parse_iso_date``, ``parse_iso_datetime``), with Latin or Bangla digits (a Bangla keyboard gives ০–৯), and never
the interface language's own formats: "06/12/2026" is 6 December to some and 12 June to others, so it is refused
with a message next to the field, never read one way or the other.

``IsoDateField`` and ``IsoDateTimeField`` are the form fields; ``iso_formfield_callback`` gives them to a
ModelForm for every date and date-time field of its model (``Meta.formfield_callback``, or the argument of
``modelform_factory``).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

BANGLA_DIGITS = str.maketrans("০১২৩৪৫৬৭৮৯", "0123456789")
EARLIEST_YEAR = 1900  # nothing the trial records happened earlier (dates of birth included)

_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?", re.ASCII
)


class NotIsoDate(ValueError):
    """The text is not a date in the form ``YYYY-MM-DD`` (``impossible``: it is, but no such day exists)."""

    def __init__(self, text: str, *, impossible: bool = False) -> None:
        super().__init__(f"not an ISO date: {text!r}")
        self.impossible = impossible


def _normalised(text: str) -> str:
    return text.strip().translate(BANGLA_DIGITS)


def _day(text: str, year: str, month: str, day: str) -> dt.date:
    try:
        value = dt.date(int(year), int(month), int(day))
    except ValueError:
        raise NotIsoDate(text, impossible=True) from None
    if value.year < EARLIEST_YEAR:
        raise NotIsoDate(text, impossible=True)
    return value


def parse_iso_date(text: str) -> dt.date:
    """The date written ``YYYY-MM-DD`` (Latin or Bangla digits, surrounding spaces ignored); ``NotIsoDate``
    for anything else, such as 06/12/2026, 6-12-26, 12.06.2026 or 2026-6-12."""
    normalised = _normalised(text)
    match = _DATE.fullmatch(normalised)
    if match is None:
        raise NotIsoDate(text)
    return _day(text, *match.groups())


def parse_iso_datetime(text: str) -> dt.datetime:
    """The date and time written ``YYYY-MM-DDTHH:MM`` (seconds optional, a space allowed for the ``T``; Latin or
    Bangla digits): naive, or aware when an offset follows (``Z``, ``+06:00``: what a saved moment is sent back
    as); ``NotIsoDate`` for anything else."""
    normalised = _normalised(text)
    match = _DATETIME.fullmatch(normalised)
    if match is None:
        raise NotIsoDate(text)
    year, month, day, hour, minute, second, offset = match.groups()
    value = _day(text, year, month, day)
    try:
        moment = dt.datetime.combine(value, dt.time(int(hour), int(minute), int(second or 0)))
        if offset:
            moment = moment.replace(tzinfo=dt.datetime.fromisoformat(f"2000-01-01T00:00{offset}").tzinfo)
    except ValueError:
        raise NotIsoDate(text, impossible=True) from None
    return moment


class DateInput(forms.DateInput):
    """The browser's date input: shows and sends ``YYYY-MM-DD`` whatever the language."""

    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        kwargs.pop("format", None)
        super().__init__(attrs=attrs, format="%Y-%m-%d", **kwargs)


class DateTimeInput(forms.DateTimeInput):
    """The browser's date-and-time input: shows and sends ``YYYY-MM-DDTHH:MM``."""

    input_type = "datetime-local"

    def __init__(self, attrs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        kwargs.pop("format", None)
        super().__init__(attrs=attrs, format="%Y-%m-%dT%H:%M", **kwargs)


DATE_MESSAGES = {
    "invalid": _("Enter the date as year-month-day (YYYY-MM-DD), e.g. 2026-12-06 for 6 December 2026."),
    "impossible": _("There is no such day: check the year, the month and the day (YYYY-MM-DD)."),
}
DATETIME_MESSAGES = {
    "invalid": _("Enter the date and time as YYYY-MM-DD HH:MM, e.g. 2026-12-06 14:30 for 6 December 2026, 2:30 pm."),
    "impossible": _("There is no such day or time: check the date (YYYY-MM-DD) and the time (HH:MM)."),
}


class IsoDateField(forms.DateField):
    """A date typed in the browser's date input and read as ISO ``YYYY-MM-DD`` only (``parse_iso_date``)."""

    widget = DateInput
    default_error_messages = DATE_MESSAGES

    def __init__(self, **kwargs: Any) -> None:
        kwargs.pop("input_formats", None)
        widget = kwargs.get("widget")
        if widget is None or (not isinstance(widget, DateInput) and not isinstance(widget, forms.HiddenInput)):
            kwargs["widget"] = DateInput(attrs=getattr(widget, "attrs", None))
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> dt.date | None:
        if value in self.empty_values:
            return None
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        try:
            return parse_iso_date(str(value))
        except NotIsoDate as problem:
            code = "impossible" if problem.impossible else "invalid"
            raise ValidationError(self.error_messages[code], code=code) from None


class IsoDateTimeField(forms.DateTimeField):
    """A moment typed in the browser's date-and-time input, read as ISO ``YYYY-MM-DDTHH:MM`` only, in the
    current time zone."""

    widget = DateTimeInput
    default_error_messages = DATETIME_MESSAGES

    def __init__(self, **kwargs: Any) -> None:
        kwargs.pop("input_formats", None)
        widget = kwargs.get("widget")
        if widget is None or (not isinstance(widget, DateTimeInput) and not isinstance(widget, forms.HiddenInput)):
            kwargs["widget"] = DateTimeInput(attrs=getattr(widget, "attrs", None))
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> dt.datetime | None:
        if value in self.empty_values:
            return None
        if isinstance(value, dt.datetime):
            return timezone.make_aware(value) if timezone.is_naive(value) else value
        if isinstance(value, dt.date):
            return timezone.make_aware(dt.datetime.combine(value, dt.time()))
        try:
            moment = parse_iso_datetime(str(value))
        except NotIsoDate as problem:
            code = "impossible" if problem.impossible else "invalid"
            raise ValidationError(self.error_messages[code], code=code) from None
        if timezone.is_aware(moment):
            return moment
        try:
            return timezone.make_aware(moment)
        except Exception:  # a time that does not exist in the time zone (a clock change)
            raise ValidationError(self.error_messages["impossible"], code="impossible") from None


def iso_formfield_callback(model_field: models.Field, **kwargs: Any) -> forms.Field | None:
    """A ModelForm's form field for ``model_field``: the ISO date or date-time field for a date or a moment,
    Django's own otherwise."""
    if isinstance(model_field, models.DateTimeField):
        return model_field.formfield(form_class=IsoDateTimeField, **kwargs)
    if isinstance(model_field, models.DateField):
        return model_field.formfield(form_class=IsoDateField, **kwargs)
    return model_field.formfield(**kwargs)
