"""The case report forms of the visits: one of each kind per visit, saved as a draft or marked complete.

Totals and scores are computed from the raw answers by ``clinical`` (never typed). Hard limits are model
validators (a value outside them is refused); soft limits (``SOFT_LIMITS``) only warn and ask for a
confirmation. Editing a complete form needs a reason for change; a draft may be edited freely (each save is
still in the history).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from clinical.adherence import adherence_percent, expected_doses
from clinical.ctcae import (
    LabGrade,
    grade_alt,
    grade_haemoglobin,
    grade_lymphocytes,
    grade_neutrophils,
    grade_platelets,
    grade_white_cells,
)
from clinical.display import number
from clinical.egfr import creatinine_mg_dl, egfr_ckd_epi_2021
from clinical.instruments import HAQ_CATEGORIES, HAQ_ITEM_CODES, HAQ_ITEM_LABELS, HAQ_ITEMS, bmi, cdai, haq_di
from clinical.steroids import PREDNISONE_EQUIVALENT_FACTOR, prednisone_equivalent_mg
from clinical.timeline import DateMeaning
from clinical.versions import version_key
from screening.instruments import MrssScores
from screening.models.crfs import CORTICOSTEROIDS, CreatinineUnit, SteroidDrug, TestResult, measured
from screening.timeline import timeline_errors
from trial_site.audit.base import ClinicalRecord
from trial_site.branching import ShownWhen, branching_errors
from trial_site.form_numbers import limit_message
from trial_site.lab_ranges import SiteLabRanges, haemoglobin_test, site_lab_ranges
from trial_site.models.lab_ranges import LabTest
from trial_site.protocol import PROTOCOL
from trial_site.registry import FormSpec, Placement, Verification, visit_forms


class VisitForm(ClinicalRecord):
    """Base of the visit CRFs: belongs to one visit that took place, at the participant's site."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        COMPLETE = "complete", _("Complete")

    # The form's one declaration (``trial_site.registry``); ``form_code`` is its code.
    form_spec: ClassVar[FormSpec]
    form_code: ClassVar[str]
    participant_path = "visit__participant_id"
    # Fields that must be filled before the form can be marked complete.
    required_when_complete: ClassVar[tuple[str, ...]] = ()
    # Date fields checked against the participant's timeline (``clinical.timeline``), with their meaning.
    timeline_dates: ClassVar[dict[str, DateMeaning]] = {}

    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.DRAFT)
    unusual_values_confirmed = models.BooleanField(_("unusual values confirmed"), default=False)

    class Meta:
        abstract = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        spec = cls.__dict__.get("form_spec")
        if spec is not None:
            cls.form_code = spec.code

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.visit_id is not None:
            self.site_id = self.visit.site_id
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return f"{self._meta.verbose_name} of {self.visit}"

    def reason_required_for_change(self) -> bool:
        saved = self.saved_row()  # read under the save's lock, with the version
        if saved is not None:
            return saved["status"] == self.Status.COMPLETE
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
        impossible = timeline_errors(
            participant, {name: (getattr(self, name), meaning) for name, meaning in self.timeline_dates.items()}
        )
        for name, problem in branching_errors(self, self.form_spec.branching).items():
            impossible.setdefault(name, problem)
        if impossible:
            raise ValidationError(impossible)
        version = {"version": self.protocol_version}
        not_asked = {
            name: _("This form's protocol version (%(version)s) does not ask this.") % version
            for name in self.form_spec.fields_since
            if not self.asks(name) and getattr(self, name) not in (None, "")
        }
        if not_asked:
            raise ValidationError(not_asked)
        if self.status == self.Status.COMPLETE:
            missing = {
                name: _("Needed to mark the form complete.")
                for name in self.required_when_complete
                if self.asks(name) and getattr(self, name) in (None, "")
            }
            if missing:
                raise ValidationError(missing)

    def asks(self, field_name: str) -> bool:
        """Whether this form, under the protocol version it is made under, asks ``field_name``."""
        since = self.form_spec.fields_since.get(field_name)
        return since is None or version_key(self.protocol_version or PROTOCOL.version) >= version_key(since)

    @classmethod
    def visit_accessor(cls) -> str:
        return cls._meta.get_field("visit").remote_field.related_name


