"""Branching: a field of a form that applies only when another field has one of some values.

Declared once, with the form, in its registry entry (``FormSpec.branching``: field → ``ShownWhen``). From that one
declaration:

- the server refuses a value in a field that does not apply, and an empty field that applies and is ``required``
  (``branching_errors``, called by the forms' ``clean()``);
- the form marks each dependent field with data attributes (``data_attributes``) that ``static/js/branching.js``
  reads to hide the field while it does not apply and show it when it does; without JavaScript every field is
  shown and the server still enforces the rule.

A condition is plain data (a field name, a tuple of values, a flag), so that it can be stated anywhere: the data
dictionary, a test, the page.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils.text import capfirst
from django.utils.translation import gettext


@dataclass(frozen=True)
class ShownWhen:
    """The field applies only when ``field`` has one of ``values``; ``required``: it must then be filled."""

    field: str
    values: tuple[Any, ...]
    required: bool = False

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError(f"a condition on {self.field!r} needs at least one value")

    def applies(self, value: Any) -> bool:
        """Whether the dependent field applies when the controlling field holds ``value``."""
        return any(_same(value, wanted) for wanted in self.values)


def _same(value: Any, wanted: Any) -> bool:
    if isinstance(wanted, bool) or isinstance(value, bool):
        return value is wanted
    return value == wanted


def is_empty(value: Any) -> bool:
    """Whether a field holds no answer (None, an empty or blank text)."""
    return value is None or (isinstance(value, str) and not value.strip())


def submitted(value: Any) -> str:
    """A value as the page's script compares it: booleans as ``true``/``false``, anything else as its text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def data_attributes(condition: ShownWhen) -> dict[str, str]:
    """The attributes of a dependent field's input, for ``static/js/branching.js``."""
    return {
        "data-shown-when": condition.field,
        "data-shown-values": json.dumps([submitted(value) for value in condition.values]),
    }


def _label(model: type[models.Model], name: str) -> str:
    try:
        return capfirst(str(model._meta.get_field(name).verbose_name))
    except FieldDoesNotExist:
        return name


def _value_label(model: type[models.Model], name: str, value: Any) -> str:
    if isinstance(value, bool):
        return gettext("Yes") if value else gettext("No")
    try:
        choices = dict(model._meta.get_field(name).flatchoices)
    except FieldDoesNotExist:
        choices = {}
    return str(choices.get(value, value))


def condition_text(model: type[models.Model], condition: ShownWhen) -> str:
    """“Dose changed since the previous visit” is Yes (or …): when the condition holds, in words."""
    values = gettext(" or ").join(_value_label(model, condition.field, value) for value in condition.values)
    return gettext("“%(field)s” is %(values)s") % {"field": _label(model, condition.field), "values": values}


def branching_errors(record: models.Model, branching: Mapping[str, ShownWhen]) -> dict[str, str]:
    """Field → why its value is refused: filled though it does not apply, or empty though it applies and is
    required. ``record`` holds the values (a model instance being cleaned)."""
    model = type(record)
    errors: dict[str, str] = {}
    for name, condition in branching.items():
        value = getattr(record, name)
        words = {"field": _label(model, name), "condition": condition_text(model, condition)}
        if condition.applies(getattr(record, condition.field)):
            if condition.required and is_empty(value):
                errors[name] = gettext("%(field)s: needed, because %(condition)s.") % words
        elif not is_empty(value):
            errors[name] = gettext("%(field)s: leave it empty; it applies only when %(condition)s.") % words
    return errors
