"""The screening case report forms, one of each per participant (screening episode).

No form can be saved before the participant's informed consent: ``ScreeningForm.clean`` refuses it, and
``ClinicalRecord.save`` runs ``full_clean`` on every save, whatever the path.
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from clinical.egfr import creatinine_mg_dl, egfr_ckd_epi_2021
from clinical.steroids import PREDNISONE_EQUIVALENT_FACTOR, prednisone_equivalent_mg
from clinical.timeline import DateMeaning
from screening.instruments import MrssScores
from screening.timeline import participant_timeline, timeline_errors
from trial_site.audit.base import ClinicalRecord
from trial_site.branching import ShownWhen, branching_errors
from trial_site.form_numbers import limit_message
from trial_site.registry import FormSpec, Placement, Verification


def yes_no(label: Any, help_text: Any = "") -> models.BooleanField:
    """A yes / no question that may still be unanswered (None)."""
    return models.BooleanField(label, null=True, blank=True, help_text=help_text)


def measured(label: Any, low: float, high: float, unit: str, help_text: Any = "") -> models.FloatField:
    """A measured value with its unit and a plausible range (values outside it are refused as typing errors)."""
    field = models.FloatField(
        format_lazy("{} ({})", label, unit) if unit else label,
        null=True,
        blank=True,
        validators=[MinValueValidator(low), MaxValueValidator(high)],
        help_text=help_text,
    )
    field.unit = unit  # read by the data dictionary and the exports
    return field


class ScreeningForm(ClinicalRecord):
    """Base of the screening forms: belongs to one participant, at the participant's site, after consent."""

    # The form's one declaration (``trial_site.registry``); ``slug``, its part of the page's address, is its code.
    form_spec: ClassVar[FormSpec]
    slug: ClassVar[str]
    # Date fields that must not lie after the screening date (checked in clean()).
    dates_not_after_screening: ClassVar[tuple[str, ...]] = ()
    # A change voids the eligibility confirmation in force (the screening data it rests on changed).
    voids_confirmation: ClassVar[bool] = True

    class Meta:
        abstract = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        spec = cls.__dict__.get("form_spec")
        if spec is not None:
            cls.slug = spec.code

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.participant_id is not None:
            self.site_id = self.participant.site_id
        super().save(*args, **kwargs)

    def clean(self) -> None:
        if self.participant_id is None:
            return
        participant = self.participant
        consent = getattr(participant, "consent", None)
        if consent is None or consent.consented_at > timezone.now():
            raise ValidationError(_("Record the participant's informed consent before any screening data."))
        # Screening dates may be before consent (a diagnosis, a recent routine test), never in the future at the
        # site nor before birth (``clinical.timeline``).
        errors: dict[str, Any] = timeline_errors(
            participant, {name: (getattr(self, name), DateMeaning.HISTORY) for name in self.dates_not_after_screening}
        )
        for name, problem in branching_errors(self, self.form_spec.branching).items():
            errors.setdefault(name, problem)
        for name in self.dates_not_after_screening:
            value: date | None = getattr(self, name)
            if value is None or name in errors:
                continue
            if value > participant.screening_date:
                errors[name] = _("This date is after the screening date (%(day)s).") % {
                    "day": participant.screening_date.isoformat()
                }
        if errors:
            raise ValidationError(errors)

    @classmethod
    def participant_accessor(cls) -> str:
        return cls._meta.get_field("participant").remote_field.related_name


