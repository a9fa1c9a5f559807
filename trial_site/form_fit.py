"""Forms that fit the question: the inputs of a case report form sized to their answers, and its branching shown.

``FitFieldsMixin`` gives a model form, after its other mixins have chosen its fields:

- a short input (``input-short``, ``static/css/app.css``) for a number, a date, a moment and a short code (text of
  at most ``SHORT_TEXT`` characters);
- a one-line input for a free-text answer its model lists in ``one_line_answers`` (a reason, a short note), and at
  most two rows for any other paragraph;
- on each field that applies only when another has some value (the form's ``FormSpec.branching``), the data
  attributes ``static/js/branching.js`` reads to hide it while it does not apply (``trial_site.branching``).
"""

from __future__ import annotations

from typing import Any

from django import forms

from trial_site.branching import data_attributes

SHORT_TEXT = 20  # characters: initials, codes, numbers written as text
SHORT = "input-short"
PARAGRAPH_ROWS = 2


def _add_class(widget: forms.Widget, name: str) -> None:
    classes = widget.attrs.get("class", "").split()
    if name not in classes:
        widget.attrs["class"] = " ".join([*classes, name])


def _is_short(field: forms.Field) -> bool:
    widget = field.widget
    if isinstance(widget, forms.DateInput | forms.DateTimeInput | forms.TimeInput):
        return True
    if getattr(widget, "input_type", "") in ("date", "datetime-local", "time", "number"):
        return True
    max_length = getattr(field, "max_length", None)
    return isinstance(widget, forms.TextInput) and max_length is not None and max_length <= SHORT_TEXT


class FitFieldsMixin:
    """A model form whose inputs fit their answers and whose dependent fields carry their condition (see module)."""

    fields: dict[str, forms.Field]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        model = self._meta.model  # type: ignore[attr-defined]
        one_line = set(getattr(model, "one_line_answers", ()))
        spec = getattr(model, "form_spec", None)
        branching = spec.branching if spec is not None else {}
        for name, field in self.fields.items():
            widget = field.widget
            if isinstance(widget, forms.Textarea):
                if name in one_line:
                    field.widget = widget = forms.TextInput(attrs={k: v for k, v in widget.attrs.items()
                                                                   if k not in ("rows", "cols")})  # fmt: skip
                else:
                    widget.attrs["rows"] = min(int(widget.attrs.get("rows", PARAGRAPH_ROWS)), PARAGRAPH_ROWS)
            elif _is_short(field):
                _add_class(widget, SHORT)
            if name in branching:
                widget.attrs.update(data_attributes(branching[name]))
