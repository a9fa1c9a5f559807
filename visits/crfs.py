"""The case report forms of the visits: one of each kind per visit, saved as a draft or marked complete.

Totals and scores are computed from the raw answers by ``clinical`` (never typed). Hard limits are model
validators (a value outside them is refused); soft limits (``SOFT_LIMITS``) only warn and ask for a
confirmation. Editing a complete form needs a reason for change; a draft may be edited freely (each save is
still in the history).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from clinical.ctcae import (
    LabGrade,
    grade_alt,
    grade_haemoglobin,
    grade_lymphocytes,
    grade_neutrophils,
    grade_platelets,
    grade_white_cells,
)
from clinical.egfr import egfr_ckd_epi_2021
from clinical.instruments import HAQ_CATEGORIES, HAQ_ITEM_CODES, HAQ_ITEM_LABELS, HAQ_ITEMS, bmi, cdai, haq_di
from screening.instruments import MrssScores
from trial_site.audit.base import ClinicalRecord
from trial_site.protocol import PROTOCOL


def measured(label: Any, low: float, high: float, unit: str) -> models.FloatField:
    return models.FloatField(
        format_lazy("{} ({})", label, unit) if unit else label,
        null=True,
        blank=True,
        validators=[MinValueValidator(low), MaxValueValidator(high)],
    )


class VisitForm(ClinicalRecord):
    """Base of the visit CRFs: belongs to one visit that took place, at the participant's site."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        COMPLETE = "complete", _("Complete")

    form_code: ClassVar[str]
    # Fields that must be filled before the form can be marked complete.
    required_when_complete: ClassVar[tuple[str, ...]] = ()

    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.DRAFT)
    unusual_values_confirmed = models.BooleanField(_("unusual values confirmed"), default=False)

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.visit_id is not None:
            self.site_id = self.visit.site_id
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return f"{self._meta.verbose_name} of {self.visit}"

    def reason_required_for_change(self) -> bool:
        stored = type(self).objects.filter(pk=self.pk).values_list("status", flat=True).first()
        return stored == self.Status.COMPLETE

    def clean(self) -> None:
        if self.visit_id is None:
            return
        visit = self.visit
        participant = visit.participant
        if visit.cancelled or visit.missed:
            raise ValidationError(_("This visit is not taking place; no form can be entered for it."))
        if visit.done_on is None:
            raise ValidationError(_("Record the visit's date first; forms are entered for a visit that took place."))
        ended = getattr(participant, "end_of_study", None)
        if ended is not None and visit.code != PROTOCOL.follow_up.code and visit.done_on > ended.ended_on:
            raise ValidationError(_("The participant's study has ended; only the safety follow-up takes forms."))
        if self.status == self.Status.COMPLETE:
            missing = {
                name: _("Needed to mark the form complete.")
                for name in self.required_when_complete
                if getattr(self, name) in (None, "")
            }
            if missing:
                raise ValidationError(missing)

    @classmethod
    def visit_accessor(cls) -> str:
        return cls._meta.get_field("visit").remote_field.related_name


class VisitMrss(VisitForm, MrssScores):
    form_code = "mrss"
    visit = models.OneToOneField("visits.Visit", on_delete=models.PROTECT, related_name="mrss_form")
    assessor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("assessor")
    )

    class Meta:
        verbose_name = _("mRSS")
        verbose_name_plural = _("mRSS forms")


class VitalSigns(VisitForm):
    form_code = "vitals"
    required_when_complete = ("weight_kg", "height_cm", "systolic_bp", "diastolic_bp", "heart_rate", "temperature_c")
    visit = models.OneToOneField("visits.Visit", on_delete=models.PROTECT, related_name="vitals_form")
    weight_kg = measured(_("Weight"), 20, 300, "kg")
    height_cm = measured(_("Height"), 100, 230, "cm")
    systolic_bp = measured(_("Systolic blood pressure"), 50, 260, "mmHg")
    diastolic_bp = measured(_("Diastolic blood pressure"), 20, 160, "mmHg")
    heart_rate = measured(_("Heart rate"), 20, 250, "/min")
    temperature_c = measured(_("Temperature"), 30, 43, "°C")

    class Meta:
        verbose_name = _("vital signs")
        verbose_name_plural = _("vital signs")

    @property
    def bmi(self) -> float | None:
        if self.weight_kg is None or self.height_cm is None:
            return None
        return bmi(self.weight_kg, self.height_cm)

    def clean(self) -> None:
        super().clean()
        if self.systolic_bp is not None and self.diastolic_bp is not None and self.diastolic_bp >= self.systolic_bp:
            raise ValidationError({"diastolic_bp": _("The diastolic pressure must be below the systolic.")})


