"""The form a site's data manager or administrator records or changes a laboratory reference range with."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from trial_site.form_dates import IsoDateField
from trial_site.forms import ReasonForChangeMixin
from trial_site.models import LabReferenceRange, Site
from trial_site.models.lab_ranges import ALL_UNITS

UNIT_CHOICES_ID = "lab-range-units"


class UnitInput(forms.TextInput):
    """A text box offering the units the grading understands (any other is refused with a message)."""

    def __init__(self) -> None:
        super().__init__(attrs={"list": UNIT_CHOICES_ID, "autocomplete": "off"})


class LabReferenceRangeForm(ReasonForChangeMixin, forms.ModelForm):
    """A new range for ``site`` (``instance`` None), or a change to a saved one (with its version and a reason)."""

    effective_from = IsoDateField(
        label=_("In force from"),
        help_text=_("The first sample date this range grades; it holds until the next one of the same test."),
    )

    class Meta:
        model = LabReferenceRange
        fields = ["test", "lower_limit", "upper_limit", "unit", "effective_from"]
        widgets = {"unit": UnitInput()}

    def __init__(self, *args: Any, site: Site | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            self.instance.site = site
        else:
            # A saved range stays the range of its test: a range for another test is a new one.
            self.fields["test"].disabled = True
        self.fields["test"].choices = [choice for choice in self.fields["test"].choices if choice[0]]

    @property
    def units(self) -> tuple[str, ...]:
        return ALL_UNITS