class ClassificationCriteria(ScreeningForm):
    """The 2013 ACR/EULAR classification items; the score is computed."""

    form_spec = FormSpec(
        "classification",
        None,
        Placement.SCREENING,
        entered_by=("coordinator", "investigator"),
        verification=Verification.FULL,
        export_key="CLASSIF",
    )
    participant = models.OneToOneField(
        "screening.Participant", on_delete=models.PROTECT, related_name="classification_criteria"
    )
    skin_thickening_proximal_to_mcp = yes_no(
        _("Skin thickening of the fingers of both hands extending proximal to the MCP joints (sufficient: 9)")
    )
    puffy_fingers = yes_no(_("Puffy fingers (2)"))
    sclerodactyly = yes_no(_("Sclerodactyly of the fingers, distal to the MCP joints (4)"))
    digital_tip_ulcers = yes_no(_("Digital tip ulcers (2)"))
    fingertip_pitting_scars = yes_no(_("Fingertip pitting scars (3)"))
    telangiectasia = yes_no(_("Telangiectasia (2)"))
    abnormal_nailfold_capillaries = yes_no(_("Abnormal nailfold capillaries (2)"))
    pulmonary_arterial_hypertension = yes_no(_("Pulmonary arterial hypertension (2)"))
    interstitial_lung_disease = yes_no(_("Interstitial lung disease (2)"))
    raynaud_phenomenon = yes_no(_("Raynaud's phenomenon (3)"))
    anticentromere = yes_no(_("Anticentromere antibodies (3)"))
    anti_topoisomerase_i = yes_no(_("Anti-topoisomerase I (anti-Scl-70) antibodies (3)"))
    anti_rna_polymerase_iii = yes_no(_("Anti-RNA polymerase III antibodies (3)"))
    skin_thickening_spares_fingers = yes_no(_("Skin thickening spares the fingers (criteria not applicable)"))
    better_explained_by_other_disorder = yes_no(
        _("A scleroderma-like disorder explains the picture better (criteria not applicable)")
    )

    class Meta:
        verbose_name = _("ACR/EULAR classification criteria")


class DiseaseHistory(ScreeningForm):
    """Disease onset and skin involvement at any time (for the LeRoy & Medsger subset)."""

    form_spec = FormSpec(
        "disease",
        None,
        Placement.SCREENING,
        entered_by=("coordinator", "investigator"),
        verification=Verification.FULL,
        export_key="DISEASE",
    )
    dates_not_after_screening = ("first_non_raynaud_date",)
    participant = models.OneToOneField(
        "screening.Participant", on_delete=models.PROTECT, related_name="disease_history"
    )
    first_non_raynaud_date = models.DateField(
        _("date of the first manifestation other than Raynaud's phenomenon"), null=True, blank=True
    )
    fingers = yes_no(_("Fingers"))
    hands = yes_no(_("Hands"))
    forearms = yes_no(_("Forearms"))
    upper_arms = yes_no(_("Upper arms"))
    face = yes_no(_("Face"))
    neck = yes_no(_("Neck"))
    chest = yes_no(_("Chest"))
    abdomen = yes_no(_("Abdomen"))
    thighs = yes_no(_("Thighs"))
    lower_legs = yes_no(_("Lower legs"))
    feet = yes_no(_("Feet"))

    class Meta:
        verbose_name = _("disease history and skin involvement")


class ScreeningMrss(ScreeningForm, MrssScores):
    """The baseline modified Rodnan skin score at screening (17 areas, 0–3 each)."""

    form_spec = FormSpec(
        "mrss",
        None,
        Placement.SCREENING,
        day_field="assessed_on",
        entered_by=("coordinator", "investigator", "blinded_assessor"),
        verification=Verification.FULL,
        export_key="SCRMRSS",
    )
    dates_not_after_screening = ("assessed_on",)
    participant = models.OneToOneField("screening.Participant", on_delete=models.PROTECT, related_name="screening_mrss")
    assessed_on = models.DateField(_("date of assessment"))
    assessor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("assessor")
    )

    class Meta:
        verbose_name = _("screening mRSS")


class SteroidDrug(models.TextChoices):
    NONE = "none", _("No oral corticosteroid")
    PREDNISONE = "prednisone", _("Prednisone")
    PREDNISOLONE = "prednisolone", _("Prednisolone")
    METHYLPREDNISOLONE = "methylprednisolone", _("Methylprednisolone")
    DEFLAZACORT = "deflazacort", _("Deflazacort")
    HYDROCORTISONE = "hydrocortisone", _("Hydrocortisone")
    DEXAMETHASONE = "dexamethasone", _("Dexamethasone")
    BETAMETHASONE = "betamethasone", _("Betamethasone")


# The oral corticosteroids a dose is asked for (not "No oral corticosteroid").
CORTICOSTEROIDS: tuple[str, ...] = tuple(drug.value for drug in SteroidDrug if drug != SteroidDrug.NONE)