class VisitMrss(VisitForm, MrssScores):
    form_spec = FormSpec(
        "mrss",
        _("mRSS"),
        Placement.VISIT,
        entered_by=("investigator", "blinded_assessor"),
        visits=("D1", "W4", "W12", "W24"),
        verification=Verification.FULL,
        export_key="MRSS",
    )
    visit = models.OneToOneField("visits.Visit", on_delete=models.PROTECT, related_name="mrss_form")
    assessor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("assessor")
    )

    class Meta:
        verbose_name = _("mRSS")
        verbose_name_plural = _("mRSS forms")


class VitalSigns(VisitForm):
    form_spec = FormSpec(
        "vitals",
        _("Vital signs"),
        Placement.VISIT,
        entered_by=("coordinator", "investigator"),
        visits=("D1",),
        # Pulse oximetry (interstitial lung disease) is asked from protocol version 2.0, the amendment that adds
        # it: forms made under 1.0 neither show nor require it.
        fields_since={"oxygen_saturation": "2.0"},
    )
    required_when_complete = (
        "weight_kg", "height_cm", "systolic_bp", "diastolic_bp", "heart_rate", "temperature_c", "oxygen_saturation"
    )  # fmt: skip
    visit = models.OneToOneField("visits.Visit", on_delete=models.PROTECT, related_name="vitals_form")
    weight_kg = measured(_("Weight"), 20, 300, "kg")
    height_cm = measured(_("Height"), 100, 230, "cm")
    systolic_bp = measured(_("Systolic blood pressure"), 50, 260, "mmHg")
    diastolic_bp = measured(_("Diastolic blood pressure"), 20, 160, "mmHg")
    heart_rate = measured(_("Heart rate"), 20, 250, "/min")
    temperature_c = measured(_("Temperature"), 30, 43, "°C")
    oxygen_saturation = measured(_("Oxygen saturation (SpO₂) at rest"), 50, 100, "%")

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


# The creatinine a laboratory panel accepts, in each unit: the same span (0.1 to 20 mg/dL) in both.
LAB_PANEL_CREATININE_RANGE = {CreatinineUnit.MG_DL: (0.1, 20.0), CreatinineUnit.UMOL_L: (9.0, 1768.0)}