class LabPanel(VisitForm):
    """Blood count with differential and the chemistry the protocol asks at every visit, graded by CTCAE v5."""

    form_code = "labs"
    required_when_complete = ("hb_g_dl", "wbc", "anc", "alc", "platelets", "alt", "alt_uln", "creatinine_mg_dl")
    visit = models.OneToOneField("visits.Visit", on_delete=models.PROTECT, related_name="labs_form")
    hb_g_dl = measured(_("Haemoglobin"), 2, 25, "g/dL")
    wbc = measured(_("White cells"), 0, 200, "×10⁹/L")
    anc = measured(_("Neutrophils (ANC)"), 0, 200, "×10⁹/L")
    alc = measured(_("Lymphocytes (ALC)"), 0, 200, "×10⁹/L")
    platelets = measured(_("Platelets"), 0, 3000, "×10⁹/L")
    alt = measured(_("ALT"), 0, 10000, "U/L")
    alt_uln = measured(_("ALT upper limit of normal"), 1, 500, "U/L")
    ast = measured(_("AST"), 0, 10000, "U/L")
    albumin_g_l = measured(_("Albumin"), 5, 70, "g/L")
    creatinine_mg_dl = measured(_("Creatinine"), 0.1, 20, "mg/dL")
    ctcae_version = models.CharField(_("CTCAE version"), max_length=8, default="5.0", editable=False)

    class Meta:
        verbose_name = _("laboratory panel")

    def clean(self) -> None:
        super().clean()
        if self.anc is not None and self.wbc is not None and self.anc > self.wbc:
            raise ValidationError({"anc": _("Neutrophils cannot exceed the white cell count.")})
        if self.alc is not None and self.wbc is not None and self.alc > self.wbc:
            raise ValidationError({"alc": _("Lymphocytes cannot exceed the white cell count.")})
        if self.alt is not None and self.alt_uln is None:
            raise ValidationError({"alt_uln": _("ALT needs the laboratory's upper limit of normal.")})

    @property
    def egfr(self) -> float | None:
        if self.creatinine_mg_dl is None:
            return None
        participant = self.visit.participant
        from clinical.dates import age_in_years

        age = age_in_years(participant.date_of_birth, self.visit.done_on or self.visit.target_date)
        return egfr_ckd_epi_2021(creatinine_mg_dl=self.creatinine_mg_dl, age_years=age, sex=participant.sex)

    def grades(self) -> list[LabGrade]:
        """CTCAE v5 grades of the values present, against the protocol's reference limits."""
        limits = PROTOCOL.lab_reference
        sex = self.visit.participant.sex
        graded = []
        if self.hb_g_dl is not None:
            graded.append(grade_haemoglobin(self.hb_g_dl, lln=limits.hb_lln(sex)))
        for value, grade, lln in (
            (self.anc, grade_neutrophils, limits.anc_lln),
            (self.alc, grade_lymphocytes, limits.alc_lln),
            (self.wbc, grade_white_cells, limits.wbc_lln),
            (self.platelets, grade_platelets, limits.platelets_lln),
        ):
            if value is not None:
                graded.append(grade(value, lln=lln))
        if self.alt is not None and self.alt_uln:
            graded.append(grade_alt(self.alt, uln=self.alt_uln))
        return graded


class HaqAnswer(models.IntegerChoices):
    NONE = 0, _("0 without any difficulty")
    SOME = 1, _("1 with some difficulty")
    MUCH = 2, _("2 with much difficulty")
    UNABLE = 3, _("3 unable to do")


class HaqItems(models.Model):
    """The 20 HAQ-DI items (``item_<code>``) and the 8 aids/help answers (``aids_<category>``), added below from
    ``clinical.instruments`` so that the questionnaire is defined once."""

    class Meta:
        abstract = True


for _category, _items in HAQ_ITEMS.items():
    for _code in _items:
        HaqItems.add_to_class(
            f"item_{_code}",
            models.PositiveSmallIntegerField(HAQ_ITEM_LABELS[_code], choices=HaqAnswer.choices, null=True, blank=True),
        )
for _category, _label in HAQ_CATEGORIES:
    HaqItems.add_to_class(
        f"aids_{_category}",
        models.BooleanField(format_lazy("{}: {}", _label, _("uses aids, devices or help")), default=False),
    )


class HaqDi(VisitForm, HaqItems):
    """The Stanford HAQ Disability Index: 20 items (0–3) and, per category, aids, devices or help."""

    form_code = "haq"
    visit = models.OneToOneField("visits.Visit", on_delete=models.PROTECT, related_name="haq_form")

    class Meta:
        verbose_name = _("HAQ-DI")

    @property
    def result(self) -> Any:
        items = {code: getattr(self, f"item_{code}") for code in HAQ_ITEM_CODES}
        aids = {category: bool(getattr(self, f"aids_{category}")) for category, _label in HAQ_CATEGORIES}
        return haq_di(items, aids)

    def clean(self) -> None:
        super().clean()
        if self.status == self.Status.COMPLETE and self.result.score is None:
            raise ValidationError(_("The HAQ-DI needs answers in at least 6 of the 8 categories to be complete."))


class GlobalAssessment(VisitForm):
    """Patient and physician global assessments (0–10) and the joint counts; the CDAI is computed."""

    form_code = "globals"
    required_when_complete = ("patient_global", "physician_global", "swollen_28", "tender_28")
    visit = models.OneToOneField("visits.Visit", on_delete=models.PROTECT, related_name="globals_form")
    patient_global = measured(_("Patient global assessment"), 0, 10, "0–10")
    physician_global = measured(_("Physician global assessment"), 0, 10, "0–10")
    swollen_28 = models.PositiveSmallIntegerField(
        _("Swollen joints (of 28)"), null=True, blank=True, validators=[MaxValueValidator(28)]
    )
    tender_28 = models.PositiveSmallIntegerField(
        _("Tender joints (of 28)"), null=True, blank=True, validators=[MaxValueValidator(28)]
    )

    class Meta:
        verbose_name = _("global assessments and CDAI")
        verbose_name_plural = _("global assessments and CDAI")

    @property
    def cdai(self) -> float | None:
        values = (self.swollen_28, self.tender_28, self.patient_global, self.physician_global)
        if any(value is None for value in values):
            return None
        return cdai(
            swollen_28=self.swollen_28, tender_28=self.tender_28, patient_global=self.patient_global,
            evaluator_global=self.physician_global,
        )  # fmt: skip


VISIT_CRFS: tuple[type[VisitForm], ...] = (VisitMrss, VitalSigns, LabPanel, HaqDi, GlobalAssessment)
CRF_BY_CODE: dict[str, type[VisitForm]] = {model.form_code: model for model in VISIT_CRFS}