class ExclusionHistory(ScreeningForm):
    """Explicit answers to exclusion criteria E1–E16, with the dates the time windows need."""

    form_spec = FormSpec(
        "exclusions",
        None,
        Placement.SCREENING,
        entered_by=("coordinator", "investigator"),
        verification=Verification.FULL,
        export_key="EXCLHIST",
        branching={
            "major_surgery_date": ShownWhen("major_surgery", (True,)),
            "malignancy_date": ShownWhen("malignancy", (True,)),
            "renal_crisis_date": ShownWhen("renal_crisis", (True,)),
            "steroid_dose_mg_day": ShownWhen("steroid_drug", CORTICOSTEROIDS),
        },
    )
    dates_not_after_screening = ("major_surgery_date", "malignancy_date", "renal_crisis_date")
    participant = models.OneToOneField(
        "screening.Participant", on_delete=models.PROTECT, related_name="exclusion_history"
    )
    other_rheumatic_disease = yes_no(
        _("E1 Another rheumatic disease"), _("Fibromyalgia and scleroderma-associated myopathy do not count.")
    )
    major_surgery = yes_no(_("E3 Major surgery (joint surgery included)"))
    major_surgery_date = models.DateField(_("date of the major surgery"), null=True, blank=True)
    infected_ulcer = yes_no(_("E4 An infected ulcer"))
    serious_bacterial_infection = yes_no(
        _("E5 Serious bacterial infection"), _("e.g. chronic pyelonephritis, osteomyelitis, bronchiectasis")
    )
    steroid_drug = models.CharField(_("E6 Oral corticosteroid"), max_length=20, choices=SteroidDrug.choices, blank=True)
    steroid_dose_mg_day = measured(_("daily dose"), 0, 1000, "mg/day")
    mycophenolate_g_day = measured(_("E7 Mycophenolate mofetil"), 0, 5, "g/day", _("0 if not taken"))
    active_tuberculosis = yes_no(_("E9 Active tuberculosis (clinical, radiographic or laboratory evidence)"))
    uncontrolled_significant_disease = yes_no(
        _("E12 Uncontrolled significant renal, hepatic, haematologic, GI, metabolic, endocrine, pulmonary, "
          "cardiac or neurologic disease")
    )  # fmt: skip
    pregnant_or_breastfeeding = yes_no(_("E13 Pregnant or breastfeeding"))
    childbearing_potential = yes_no(_("Woman of childbearing potential"))
    willing_to_use_contraception = yes_no(
        _("Willing to use highly effective contraception during the study and 28 days after")
    )
    malignancy = yes_no(_("E14 Malignancy"))
    malignancy_date = models.DateField(_("date of the malignancy diagnosis"), null=True, blank=True)
    renal_crisis = yes_no(_("E15 Scleroderma renal crisis"))
    renal_crisis_date = models.DateField(_("date of the renal crisis"), null=True, blank=True)
    anaphylaxis_to_study_drugs = yes_no(_("E16 Anaphylaxis to either study drug"))

    class Meta:
        verbose_name = _("exclusion history")

    @property
    def prednisone_equivalent_mg_day(self) -> float | None:
        if self.steroid_drug == SteroidDrug.NONE:
            return 0.0
        if not self.steroid_drug or self.steroid_dose_mg_day is None:
            return None
        return prednisone_equivalent_mg(self.steroid_drug, self.steroid_dose_mg_day)

    def clean(self) -> None:
        super().clean()
        errors: dict[str, Any] = {}
        if self.steroid_drug in CORTICOSTEROIDS and self.steroid_drug not in PREDNISONE_EQUIVALENT_FACTOR:
            errors["steroid_drug"] = _("Unknown corticosteroid.")
        if errors:
            raise ValidationError(errors)


class TestResult(models.TextChoices):
    NEGATIVE = "negative", _("Negative")
    POSITIVE = "positive", _("Positive")


TEST_RESULTS: tuple[str, ...] = tuple(TestResult.values)  # a test's date is asked once its result is given