class LabPanel(VisitForm):
    """Blood count with differential and the chemistry the protocol asks at every visit, graded by CTCAE v5."""

    form_spec = FormSpec(
        "labs",
        _("Laboratory panel"),
        Placement.VISIT,
        entered_by=("coordinator", "investigator"),
        visits=("D1", "W2", "W4", "W8", "W12", "W16", "W20", "W24"),
    )
    # The ALT ULN may be left empty: the site's reference range in force on the visit date gives it.
    required_when_complete = ("hb_g_dl", "wbc", "anc", "alc", "platelets", "alt", "creatinine")
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
    # Creatinine as the laboratory reports it, in either unit; ``creatinine_mg_dl`` is derived from it (clean()).
    creatinine = models.FloatField(_("creatinine"), null=True, blank=True)
    creatinine_unit = models.CharField(_("creatinine unit"), max_length=8, choices=CreatinineUnit.choices, blank=True)
    creatinine_mg_dl = measured(_("Creatinine"), 0.1, 20, "mg/dL")
    creatinine_mg_dl.editable = False
    ctcae_version = models.CharField(_("CTCAE version"), max_length=8, default="5.0", editable=False)

    class Meta:
        verbose_name = _("laboratory panel")

    def clean(self) -> None:
        self._derive_creatinine_mg_dl()
        super().clean()
        if self.anc is not None and self.wbc is not None and self.anc > self.wbc:
            raise ValidationError({"anc": _("Neutrophils cannot exceed the white cell count.")})
        if self.alc is not None and self.wbc is not None and self.alc > self.wbc:
            raise ValidationError({"alc": _("Lymphocytes cannot exceed the white cell count.")})

    def _derive_creatinine_mg_dl(self) -> None:
        """Creatinine in mg/dL from the value and unit entered (µmol/L ÷ 88.4); refuses a value without its unit
        or outside the plausible range of its unit (the same range in both: 0.1–20 mg/dL, 9–1768 µmol/L)."""
        if self.creatinine is None:
            self.creatinine_mg_dl = None
            return
        if not self.creatinine_unit:
            raise ValidationError({"creatinine_unit": _("Choose the unit of the creatinine value.")})
        low, high = LAB_PANEL_CREATININE_RANGE[CreatinineUnit(self.creatinine_unit)]
        if not low <= self.creatinine <= high:
            message = limit_message(_("Creatinine"), self.creatinine, low, high, self.creatinine_unit)
            raise ValidationError({"creatinine": message})
        self.creatinine_mg_dl = creatinine_mg_dl(self.creatinine, self.creatinine_unit)

    @property
    def egfr(self) -> float | None:
        if self.creatinine_mg_dl is None:
            return None
        participant = self.visit.participant
        from clinical.dates import age_in_years

        age = age_in_years(participant.date_of_birth, self.visit.done_on or self.visit.target_date)
        return egfr_ckd_epi_2021(creatinine_mg_dl=self.creatinine_mg_dl, age_years=age, sex=participant.sex)

    # The site's ranges, read once for a list of panels (``visits.selectors.lab_trends``); else read on demand.
    lab_ranges: SiteLabRanges | None = None

    @property
    def sample_date(self) -> date:
        """The date the ranges in force are looked up for: the visit's date (its target date until recorded)."""
        return self.visit.done_on or self.visit.target_date

    def grades(self) -> list[LabGrade]:
        """CTCAE v5 grades of the values present, against the site's laboratory reference ranges in force on the
        visit's date (the protocol's defaults where the site has recorded none); ALT against the ULN written on
        this panel when there is one. Each grade says which limit graded it (``LabGrade.reference``)."""
        ranges = self.lab_ranges if self.lab_ranges is not None else site_lab_ranges(self.visit.site_id)
        on = self.sample_date
        graded = []
        for value, grade, test in (
            (self.hb_g_dl, grade_haemoglobin, haemoglobin_test(self.visit.participant.sex)),
            (self.anc, grade_neutrophils, LabTest.NEUTROPHILS),
            (self.alc, grade_lymphocytes, LabTest.LYMPHOCYTES),
            (self.wbc, grade_white_cells, LabTest.WHITE_CELLS),
            (self.platelets, grade_platelets, LabTest.PLATELETS),
        ):
            if value is not None:
                limit = ranges.in_force(test, on)
                reference = f"LLN {number(limit.lower)} {limit.unit}, {limit.source}"  # type: ignore[arg-type]
                graded.append(replace(grade(value, lln=limit.lower), reference=reference))
        if self.alt is not None:
            if self.alt_uln:
                uln, reference = self.alt_uln, _("ULN %(uln)s U/L, on this panel") % {"uln": number(self.alt_uln)}
            else:
                limit = ranges.in_force(LabTest.ALT, on)
                uln, reference = limit.upper, f"ULN {number(limit.upper)} {limit.unit}, {limit.source}"  # type: ignore[arg-type]
            graded.append(replace(grade_alt(self.alt, uln=uln), reference=str(reference)))
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

    form_spec = FormSpec(
        "haq",
        _("HAQ-DI"),
        Placement.VISIT,
        entered_by=("coordinator", "investigator"),
        visits=("D1", "W4", "W12", "W24"),
    )
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

    form_spec = FormSpec(
        "globals",
        _("Global assessments and CDAI"),
        Placement.VISIT,
        entered_by=("coordinator", "investigator"),
        visits=("D1", "W4", "W12", "W24"),
    )
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
    swollen_28.unit = tender_28.unit = gettext_noop("joints")  # shown by the form, listed by the exports

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


class InflammationMarkers(VisitForm):
    """Erythrocyte sedimentation rate and C-reactive protein."""

    form_spec = FormSpec(
        "inflammation",
        _("ESR and CRP"),
        Placement.VISIT,
        entered_by=("coordinator", "investigator"),
        visits=("D1", "W4", "W12", "W24"),
    )
    required_when_complete = ("esr_mm_h", "crp_mg_l")
    visit = models.OneToOneField("visits.Visit", on_delete=models.PROTECT, related_name="inflammation_form")
    esr_mm_h = measured(_("Erythrocyte sedimentation rate (ESR)"), 0, 150, "mm/h")
    crp_mg_l = measured(_("C-reactive protein (CRP)"), 0, 500, "mg/L")

    class Meta:
        verbose_name = _("ESR and CRP")
        verbose_name_plural = _("ESR and CRP forms")


