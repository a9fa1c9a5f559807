"""A site's laboratory reference ranges: per test, the lower and upper limits of normal with their unit, in force
from a date. CTCAE grades use them (the LLN of a falling count, the ULN of ALT); until a site records a range for a
test, the protocol's default applies (``PROTOCOL.lab_reference``). Read them through ``trial_site.lab_ranges``."""

from __future__ import annotations

from typing import Any, Final

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from trial_site.audit.base import AuditedModel
from trial_site.audit.errors import AttributionRequired
from trial_site.audit.history import AuditedHistoricalRecords

HB_UNIT: Final = "g/dL"
COUNT_UNIT: Final = "×10⁹/L"
COUNT_UNIT_PER_UL: Final = "×10³/µL"  # the same number as ×10⁹/L
ALT_UNIT: Final = "U/L"
HB_MAX_G_DL: Final = 25.0  # above this a haemoglobin limit is in g/L


class LabTest(models.TextChoices):
    """The tests CTCAE grades on the visit laboratory panel (haemoglobin has a range per sex)."""

    HAEMOGLOBIN_FEMALE = "haemoglobin_female", _("Haemoglobin, women")
    HAEMOGLOBIN_MALE = "haemoglobin_male", _("Haemoglobin, men")
    WHITE_CELLS = "white_cells", _("White cells")
    NEUTROPHILS = "neutrophils", _("Neutrophils (ANC)")
    LYMPHOCYTES = "lymphocytes", _("Lymphocytes (ALC)")
    PLATELETS = "platelets", _("Platelets")
    ALT = "alt", _("ALT")


# The units the grading understands, per test (the first is the one grades are written in).
UNITS: Final[dict[str, tuple[str, ...]]] = {
    LabTest.HAEMOGLOBIN_FEMALE: (HB_UNIT,),
    LabTest.HAEMOGLOBIN_MALE: (HB_UNIT,),
    LabTest.WHITE_CELLS: (COUNT_UNIT, COUNT_UNIT_PER_UL),
    LabTest.NEUTROPHILS: (COUNT_UNIT, COUNT_UNIT_PER_UL),
    LabTest.LYMPHOCYTES: (COUNT_UNIT, COUNT_UNIT_PER_UL),
    LabTest.PLATELETS: (COUNT_UNIT, COUNT_UNIT_PER_UL),
    LabTest.ALT: (ALT_UNIT,),
}
ALL_UNITS: Final = tuple(dict.fromkeys(unit for units in UNITS.values() for unit in units))

# Ways the same units are typed, read as the unit they mean (lower case, without spaces).
_UNIT_SPELLINGS: Final = {
    "g/dl": HB_UNIT,
    "×10⁹/l": COUNT_UNIT, "x10⁹/l": COUNT_UNIT, "x10^9/l": COUNT_UNIT, "×10^9/l": COUNT_UNIT,
    "10^9/l": COUNT_UNIT, "10⁹/l": COUNT_UNIT, "x10e9/l": COUNT_UNIT, "giga/l": COUNT_UNIT,
    "×10³/µl": COUNT_UNIT_PER_UL, "×10³/μl": COUNT_UNIT_PER_UL, "x10³/µl": COUNT_UNIT_PER_UL,
    "x10^3/ul": COUNT_UNIT_PER_UL, "x10^3/µl": COUNT_UNIT_PER_UL, "10^3/ul": COUNT_UNIT_PER_UL,
    "10³/µl": COUNT_UNIT_PER_UL, "x10e3/ul": COUNT_UNIT_PER_UL,
    "u/l": ALT_UNIT, "iu/l": ALT_UNIT,
}  # fmt: skip

# Which limit grades each test: the LLN of a count that falls, the ULN of ALT.
GRADING_LIMIT: Final[dict[str, str]] = {test: "lower_limit" for test in UNITS} | {LabTest.ALT: "upper_limit"}


def canonical_unit(typed: str) -> str:
    """The unit as the grading writes it, for a typed spelling it knows; otherwise the text as typed."""
    text = (typed or "").strip()
    return _UNIT_SPELLINGS.get("".join(text.split()).lower(), text)


