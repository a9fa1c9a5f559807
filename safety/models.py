"""Adverse events, SAE reports with their 24-hour clock, and laboratory safety alerts."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from clinical.safety import Relationship, Seriousness, is_related, is_serious
from clinical.timeline import DateMeaning, DateProblem
from screening.timeline import timeline_errors
from trial_site.audit.base import ClinicalRecord
from trial_site.branching import ShownWhen, branching_errors
from trial_site.registry import FormSpec, Placement, Verification

# Adverse events are collected from informed consent: what began before it is medical history.
ONSET_MESSAGES = {
    DateProblem.BEFORE_CONSENT: _(
        "This onset is before the participant's informed consent (%(day)s): an event that began before consent is "
        "medical history, not an adverse event. If it worsened after consent, record the day it worsened."
    ),
}

SERIOUSNESS_FIELDS: dict[str, Seriousness] = {
    "serious_death": Seriousness.DEATH,
    "serious_life_threatening": Seriousness.LIFE_THREATENING,
    "serious_hospitalisation": Seriousness.HOSPITALISATION,
    "serious_disability": Seriousness.DISABILITY,
    "serious_congenital_anomaly": Seriousness.CONGENITAL_ANOMALY,
    "serious_important_medical_event": Seriousness.IMPORTANT_MEDICAL_EVENT,
}
# An event is serious when any ICH E2A criterion is ticked (``AdverseEvent.serious``), as a filter.
SERIOUS = models.Q()
for _field in SERIOUSNESS_FIELDS:
    SERIOUS |= models.Q(**{_field: True})


class AdverseEvent(ClinicalRecord):
    """An untoward medical occurrence in a participant, graded by CTCAE (version stored with the grade)."""

    form_spec = FormSpec(
        "adverse-event",
        None,
        Placement.PARTICIPANT,
        verification=Verification.FULL,
        export_key="AE",
        branching={"stop_date": ShownWhen("ongoing", (False,))},
    )

    free_text_fields = ("description",)

    class Grade(models.IntegerChoices):
        MILD = 1, _("1 mild")
        MODERATE = 2, _("2 moderate")
        SEVERE = 3, _("3 severe")
        LIFE_THREATENING = 4, _("4 life-threatening")
        DEATH = 5, _("5 death")

    class RelationshipChoice(models.TextChoices):
        NOT_RELATED = Relationship.NOT_RELATED, _("Not related")
        UNLIKELY = Relationship.UNLIKELY, _("Unlikely")
        POSSIBLE = Relationship.POSSIBLE, _("Possible")
        PROBABLE = Relationship.PROBABLE, _("Probable")
        DEFINITE = Relationship.DEFINITE, _("Definite")

    class Action(models.TextChoices):
        NONE = "none", _("None")
        REDUCED = "reduced", _("Dose reduced")
        INTERRUPTED = "interrupted", _("Interrupted")
        WITHDRAWN = "withdrawn", pgettext_lazy("action with the study drug", "Withdrawn")

    class Outcome(models.TextChoices):
        RECOVERED = "recovered", _("Recovered")
        RECOVERING = "recovering", _("Recovering")
        NOT_RECOVERED = "not_recovered", _("Not recovered")
        SEQUELAE = "sequelae", _("Recovered with sequelae")
        FATAL = "fatal", _("Fatal")
        UNKNOWN = "unknown", _("Unknown")

    class SpecialInterest(models.TextChoices):
        INFECTION = "infection", _("Serious or opportunistic infection (e.g. TB, herpes zoster)")
        MALIGNANCY = "malignancy", _("Malignancy")
        MACE = "mace", _("Major adverse cardiovascular event")
        THROMBOSIS = "thrombosis", _("Venous or arterial thrombosis")
        GI_PERFORATION = "gi_perforation", _("Gastrointestinal perforation")
        LIVER = "liver", _("Liver injury")
        CYTOPENIA = "cytopenia", _("Cytopenia")
        LIPIDS = "lipids", _("Raised lipids")
        PNEUMONITIS = "pneumonitis", _("Pneumonitis")
        MUCOSITIS = "mucositis", _("Mucositis")
        PREGNANCY = "pregnancy", _("Pregnancy exposure")

    participant = models.ForeignKey(
        "screening.Participant", on_delete=models.PROTECT, related_name="adverse_events", verbose_name=_("participant")
    )
    visit = models.ForeignKey(
        "visits.Visit", on_delete=models.PROTECT, null=True, blank=True, related_name="adverse_events",
        verbose_name=_("found at visit"),
    )  # fmt: skip
    description = models.CharField(_("event"), max_length=300)
    onset_date = models.DateField(_("onset"))
    stop_date = models.DateField(_("stopped"), null=True, blank=True)
    ongoing = models.BooleanField(_("ongoing"), default=True)
    grade = models.PositiveSmallIntegerField(_("CTCAE grade"), choices=Grade.choices)
    ctcae_version = models.CharField(_("CTCAE version"), max_length=8, default="5.0")
    serious_death = models.BooleanField(_("results in death"), default=False)
    serious_life_threatening = models.BooleanField(_("is life-threatening"), default=False)
    serious_hospitalisation = models.BooleanField(_("requires or prolongs hospitalisation"), default=False)
    serious_disability = models.BooleanField(_("results in persistent disability"), default=False)
    serious_congenital_anomaly = models.BooleanField(_("is a congenital anomaly"), default=False)
    serious_important_medical_event = models.BooleanField(_("is another important medical event"), default=False)
    relationship = models.CharField(_("relationship to study drug"), max_length=12, choices=RelationshipChoice.choices)
    expected = models.BooleanField(_("expected (listed in the reference safety information)"), default=False)
    action_taken = models.CharField(_("action with study drug"), max_length=12, choices=Action.choices)
    outcome = models.CharField(_("outcome"), max_length=14, choices=Outcome.choices, default=Outcome.NOT_RECOVERED)
    special_interest = models.CharField(
        _("of special interest"), max_length=16, choices=SpecialInterest.choices, blank=True
    )
    treatment_given = models.TextField(_("treatment given"), blank=True)
    learned_at = models.DateTimeField(
        _("when the site learned of it"), default=timezone.now,
        help_text=_("A serious event must be reported within 24 hours of this moment."),
    )  # fmt: skip

    class Meta:
        ordering = ["participant", "-onset_date"]
        verbose_name = _("adverse event")
        # The serious events of a site (the reports' and the safety pages' SAE counts), not every event.
        indexes = [models.Index(fields=["site"], condition=SERIOUS, name="adverseevent_serious_by_site")]

    def __str__(self) -> str:
        return f"{self.description} (grade {self.grade})"

    @property
    def seriousness(self) -> list[Seriousness]:
        return [criterion for field, criterion in SERIOUSNESS_FIELDS.items() if getattr(self, field)]

    @property
    def serious(self) -> bool:
        return is_serious(self.seriousness)

    @property
    def related(self) -> bool:
        return bool(self.relationship) and is_related(Relationship(self.relationship))

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.participant_id is not None:
            errors.update(timeline_errors(self.participant, {"stop_date": (self.stop_date, DateMeaning.TRIAL)}))
            errors.update(
                timeline_errors(
                    self.participant, {"onset_date": (self.onset_date, DateMeaning.TRIAL)}, messages=ONSET_MESSAGES
                )
            )
        for name, problem in branching_errors(self, self.form_spec.branching).items():
            errors.setdefault(name, problem)  # a stop date only for an event no longer ongoing
        if self.stop_date and self.onset_date and self.stop_date < self.onset_date and "stop_date" not in errors:
            errors["stop_date"] = _("The event cannot stop before it started.")
        if self.learned_at and self.learned_at > timezone.now():
            errors["learned_at"] = _("This moment is in the future.")
        if self.grade == self.Grade.DEATH and self.outcome != self.Outcome.FATAL:
            errors["outcome"] = _("A grade 5 event is fatal.")
        if self.outcome == self.Outcome.FATAL and not self.serious_death:
            errors["serious_death"] = _("A fatal event is serious: answer Yes to 'results in death'.")
        if self.participant_id and self.visit_id and self.visit.participant_id != self.participant_id:
            errors["visit"] = _("This visit belongs to another participant.")
        if errors:
            raise ValidationError(errors)


class SaeReport(ClinicalRecord):
    """A report of a serious adverse event to the sponsor: due 24 hours after the site learned of the event."""

    form_spec = FormSpec(
        "sae",
        None,
        Placement.EVENT,
        verification=Verification.FULL,
        export_key="SAE",
    )
    participant_path = "adverse_event__participant_id"

    class Kind(models.TextChoices):
        INITIAL = "initial", _("Initial report")
        FOLLOW_UP = "follow_up", _("Follow-up report")

    adverse_event = models.ForeignKey(AdverseEvent, on_delete=models.PROTECT, related_name="sae_reports")
    kind = models.CharField(_("report"), max_length=10, choices=Kind.choices, default=Kind.INITIAL)
    deadline = models.DateTimeField(_("due by"))
    narrative = models.TextField(_("narrative"), blank=True)
    submitted_at = models.DateTimeField(_("sent to the sponsor at"), null=True, blank=True)
    causality = models.CharField(
        _("investigator's causality assessment"), max_length=12, choices=AdverseEvent.RelationshipChoice.choices,
        blank=True,
    )  # fmt: skip
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=pgettext_lazy("SAE report", "signed by"),
    )  # fmt: skip
    signed_at = models.DateTimeField(_("signed at"), null=True, blank=True)
    susar = models.BooleanField(_("SUSAR"), default=False)
    regulatory_deadline = models.DateTimeField(_("due to the regulator by"), null=True, blank=True)

    class Meta:
        ordering = ["deadline"]
        verbose_name = _("SAE report")
        permissions = [("sign_saereport", "Can sign an SAE report as investigator")]

    def __str__(self) -> str:
        return f"SAE {self.get_kind_display()} for {self.adverse_event}"


class LabAlert(ClinicalRecord):
    """A laboratory value that breaks a hold or dose rule of the participant's arm, for the unblinded team."""

    participant = models.ForeignKey("screening.Participant", on_delete=models.PROTECT, related_name="lab_alerts")
    lab_panel = models.ForeignKey("visits.LabPanel", on_delete=models.PROTECT, related_name="alerts")
    rule = models.CharField(_("rule"), max_length=20)
    test = models.CharField(_("test"), max_length=20)
    value = models.FloatField(_("value"))
    text = models.CharField(_("what the protocol says"), max_length=200)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    action_taken = models.TextField(_("action taken"), blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("laboratory safety alert")
        permissions = [("acknowledge_labalert", "Can acknowledge a laboratory safety alert")]

    def __str__(self) -> str:
        return f"{self.rule}: {self.test} {self.value}"


class LabPanelAssessment(models.Model):
    """Bookkeeping, not clinical data: which version of a laboratory panel the arm's rules last assessed (written
    with the panel, in its transaction). ``check_invariants`` finds a panel whose saved version was not assessed."""

    panel = models.OneToOneField("visits.LabPanel", on_delete=models.PROTECT, related_name="assessment")
    panel_modified_at = models.DateTimeField(_("version of the panel assessed"))
    assessed_at = models.DateTimeField(_("assessed at"), auto_now=True)

    class Meta:
        verbose_name = _("laboratory panel assessment")

    def __str__(self) -> str:
        return f"{self.panel_id} assessed at version {self.panel_modified_at:%Y-%m-%d %H:%M:%S.%f}"
