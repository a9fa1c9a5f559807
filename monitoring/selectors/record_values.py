"""The data entered on a form as a monitor reads it next to the source: each field's label and value. The
verification page and the raise-query page show them; an identifying field's value only to a user who may see
identifying data at the record's site (``trial_site.permissions.may_see_identifiers``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from trial_site.permissions import may_see_identifiers

IDENTIFYING_HIDDEN = gettext_lazy("(identifying: not shown)")
EMPTY = "—"


@dataclass(frozen=True)
class FieldValue:
    name: str
    label: str
    value: str


def shown_value(record: Any, model_field: models.Field) -> str:
    """A field's value as a person reads it: the choice's label, the related record's name, yes/no, or the value."""
    value = getattr(record, model_field.name)
    if value is None or value == "":
        return EMPTY
    if model_field.choices:
        return str(getattr(record, f"get_{model_field.name}_display")())
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if model_field.is_relation and hasattr(value, "get_full_name"):
        return value.get_full_name() or value.get_username()
    return str(value)


def field_values(record: Any, user: Any, model_fields: list[models.Field]) -> list[FieldValue]:
    """(name, label, value shown) of each of ``model_fields`` of ``record``, for ``user``."""
    hidden = set(getattr(record, "identifying_fields", ())) if not may_see_identifiers(user, record.site_id) else set()
    return [
        FieldValue(
            model_field.name,
            str(model_field.verbose_name).capitalize(),
            str(IDENTIFYING_HIDDEN) if model_field.name in hidden else shown_value(record, model_field),
        )
        for model_field in model_fields
    ]