class LabReferenceRange(AuditedModel):
    """One site's reference range for one test, in force from ``effective_from`` until the next one of the same
    test starts. Changing a saved range needs a reason; every change is in its history."""

    site = models.ForeignKey(
        "trial_site.Site", on_delete=models.PROTECT, related_name="lab_reference_ranges", verbose_name=_("site")
    )
    test = models.CharField(_("test"), max_length=24, choices=LabTest.choices)
    lower_limit = models.FloatField(_("lower limit of normal"), null=True, blank=True)
    upper_limit = models.FloatField(_("upper limit of normal"), null=True, blank=True)
    unit = models.CharField(
        _("unit"), max_length=16, help_text=_("g/dL for haemoglobin, ×10⁹/L (or ×10³/µL) for counts, U/L for ALT.")
    )
    effective_from = models.DateField(
        _("in force from"), help_text=_("The first sample date this range grades; it holds until the next one.")
    )
    created_at = models.DateTimeField(_("created at"), editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        verbose_name=_("created by"),
    )
    modified_at = models.DateTimeField(_("last changed at"), editable=False)
    modified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        verbose_name=_("last changed by"),
    )
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["site", "test", "effective_from"]
        verbose_name = _("laboratory reference range")
        verbose_name_plural = _("laboratory reference ranges")
        constraints = [
            models.UniqueConstraint(
                fields=["site", "test", "effective_from"],
                name="one_lab_reference_range_per_site_test_day",
                violation_error_message=_(
                    "The site has a range for this test in force from that day already: change that one."
                ),
            ),
            models.CheckConstraint(
                condition=models.Q(lower_limit__isnull=True)
                | models.Q(upper_limit__isnull=True)
                | models.Q(lower_limit__lt=models.F("upper_limit")),
                name="lab_reference_range_lower_below_upper",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.site_id} {self.test} from {self.effective_from}"

    @property
    def grading_limit(self) -> float | None:
        return getattr(self, GRADING_LIMIT[self.test]) if self.test in GRADING_LIMIT else None

    def reason_required_for_change(self) -> bool:
        return True

    def _acting_user(self, by: Any) -> Any:
        actor = super()._acting_user(by)
        if actor is None or not getattr(actor, "is_authenticated", False):
            raise AttributionRequired()
        return actor

    def _prepare_write(self, actor: Any) -> None:
        now = timezone.now()
        if self._state.adding:
            self.created_at = now
            self.created_by = actor
        self.modified_at = now
        self.modified_by = actor
        self.full_clean()

    def clean(self) -> None:
        super().clean()
        if self.test not in UNITS:
            return
        errors: dict[str, Any] = {}
        self.unit = canonical_unit(self.unit)
        test = LabTest(self.test).label
        if self.unit and self.unit not in UNITS[self.test]:
            errors["unit"] = _("%(test)s is graded in %(units)s; enter the limits in that unit.") % {
                "test": test,
                "units": ", ".join(UNITS[self.test]),
            }
            if self.unit.replace(" ", "").lower() == "g/l" and UNITS[self.test] == (HB_UNIT,):
                errors["unit"] = _("Haemoglobin is graded in g/dL: divide g/L by 10.")
        for name in ("lower_limit", "upper_limit"):
            value = getattr(self, name)
            if value is not None and not value > 0 and not (name == "lower_limit" and self.test == LabTest.ALT):
                errors[name] = _("A limit must be above 0.")
            elif value is not None and value < 0:
                errors[name] = _("A limit cannot be negative.")
            elif value is not None and UNITS[self.test] == (HB_UNIT,) and value > HB_MAX_G_DL:
                errors[name] = _("Above 25 g/dL: this looks like g/L; enter g/dL (g/L ÷ 10).")
        grading = GRADING_LIMIT[self.test]
        if getattr(self, grading) is None and grading not in errors:
            errors[grading] = (
                _("ALT is graded against the upper limit of normal: enter it.")
                if grading == "upper_limit"
                else _("%(test)s is graded against the lower limit of normal: enter it.") % {"test": test}
            )
        low, high = self.lower_limit, self.upper_limit
        if low is not None and high is not None and low >= high and "upper_limit" not in errors:
            errors["upper_limit"] = _("The upper limit must be above the lower limit.")
        if errors:
            raise ValidationError(errors)
