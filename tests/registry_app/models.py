"""One new visit form, declared once: the model and its ``form_spec``. Nothing else in the project names it."""

from __future__ import annotations

from django.db import models

from trial_site.registry import FormSpec, Placement, Verification
from visits.crfs import VisitForm


class DigitalUlcers(VisitForm):
    form_spec = FormSpec(
        "ulcers",
        "Digital ulcers",
        Placement.VISIT,
        entered_by=("coordinator", "investigator"),
        visits=("W2", "W24"),
        verification=Verification.FULL,
        export_key="ULCERS",
    )
    visit = models.OneToOneField("visits.Visit", on_delete=models.PROTECT, related_name="ulcers_form")
    active_ulcers = models.PositiveSmallIntegerField("active digital ulcers", null=True, blank=True)
    required_when_complete = ("active_ulcers",)

    class Meta:
        verbose_name = "digital ulcers"
        verbose_name_plural = "digital ulcers"