class Lipids(VisitForm):
    """Fasting or non-fasting lipid profile in mmol/L (a raised LDL is of special interest on a JAK inhibitor)."""

    form_spec = FormSpec(
        "lipids",
        _("Lipids"),
        Placement.VISIT,
        entered_by=("coordinator", "investigator"),
        visits=("W12", "W24"),
    )
    required_when_complete = ("total_cholesterol", "ldl_cholesterol", "hdl_cholesterol", "triglycerides")
    visit = models.OneToOneField("visits.Visit", on_delete=models.PROTECT, related_name="lipids_form")
    total_cholesterol = measured(_("Total cholesterol"), 0.5, 30, "mmol/L")
    ldl_cholesterol = measured(_("LDL cholesterol"), 0.1, 25, "mmol/L")
    hdl_cholesterol = measured(_("HDL cholesterol"), 0.1, 6, "mmol/L")
    triglycerides = measured(_("Triglycerides"), 0.1, 60, "mmol/L")

    class Meta:
        verbose_name = _("lipids")
        verbose_name_plural = _("lipids")

    def clean(self) -> None:
        super().clean()
        total, ldl, hdl = self.total_cholesterol, self.ldl_cholesterol, self.hdl_cholesterol
        # Rounded so that, say, LDL 3.1 + HDL 1.2 against a total of 4.3 is not refused by a float's last bit.
        if None not in (total, ldl, hdl) and round(ldl + hdl, 6) > round(total, 6):
            raise ValidationError({"ldl_cholesterol": _("LDL and HDL together cannot exceed the total cholesterol.")})


class PulmonaryFunction(VisitForm):
    """Forced vital capacity and diffusing capacity, as % predicted; DLCO as measured, not corrected for Hb
    (as in exclusion E8)."""

    form_spec = FormSpec(
        "pft",
        _("FVC and DLCO"),
        Placement.VISIT,
        entered_by=("coordinator", "investigator"),
        visits=("D1", "W24"),
    )
    required_when_complete = ("fvc_percent", "dlco_percent")
    visit = models.OneToOneField("visits.Visit", on_delete=models.PROTECT, related_name="pft_form")
    fvc_percent = measured(_("FVC"), 5, 200, "% predicted")
    dlco_percent = measured(_("DLCO, uncorrected for Hb"), 5, 200, "% predicted")

    class Meta:
        verbose_name = _("FVC and DLCO")
        verbose_name_plural = _("FVC and DLCO forms")


def _after_visit(day: date | None, visit_day: date) -> str | None:
    """Why ``day`` is refused as the date of something done at a visit on ``visit_day`` (None if it is not); the
    future, birth and consent are the timeline's (``VisitForm.timeline_dates``)."""
    if day is None:
        return None
    if day > visit_day:
        return _("This date is after the visit (%(day)s).") % {"day": visit_day.isoformat()}
    return None


def needs_pregnancy_tests(participant: Any) -> bool:
    """Pregnancy tests are for women of childbearing potential (as recorded at screening)."""
    history = getattr(participant, "exclusion_history", None)
    return participant.sex == "F" and (history is None or history.childbearing_potential is not False)


class PregnancyTest(VisitForm):
    """A pregnancy test of a woman of childbearing potential (the visit's row is "not required" for others).

    A positive result is a pregnancy exposure: report it in the safety feature as well.
    """

    form_spec = FormSpec(
        "pregnancy",
        _("Pregnancy test"),
        Placement.VISIT,
        entered_by=("coordinator", "investigator"),
        visits=("D1", "W24", "FU"),
        export_key="PREGTEST",
        applies_to=needs_pregnancy_tests,
    )
    required_when_complete = ("result", "tested_on")
    timeline_dates = {"tested_on": DateMeaning.TRIAL}
    visit = models.OneToOneField("visits.Visit", on_delete=models.PROTECT, related_name="pregnancy_form")
    result = models.CharField(_("pregnancy test result"), max_length=8, choices=TestResult.choices, blank=True)
    tested_on = models.DateField(_("date of the pregnancy test"), null=True, blank=True)

    class Meta:
        verbose_name = _("pregnancy test")

    def clean(self) -> None:
        super().clean()
        if self.visit_id is None:
            return
        problem = _after_visit(self.tested_on, self.visit.done_on)
        if problem:
            raise ValidationError({"tested_on": problem})