class CreatinineUnit(models.TextChoices):
    MG_DL = "mg/dL", "mg/dL"
    UMOL_L = "µmol/L", "µmol/L"


CREATININE_RANGE = {CreatinineUnit.MG_DL: (0.1, 20.0), CreatinineUnit.UMOL_L: (9.0, 1800.0)}


class ScreeningLabs(ScreeningForm):
    """Screening laboratory values, with units; eGFR is computed from creatinine, age and sex."""

    form_spec = FormSpec(
        "labs",
        None,
        Placement.SCREENING,
        day_field="sampled_on",
        entered_by=("coordinator", "investigator"),
        verification=Verification.FULL,
        export_key="SCRLABS",
        branching={
            "hbsag_date": ShownWhen("hbsag", TEST_RESULTS, required=True),
            "hcv_date": ShownWhen("hcv_antigen", TEST_RESULTS, required=True),
            "pregnancy_test_date": ShownWhen("pregnancy_test", TEST_RESULTS, required=True),
        },
    )
    dates_not_after_screening = ("sampled_on", "hbsag_date", "hcv_date", "pregnancy_test_date")
    participant = models.OneToOneField("screening.Participant", on_delete=models.PROTECT, related_name="screening_labs")
    sampled_on = models.DateField(_("date of sampling"), null=True, blank=True)
    hb_g_dl = measured(_("Haemoglobin"), 2, 25, "g/dL")
    wbc = measured(_("White cells"), 0, 200, "×10⁹/L")
    anc = measured(_("Neutrophils (ANC)"), 0, 200, "×10⁹/L")
    platelets = measured(_("Platelets"), 0, 3000, "×10⁹/L")
    alc = measured(_("Lymphocytes (ALC)"), 0, 200, "×10⁹/L")
    alt = measured(_("ALT"), 0, 10000, "U/L")
    alt_uln = measured(_("ALT upper limit of normal"), 1, 500, "U/L", _("The laboratory's own upper limit."))
    creatinine = models.FloatField(_("creatinine"), null=True, blank=True)
    # No default unit: a unit nobody chose would silently turn µmol/L into mg/dL (asked when creatinine is given).
    creatinine_unit = models.CharField(_("creatinine unit"), max_length=8, choices=CreatinineUnit.choices, blank=True)
    fvc_percent = measured(_("FVC"), 5, 200, "% predicted")
    dlco_percent = measured(_("DLCO, uncorrected for Hb"), 5, 200, "% predicted")
    tb_test = models.CharField(
        _("TB test (IGRA or tuberculin skin test)"),
        max_length=8,
        choices=TestResult.choices,
        blank=True,
        help_text=_("Recorded for the investigator; active tuberculosis itself is answered in the exclusion history."),
    )
    hbsag = models.CharField(_("HBsAg"), max_length=8, choices=TestResult.choices, blank=True)
    hbsag_date = models.DateField(_("date of the HBsAg test"), null=True, blank=True)
    hcv_antigen = models.CharField(_("HCV antigen"), max_length=8, choices=TestResult.choices, blank=True)
    hcv_date = models.DateField(_("date of the HCV antigen test"), null=True, blank=True)
    pregnancy_test = models.CharField(_("pregnancy test"), max_length=8, choices=TestResult.choices, blank=True)
    pregnancy_test_date = models.DateField(_("date of the pregnancy test"), null=True, blank=True)

    class Meta:
        verbose_name = _("screening laboratory values")
        verbose_name_plural = _("screening laboratory values")

    @property
    def creatinine_mg_dl(self) -> float | None:
        if self.creatinine is None or not self.creatinine_unit:
            return None
        return creatinine_mg_dl(self.creatinine, self.creatinine_unit)

    @property
    def egfr(self) -> float | None:
        """eGFR (CKD-EPI 2021) in mL/min/1.73 m², from creatinine and the participant's age and sex."""
        creatinine = self.creatinine_mg_dl
        if creatinine is None:
            return None
        participant = self.participant
        return egfr_ckd_epi_2021(
            creatinine_mg_dl=creatinine, age_years=participant.age_at_screening, sex=participant.sex
        )

    def clean(self) -> None:
        super().clean()
        errors: dict[str, Any] = {}
        if self.creatinine is not None and not self.creatinine_unit:
            errors["creatinine_unit"] = _("Choose the unit of the creatinine value.")
        elif self.creatinine is not None:
            low, high = CREATININE_RANGE[CreatinineUnit(self.creatinine_unit)]
            if not low <= self.creatinine <= high:
                errors["creatinine"] = limit_message(_("Creatinine"), self.creatinine, low, high, self.creatinine_unit)
        if self.alt is not None and self.alt_uln is None:
            errors["alt_uln"] = _("ALT needs the laboratory's upper limit of normal.")
        if self.anc is not None and self.wbc is not None and self.anc > self.wbc:
            errors["anc"] = _("Neutrophils cannot exceed the white cell count.")
        if errors:
            raise ValidationError(errors)


