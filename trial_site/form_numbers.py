"""The one way a number is entered, in every form and every language.

A number is typed into a plain text box (``inputmode="decimal"``), never the browser's number input: Chromium's
number input in English reads a comma as a thousands separator and sends "6,2" as "62", so the server never sees
what was typed. The server reads the text itself with ``parse_number``, whatever the interface language:

- Bangla digits (০–৯) are the digits 0–9; a point is the decimal point;
- a comma is read as the decimal point when that is the only thing it can be ("6,2" is 6.2, "0,125" is 0.125);
- a comma followed by exactly three digits ("1,234") could be a thousands separator and is refused, asking for a
  point; so is a number with both a point and a comma ("1.234,5"), or more than one separator ("12,34,567");
- nothing else is a number (no exponent, no "inf", no grouping spaces), and a value too large for any field is
  refused.

``NumberField`` is the form field; ``NumberFieldsMixin`` gives it to a form for every numeric field it has
(Django's ``FloatField``, ``IntegerField`` and ``DecimalField``), keeping each field's label, limits and
validators, and puts the field's unit in its label (``unit_of``).

A value outside a field's limits is refused with a message that names the field, the value entered and the range
with its unit ("Temperature: 98.6 is outside 30–43 °C."): ``limit_message``; a value outside a soft limit (possible,
but unusual: it asks for a confirmation) is named the same way by ``unusual_message``.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.text import format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from clinical.display import number_against

BANGLA_DIGITS = str.maketrans("০১২৩৪৫৬৭৮৯", "0123456789")
MAX_LENGTH = 30  # no value the trial records needs more characters
MAX_MAGNITUDE = Decimal("1e15")  # far above any limit, below where a float loses whole units

_NUMBER = re.compile(r"([+-]?)(\d*)(?:([.,])(\d*))?", re.ASCII)


class NotANumber(ValueError):
    """The text is not one number: ``code`` says why (``invalid``, ``ambiguous_comma``, ``two_separators``,
    ``too_large``)."""

    def __init__(self, text: str, code: str) -> None:
        super().__init__(f"not a number ({code}): {text!r}")
        self.code = code


def parse_number(text: str) -> Decimal | None:
    """The number ``text`` means, exactly (a ``Decimal``), or None for an empty text; ``NotANumber`` when it is
    not one number or could mean two."""
    normalised = text.strip().translate(BANGLA_DIGITS).replace("\u2212", "-")  # the typographic minus
    if not normalised:
        return None
    if len(normalised) > MAX_LENGTH:
        raise NotANumber(text, "too_large")
    if "." in normalised and "," in normalised:
        raise NotANumber(text, "two_separators")
    if normalised.count(".") + normalised.count(",") > 1:
        raise NotANumber(text, "two_separators")
    match = _NUMBER.fullmatch(normalised)
    if match is None:
        raise NotANumber(text, "invalid")
    sign, whole, separator, fraction = match.groups()
    fraction = fraction or ""
    if not whole and not fraction:
        raise NotANumber(text, "invalid")
    if separator == "," and len(fraction) == 3 and whole.lstrip("0"):
        raise NotANumber(text, "ambiguous_comma")  # 1,234: one thousand two hundred and thirty-four?
    try:
        value = Decimal(f"{sign}{whole or '0'}.{fraction or '0'}")
    except InvalidOperation:  # pragma: no cover - the pattern admits only digits
        raise NotANumber(text, "invalid") from None
    if abs(value) >= MAX_MAGNITUDE:
        raise NotANumber(text, "too_large")
    return value


NUMBER_MESSAGES = {
    "invalid": _("Enter a number, with a point or a comma before the decimals (e.g. 6.2)."),
    "ambiguous_comma": _(
        "A comma before three digits could separate thousands: write the decimal point as a point (e.g. 1.234), "
        "or the number without a separator (e.g. 1234)."
    ),
    "two_separators": _("Write the number with one decimal point and no thousands separators (e.g. 1234.5)."),
    "too_large": _("This number is too large."),
    "whole": _("Enter a whole number."),
}


class NumberInput(forms.TextInput):
    """A text box for a number: the phone shows its number keyboard, the browser does not reinterpret the text."""

    input_type = "text"

    def __init__(self, attrs: dict[str, Any] | None = None, *, whole: bool = False) -> None:
        super().__init__(attrs={"inputmode": "numeric" if whole else "decimal", "autocomplete": "off", **(attrs or {})})

    def format_value(self, value: Any) -> str | None:
        if value is None or value == "":
            return None
        return str(value)  # a number as Python writes it, never with the language's grouping or decimal mark


class NumberField(forms.Field):
    """A number read by ``parse_number``: ``kind`` is ``float``, ``int`` or ``Decimal`` (a whole number is refused
    with its own message when it has decimals other than zeros)."""

    default_error_messages = NUMBER_MESSAGES

    def __init__(self, *, kind: type = float, low: Any = None, high: Any = None, unit: str = "", **kwargs: Any) -> None:
        self.kind = kind
        self.low, self.high, self.unit = low, high, unit
        kwargs.setdefault("widget", NumberInput(whole=kind is int, attrs={"class": "input-short"}))
        super().__init__(**kwargs)

    def validate(self, value: Any) -> None:
        super().validate(value)
        if value is None:
            return
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            message = limit_message(self.label, value, self.low, self.high, self.unit)
            raise ValidationError(message, code="out_of_range")

    def to_python(self, value: Any) -> Any:
        if value in self.empty_values:
            return None
        if isinstance(value, bool):
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        if isinstance(value, int | float | Decimal):
            number: Decimal | None = Decimal(str(value))
        else:
            try:
                number = parse_number(str(value))
            except NotANumber as problem:
                raise ValidationError(self.error_messages[problem.code], code=problem.code) from None
        if number is None:
            return None
        if self.kind is int:
            if number != number.to_integral_value():
                raise ValidationError(self.error_messages["whole"], code="whole")
            return int(number)
        if self.kind is Decimal:
            return number
        return float(number)


_KINDS: tuple[tuple[type[forms.Field], type], ...] = (  # Django's float and decimal fields are integer fields too
    (forms.FloatField, float),
    (forms.DecimalField, Decimal),
    (forms.IntegerField, int),
)


def unit_of(form: forms.BaseForm, name: str) -> str:
    """The unit of the form's field ``name``, from one place per field: the ``unit`` of its model field (set by
    ``measured`` in the screening models, and on the few other numeric model fields), or, for a value entered in
    the unit chosen beside it (a ``<name>_unit`` field, as creatinine), the units it offers; "" when none."""
    model = getattr(getattr(form, "_meta", None), "model", None)
    if model is None:
        return str(getattr(form.fields[name], "unit", ""))
    fields = {field.name: field for field in model._meta.get_fields()}
    if name not in fields:
        return str(getattr(form.fields[name], "unit", ""))
    if getattr(fields[name], "unit", ""):
        return str(fields[name].unit)
    chosen = fields.get(f"{name}_unit")
    if chosen is not None and chosen.choices:
        return " | ".join(str(value) for value, _label in chosen.choices if value)
    return ""


def limits_of(form: forms.BaseForm, name: str) -> list[Any]:
    """The limit validators of the form's field ``name``: its own, and its model field's (a model form's field does
    not carry its model field's validators: they would run only when the model is cleaned, with Django's message
    that names neither the field nor the unit)."""
    model = getattr(getattr(form, "_meta", None), "model", None)
    validators = list(form.fields[name].validators)
    if model is not None:
        fields = {field.name: field for field in model._meta.get_fields()}
        validators += list(getattr(fields.get(name), "validators", ()))
    return [validator for validator in validators if type(validator) in (MinValueValidator, MaxValueValidator)]


def number_field_like(field: forms.Field, *, unit: str = "", limits: list[Any] | None = None) -> NumberField | None:
    """A ``NumberField`` in place of Django's numeric form field ``field`` (same label, help, limits, validators,
    initial value), or None when ``field`` is not numeric or is hidden."""
    if isinstance(field, forms.TypedChoiceField | forms.ChoiceField) or field.widget.is_hidden:
        return None
    kind = next((kind for django_class, kind in _KINDS if isinstance(field, django_class)), None)
    if kind is None:
        return None
    label = field.label
    own = [validator for validator in field.validators if type(validator) in (MinValueValidator, MaxValueValidator)]
    limits = [*own, *(limits or ())]
    low = max((v.limit_value for v in limits if isinstance(v, MinValueValidator)), default=None)
    high = min((v.limit_value for v in limits if isinstance(v, MaxValueValidator)), default=None)
    if unit and label is not None and unit.lower() not in str(label).lower():
        label = format_lazy("{} ({})", label, gettext(unit))  # a word unit (tablets) in the page's language
    replacement = NumberField(
        kind=kind,
        required=field.required,
        label=label,
        initial=field.initial,
        help_text=field.help_text,
        disabled=field.disabled,
        label_suffix=field.label_suffix,
        validators=[validator for validator in field.validators if validator not in own],
        low=low,
        high=high,
        unit=unit,
    )
    return replacement


class NumberFieldsMixin:
    """A form whose numeric fields all read numbers by the one rule (``parse_number``) and show their unit."""

    fields: dict[str, forms.Field]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, field in list(self.fields.items()):
            replacement = number_field_like(
                field,
                unit=unit_of(self, name),  # type: ignore[arg-type]
                limits=limits_of(self, name),  # type: ignore[arg-type]
            )
            if replacement is not None:
                self.fields[name] = replacement


def shown(value: Any, *limits: Any) -> str:
    """A number for a message: as people write it (98.6, 43, 0.125), a computed one shortened without seeming to
    cross ``limits`` (``clinical.display.number_against``)."""
    if isinstance(value, Decimal):
        value = float(value)
    return number_against(value, *(float(limit) for limit in limits if limit is not None))


def bare_label(label: Any, unit: str = "") -> str:
    """A field's label without the unit that ends it ("Temperature (°C)" → "Temperature")."""
    text = str(label or "")
    for written in {unit, gettext(unit)} - {""}:
        text = text.removesuffix(f" ({written})")
    return text