class StudyDrug(VisitForm):
    """Study-drug accountability by pill count, the current dose, dose changes and interruptions.

    The period runs from ``period_start`` (the day the tablets were dispensed, counted) up to the day before
    this visit (``visit.done_on``, the return day, not counted; ``clinical.adherence``). ``tablets_per_week`` is
    the number prescribed, whatever the drug (for example 7 for a once-daily tablet, 10 for a weekly dose taken
    as ten 2.5 mg tablets). An interruption is a hold of the drug (by the investigator, or reported by the
    participant) that the form records with its dates: its days are left out of the tablets expected, so a
    participant who rightly took no tablets during a hold is not counted as non-adherent. An interruption still
    going on at this visit ends, on this form, the day before the visit.

    Nothing here names a study drug: blinded users must never see one (``current_dose`` is free text entered
    by unblinded staff, and blinded roles may not open this form).
    """

    form_spec = FormSpec(
        "drug",
        _("Study drug"),
        Placement.VISIT,
        entered_by=("coordinator", "investigator"),
        visits=("W2", "W4", "W8", "W12", "W16", "W20", "W24"),
        export_key="DRUG",
        branching={
            "dose_change_reason": ShownWhen("dose_changed", (True,), required=True),
            "interruption_from": ShownWhen("interrupted", (True,), required=True),
            "interruption_to": ShownWhen("interrupted", (True,), required=True),
            "interruption_reason": ShownWhen("interrupted", (True,), required=True),
        },
    )
    required_when_complete = ("dispensed", "returned", "period_start", "tablets_per_week")
    one_line_answers = ("dose_change_reason", "interruption_reason")  # a short reason, one line (forms.FitFieldsMixin)
    timeline_dates = {
        "period_start": DateMeaning.TREATMENT,
        "interruption_from": DateMeaning.TREATMENT,
        "interruption_to": DateMeaning.TREATMENT,
    }
    visit = models.OneToOneField("visits.Visit", on_delete=models.PROTECT, related_name="drug_form")
    dispensed = models.PositiveSmallIntegerField(
        _("Tablets dispensed at the previous visit"), null=True, blank=True, validators=[MaxValueValidator(1000)]
    )
    returned = models.PositiveSmallIntegerField(
        _("Tablets returned at this visit"), null=True, blank=True, validators=[MaxValueValidator(1000)]
    )
    dispensed.unit = returned.unit = gettext_noop("tablets")
    period_start = models.DateField(
        _("date the tablets were dispensed"),
        null=True,
        blank=True,
        help_text=_("The period ends the day before this visit."),
    )
    tablets_per_week = measured(_("Tablets per week as prescribed"), 0, 70, "tablets/week")
    current_dose = models.CharField(
        _("current dose"),
        max_length=100,
        blank=True,
        help_text=_("The dose and how often, as prescribed now (for example: 2 mg once daily)."),
    )
    dose_changed = models.BooleanField(_("dose changed since the previous visit"), default=False)
    dose_change_reason = models.TextField(_("reason for the dose change"), blank=True)
    interrupted = models.BooleanField(_("study drug interrupted during the period"), default=False)
    interruption_from = models.DateField(_("interrupted from"), null=True, blank=True)
    interruption_to = models.DateField(
        _("interrupted to"),
        null=True,
        blank=True,
        help_text=_("The last day without the drug; if it is still held, the day before this visit."),
    )
    interruption_reason = models.TextField(_("reason for the interruption"), blank=True)

    class Meta:
        verbose_name = _("study drug")
        verbose_name_plural = _("study drug forms")

    @property
    def period_end(self) -> date | None:
        """The last day of the period: the day before this visit."""
        done_on = self.visit.done_on if self.visit_id is not None else None
        return None if done_on is None else done_on - timedelta(days=1)

    @property
    def expected_tablets(self) -> float | None:
        """Tablets expected over the period, the days of the interruption left out; None if not computable."""
        done_on = self.visit.done_on if self.visit_id is not None else None
        if done_on is None or self.period_start is None or self.tablets_per_week is None:
            return None
        try:
            expected = expected_doses(start=self.period_start, end=done_on, doses_per_week=self.tablets_per_week)
            if self.interrupted and self.interruption_from is not None and self.interruption_to is not None:
                expected -= expected_doses(
                    start=self.interruption_from,
                    end=self.interruption_to + timedelta(days=1),
                    doses_per_week=self.tablets_per_week,
                )
        except ValueError:
            return None
        return expected if expected >= 0 else None

    @property
    def adherence(self) -> float | None:
        """Tablets taken as a percentage of tablets expected (unrounded, not capped); None if not computable."""
        expected = self.expected_tablets
        if expected is None or self.dispensed is None or self.returned is None:
            return None
        try:
            return adherence_percent(dispensed=self.dispensed, returned=self.returned, expected=expected)
        except ValueError:
            return None

    def clean(self) -> None:
        super().clean()
        if self.visit_id is None:
            return
        errors: dict[str, Any] = {}
        if self.dispensed is not None and self.returned is not None and self.returned > self.dispensed:
            errors["returned"] = _("More tablets cannot be returned than were dispensed.")
        done_on = self.visit.done_on
        if self.period_start is not None and self.period_start >= done_on:
            errors["period_start"] = _("The tablets must have been dispensed before this visit (%(day)s).") % {
                "day": done_on.isoformat()
            }
        errors.update(self._interruption_errors(done_on))
        if errors:
            raise ValidationError(errors)

    def _interruption_errors(self, done_on: date) -> dict[str, Any]:
        """The interruption's dates against the period (whether they are asked at all is the form's branching)."""
        errors: dict[str, Any] = {}
        dates = {"interruption_from": self.interruption_from, "interruption_to": self.interruption_to}
        if not self.interrupted:
            return errors
        for name, value in dates.items():
            if value is None:
                continue
            if value >= done_on:
                errors[name] = _("The interruption must lie within the period, which ends the day before the visit.")
            elif self.period_start is not None and value < self.period_start:
                errors[name] = _("The interruption must lie within the period, which starts on %(day)s.") % {
                    "day": self.period_start.isoformat()
                }
        start, end = self.interruption_from, self.interruption_to
        if "interruption_to" not in errors and start is not None and end is not None and end < start:
            errors["interruption_to"] = _("The interruption cannot end before it starts.")
        return errors