class Day1Baseline(ScreeningForm, MrssScores):
    """Day 1, before randomising: what the protocol times at baseline, recorded on the day of randomisation.

    I4 (mRSS ≥ 10 at baseline) on the Day 1 mRSS, E7 (mycophenolate mofetil before baseline) on the Day 1 dose,
    E15 (renal crisis within 6 months before baseline) on the renal history with any crisis since screening.
    Randomisation needs this form dated that day (``clinical.eligibility_baseline``). It is not screening data:
    saving it leaves the eligibility confirmation in force.
    """

    form_spec = FormSpec(
        "day1",
        None,
        Placement.SCREENING,
        entered_by=("investigator",),
        verification=Verification.NONE,
        export_key="DAY1BASE",
        branching={"renal_crisis_since_screening_date": ShownWhen("renal_crisis_since_screening", (True,))},
    )
    voids_confirmation = False
    participant = models.OneToOneField("screening.Participant", on_delete=models.PROTECT, related_name="day1_baseline")
    day1 = models.DateField(
        _("Day 1: date of these assessments"),
        help_text=_("The day of randomisation. Randomising needs this form dated that day."),
    )
    assessor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("assessor of the Day 1 mRSS"),
    )
    mycophenolate_g_day = measured(
        _("E7 Mycophenolate mofetil on Day 1"),
        0,
        5,
        "g/day",
        _("The daily dose before the first study dose; 0 if none."),
    )
    renal_crisis_since_screening = yes_no(_("E15 Scleroderma renal crisis since the screening visit"))
    renal_crisis_since_screening_date = models.DateField(_("date of that renal crisis"), null=True, blank=True)

    class Meta:
        verbose_name = _("Day 1 baseline criteria")
        verbose_name_plural = _("Day 1 baseline criteria")

    def clean(self) -> None:
        super().clean()
        if self.participant_id is None:
            return
        errors: dict[str, Any] = {}
        today = participant_timeline(self.participant).today  # today at the site, in its time zone
        screened = self.participant.screening_date
        if self.day1 is not None:
            if self.day1 > today:
                errors["day1"] = _("This date is in the future.")
            elif self.day1 < screened:
                errors["day1"] = _("Day 1 cannot be before the screening date (%(day)s).") % {
                    "day": screened.isoformat()
                }
        crisis = self.renal_crisis_since_screening_date
        if crisis is not None and self.renal_crisis_since_screening:  # else refused by the branching (ScreeningForm)
            if crisis > today:
                errors["renal_crisis_since_screening_date"] = _("This date is in the future.")
            elif crisis < screened:
                errors["renal_crisis_since_screening_date"] = _(
                    "This date is before the screening date (%(day)s): record it on the exclusion history."
                ) % {"day": screened.isoformat()}
            elif self.day1 is not None and crisis > self.day1:
                errors["renal_crisis_since_screening_date"] = _("This date is after Day 1.")
        if errors:
            raise ValidationError(errors)


SCREENING_FORMS: tuple[type[ScreeningForm], ...] = (
    ClassificationCriteria,
    DiseaseHistory,
    ScreeningMrss,
    ExclusionHistory,
    ScreeningLabs,
    Day1Baseline,
)
"""The participant's forms before randomisation: the five screening forms, then the Day 1 baseline form."""