def range_text(low: Any, high: Any, unit: str = "") -> str:
    """ "30–43 °C", "≥ 0 tablets", "≤ 1000 tablets": a range as the messages write it."""
    unit = gettext(unit) if unit else ""
    if low is not None and high is not None:
        limits = f"{shown(low)}–{shown(high)}"
        return limits if unit in ("", limits) else f"{limits} {unit}"  # a score's unit may be its range ("0–10")
    limits = f"≥ {shown(low)}" if low is not None else f"≤ {shown(high)}"
    return f"{limits} {unit}" if unit else limits


def limit_message(label: Any, value: Any, low: Any, high: Any, unit: str = "") -> str:
    """Why a value is refused: "Temperature: 98.6 is outside 30–43 °C." (the field, the value, the range, the unit)."""
    words = {"field": bare_label(label, unit), "value": shown(value, low, high), "range": range_text(low, high, unit)}
    if low is not None and high is not None:
        return gettext("%(field)s: %(value)s is outside %(range)s.") % words
    return gettext("%(field)s: %(value)s is not allowed; it must be %(range)s.") % words


def unusual_message(label: Any, value: Any, low: Any, high: Any, unit: str = "") -> str:
    """Why a value asks for a confirmation: possible, but outside the range usually seen."""
    return gettext("%(field)s: %(value)s is unusual (usually %(range)s). Check it, then confirm it below.") % {
        "field": bare_label(label, unit),
        "value": shown(value, low, high),
        "range": range_text(low, high, unit),
    }