class ConcomitantMedications(VisitForm):
    """The review of concomitant medications at a visit, kept deliberately simple.

    The investigator or coordinator confirms the review (``reviewed``, needed to complete the form) and writes
    what started, stopped or changed since the previous visit in ``changes`` (free text, empty if nothing did).
    The oral corticosteroid is the one medication held as data, with its daily dose, because exclusion E6 (more
    than 10 mg/day prednisone or equivalent) cares about it; ``prednisone_equivalent_mg_day`` is computed by
    ``clinical.steroids``. Choose "No oral corticosteroid" when none is taken (the dose stays empty).
    """

    form_spec = FormSpec(
        "conmeds",
        _("Concomitant medications"),
        Placement.VISIT,
        entered_by=("coordinator", "investigator"),
        visits=("W2", "W4", "W8", "W12", "W16", "W20", "W24", "FU"),
        export_key="CONMEDS",
        branching={"steroid_dose_mg_day": ShownWhen("steroid_drug", CORTICOSTEROIDS)},
    )
    required_when_complete = ("steroid_drug",)
    visit = models.OneToOneField("visits.Visit", on_delete=models.PROTECT, related_name="conmeds_form")
    reviewed = models.BooleanField(_("concomitant medications reviewed with the participant"), default=False)
    changes = models.TextField(
        _("changes since the previous visit"),
        blank=True,
        help_text=_("Medications started, stopped or changed, with dose and dates; empty if none."),
    )
    steroid_drug = models.CharField(_("oral corticosteroid"), max_length=20, choices=SteroidDrug.choices, blank=True)
    steroid_dose_mg_day = measured(_("daily dose of the oral corticosteroid"), 0, 1000, "mg/day")

    class Meta:
        verbose_name = _("concomitant medications")
        verbose_name_plural = _("concomitant medications")

    @property
    def prednisone_equivalent_mg_day(self) -> float | None:
        """The daily oral corticosteroid dose as mg of prednisone (0 if none); None if not computable."""
        if self.steroid_drug == SteroidDrug.NONE:
            return 0.0
        if not self.steroid_drug or self.steroid_dose_mg_day is None:
            return None
        try:
            return prednisone_equivalent_mg(self.steroid_drug, self.steroid_dose_mg_day)
        except ValueError:
            return None

    def clean(self) -> None:
        super().clean()
        errors: dict[str, Any] = {}
        if self.steroid_drug in CORTICOSTEROIDS:  # the dose of none is refused by the branching (VisitForm)
            if self.steroid_drug not in PREDNISONE_EQUIVALENT_FACTOR:
                errors["steroid_drug"] = _("Unknown corticosteroid.")
            elif self.status == self.Status.COMPLETE and self.steroid_dose_mg_day is None:
                errors["steroid_dose_mg_day"] = _("Needed to mark the form complete.")
        if self.status == self.Status.COMPLETE and not self.reviewed:
            errors["reviewed"] = _("Review the concomitant medications to mark the form complete.")
        if errors:
            raise ValidationError(errors)


def visit_crfs() -> tuple[type[VisitForm], ...]:
    """Every visit case report form of the registry (``trial_site.registry``), in its order."""
    return tuple(form.model for form in visit_forms())  # type: ignore[misc]


def crf_by_code(code: str) -> type[VisitForm] | None:
    return next((model for model in visit_crfs() if model.form_code == code), None)
