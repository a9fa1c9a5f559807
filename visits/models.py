"""The visit schedule: visits with their windows, the forms each requires (as rows), and end of study."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from clinical.steroids import prednisone_equivalent_mg
from clinical.timeline import DateMeaning, DateProblem
from screening.models.crfs import SteroidDrug
from screening.timeline import timeline_errors
from trial_site import registry
from trial_site.audit.base import ClinicalRecord


class Visit(ClinicalRecord):
    """A scheduled visit (D1 … W24, FU) or an unscheduled one, with its window and what happened."""

    participant = models.ForeignKey(
        "screening.Participant", on_delete=models.PROTECT, related_name="visits", verbose_name=_("participant")
    )
    code = models.CharField(_("visit"), max_length=8, help_text=_("D1 … W24, FU; UNS for an unscheduled visit"))
    name = models.CharField(_("name"), max_length=60)
    sequence = models.PositiveSmallIntegerField(_("order"))
    target_date = models.DateField(_("target date"))
    earliest = models.DateField(_("window opens"))
    latest = models.DateField(_("window closes"))
    planned_date = models.DateField(_("planned date"))
    done_on = models.DateField(_("done on"), null=True, blank=True)
    deviation_reason = models.TextField(
        _("protocol deviation"), blank=True, help_text=_("Why the visit was done outside its window.")
    )
    missed = models.BooleanField(_("missed"), default=False)
    missed_reason = models.TextField(_("why it was missed"), blank=True)
    cancelled = models.BooleanField(_("no longer due (end of study)"), default=False)
    unscheduled_reason = models.TextField(_("reason for the unscheduled visit"), blank=True)

    class Meta:
        ordering = ["participant", "sequence", "target_date"]
        verbose_name = _("visit")
        indexes = [
            # The visits still open (neither done, missed nor cancelled), by the day their window closes: the
            # visits due and overdue, walked in the lists' order.
            models.Index(
                fields=["latest", "id"],
                condition=models.Q(done_on__isnull=True, missed=False, cancelled=False),
                name="visit_open_by_latest",
            ),
            # The same visits by site and the day their window opens: the home page's count of the visits due by
            # a day (window opened by then) read from the index alone, up to its cap (at 50,000 participants
            # 25 ms walking the planned days → under 1 ms).
            models.Index(
                fields=["site", "earliest", "id"],
                condition=models.Q(done_on__isnull=True, missed=False, cancelled=False),
                name="visit_open_by_site_opening",
            ),
            # The visits done, by the day they were done: the investigator's visits to sign (the earliest first)
            # walked in order, not every done visit sorted (at 50,000 participants 57 ms → under 5 ms).
            models.Index(fields=["done_on", "id"], condition=models.Q(done_on__isnull=False), name="visit_done_by_day"),
            # With it, the visit calendar's month: the visits done in it, and those not done planned in it.
            models.Index(
                fields=["planned_date"], condition=models.Q(done_on__isnull=True), name="visit_planned_not_done"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "code"], condition=~models.Q(code="UNS"), name="one_scheduled_visit_per_code"
            ),
            models.CheckConstraint(
                condition=~(models.Q(done_on__isnull=False) & models.Q(missed=True)), name="visit_not_done_and_missed"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.participant_id} {self.code} {self.target_date}"

    @property
    def is_unscheduled(self) -> bool:
        return self.code == "UNS"

    def clean(self) -> None:
        """A visit takes place on a possible day: not in the future at the site, not before consent nor Day 1."""
        if self.done_on is not None and self.participant_id is not None:
            errors = timeline_errors(self.participant, {"done_on": (self.done_on, DateMeaning.TREATMENT)})
            if errors:
                raise ValidationError(errors)


class RequiredForm(models.Model):
    """One form a visit requires: required (not yet entered), entered, or not required for this participant.

    "Which forms are missing" is one query on these rows. They are bookkeeping kept by the services, not
    clinical data, so they carry no history of their own.
    """

    class Status(models.TextChoices):
        REQUIRED = "required", _("required")
        ENTERED = "entered", _("entered")
        NOT_REQUIRED = "not_required", _("not required")

    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, related_name="required_forms")
    # A visit form's code in the registry of forms (``trial_site.registry``).
    form = models.CharField(_("form"), max_length=20)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.REQUIRED)
    # The day from which the form counts as missing while still required: the visit's date once it took place,
    # else the day after its window closes; None while the visit is missed or no longer due. Kept by the visit
    # services (``visits.progress``) so that the missing forms are one indexed range, not a join per row.
    due_on = models.DateField(_("missing from"), null=True, blank=True)

    class Meta:
        ordering = ["visit", "form"]
        constraints = [models.UniqueConstraint(fields=["visit", "form"], name="one_row_per_visit_form")]
        indexes = [
            # The missing forms (still required, due), oldest first: a partial index walked in the list's order.
            models.Index(
                fields=["due_on", "id"],
                condition=models.Q(status="required", due_on__isnull=False),
                name="requiredform_missing",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.visit} {self.form}: {self.status}"

    @property
    def label(self) -> Any:
        """The form's name, from the registry of forms."""
        return registry.visit_form_labels().get(self.form, self.form)


class VisitProgress(models.Model):
    """What is entered of a visit's forms, kept by the services that save them (``visits.progress``): the part of
    the visit's record status that does not depend on the day. Bookkeeping like ``RequiredForm``: no history.

    With the visit's own row (window, done, missed, no longer due) it gives the dashboard's state of the visit in
    SQL (``visits.dashboard.state_q``) without reading the forms' tables."""

    class Forms(models.TextChoices):
        NONE_REQUIRED = "none_required", _("nothing entered, no form required")
        NOTHING = "nothing", _("nothing entered")
        DRAFT = "draft", _("partly entered")
        COMPLETE = "complete", _("every required form complete")

    visit = models.OneToOneField(Visit, on_delete=models.CASCADE, primary_key=True, related_name="progress")
    forms = models.CharField(_("forms"), max_length=14, choices=Forms.choices, default=Forms.NOTHING)
    # What the visit counts in its site's ``VisitTally``, kept beside it so that a change is counted as the
    # difference: its compliance ("" for an unscheduled visit) and, while it is done, its forms required (all but
    # "not required") and entered.
    compliance = models.CharField(_("compliance"), max_length=14, blank=True, default="")
    # While pending: the end of its window it is counted with in ``OpenVisitTally`` (its ``latest`` then).
    pending_closes_on = models.DateField(_("counted as closing on"), null=True, blank=True)
    forms_required = models.PositiveIntegerField(_("forms required"), default=0)
    forms_entered = models.PositiveIntegerField(_("forms entered"), default=0)

    def __str__(self) -> str:
        return f"{self.visit_id}: {self.forms}"


class VisitTally(models.Model):
    """The trial reports' counts of one site's visits of one code (``exports.reports``): visits by compliance and
    the forms of the visits done, required and entered. Kept by ``visits.progress`` in the transaction of every
    change, as the sum of the visits' ``VisitProgress`` counts, so that the reports read a few rows instead of
    every visit and form of the trial. Bookkeeping: no history; ``check_invariants`` recounts it."""

    site = models.ForeignKey("trial_site.Site", on_delete=models.PROTECT, related_name="+")
    code = models.CharField(_("visit"), max_length=8)
    on_time = models.IntegerField(default=0)
    out_of_window = models.IntegerField(default=0)
    missed = models.IntegerField(default=0)
    no_longer_due = models.IntegerField(default=0)
    pending = models.IntegerField(default=0)  # not done, missed or no longer due: overdue or not yet due
    forms_required = models.IntegerField(default=0)
    forms_entered = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["site", "code"], name="one_tally_per_site_and_visit_code")]

    def __str__(self) -> str:
        return f"{self.site_id} {self.code}"


class OpenVisitTally(models.Model):
    """The pending visits (not done, missed or no longer due) of one site and visit code whose window closes on one
    day: the reports split them into overdue (closed before today) and not yet due by reading the rows before today.
    Kept by ``visits.progress`` like ``VisitTally``; rows counting nothing any more stay, out of the index."""

    site = models.ForeignKey("trial_site.Site", on_delete=models.PROTECT, related_name="+")
    code = models.CharField(_("visit"), max_length=8)
    closes_on = models.DateField(_("window closes on"))
    visits = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["site", "code", "closes_on"], name="one_open_visit_tally_per_day")
        ]
        indexes = [
            # The overdue visits of a site: the rows before today that still count a visit.
            models.Index(
                fields=["site", "closes_on"], condition=models.Q(visits__gt=0), name="open_visit_tally_counting"
            )
        ]

    def __str__(self) -> str:
        return f"{self.site_id} {self.code} {self.closes_on}: {self.visits}"


class EndOfStudy(ClinicalRecord):
    """How the participant's time in the study ended; no visit after it is due (except the safety follow-up)."""

    class Reason(models.TextChoices):
        COMPLETED = "completed", _("Completed the study")
        WITHDRAWN = "withdrawn", _("Withdrawn")
        LOST = "lost", _("Lost to follow-up")
        DEATH = "death", _("Death")

    participant = models.OneToOneField(
        "screening.Participant", on_delete=models.PROTECT, related_name="end_of_study", verbose_name=_("participant")
    )
    ended_on = models.DateField(_("date"))
    reason = models.CharField(_("how it ended"), max_length=10, choices=Reason.choices)
    details = models.TextField(_("details"), blank=True)

    class Meta:
        verbose_name = _("end of study")
        verbose_name_plural = _("ends of study")

    def clean(self) -> None:
        if self.ended_on is not None and self.participant_id is not None:
            errors = timeline_errors(self.participant, {"ended_on": (self.ended_on, DateMeaning.TREATMENT)})
            if errors:
                raise ValidationError(errors)


class ConcomitantMedication(ClinicalRecord):
    """One medication the participant takes besides the study drug, from its start to its stop.

    The list belongs to the participant, not to a visit; each visit's "concomitant medications" form records
    that the list was reviewed with the participant. Corticosteroids carry their daily dose so that the
    prednisone equivalent (exclusion E6, and safety) is computed.
    """

    free_text_fields = ("drug", "dose", "frequency", "indication")

    class Route(models.TextChoices):
        ORAL = "oral", _("Oral")
        IV = "iv", _("Intravenous")
        SC = "sc", _("Subcutaneous")
        IM = "im", _("Intramuscular")
        TOPICAL = "topical", _("Topical")
        INHALED = "inhaled", _("Inhaled")
        OTHER = "other", _("Other")

    participant = models.ForeignKey(
        "screening.Participant", on_delete=models.PROTECT, related_name="medications", verbose_name=_("participant")
    )
    drug = models.CharField(_("drug"), max_length=120)
    dose = models.CharField(_("dose"), max_length=60, help_text=_("e.g. 500 mg"))
    frequency = models.CharField(_("frequency"), max_length=60, help_text=_("e.g. twice daily"))
    route = models.CharField(_("route"), max_length=10, choices=Route.choices, default=Route.ORAL)
    indication = models.CharField(_("indication"), max_length=200)
    start_date = models.DateField(_("start"))
    stop_date = models.DateField(_("stop"), null=True, blank=True)
    steroid_drug = models.CharField(
        _("corticosteroid"),
        max_length=20,
        blank=True,
        choices=[(value, label) for value, label in SteroidDrug.choices if value != SteroidDrug.NONE],
        help_text=_("Only for an oral corticosteroid."),
    )
    steroid_daily_mg = models.FloatField(_("corticosteroid daily dose (mg)"), null=True, blank=True)
    steroid_daily_mg.unit = "mg"

    class Meta:
        ordering = ["participant", "-start_date", "drug"]
        verbose_name = _("concomitant medication")
        verbose_name_plural = _("concomitant medications")

    def __str__(self) -> str:
        return f"{self.drug} {self.dose} {self.frequency}"

    @property
    def prednisone_equivalent_mg_day(self) -> float | None:
        if not self.steroid_drug or self.steroid_daily_mg is None:
            return None
        return prednisone_equivalent_mg(self.steroid_drug, self.steroid_daily_mg)

    def timeline_errors(self, start: date | None, stop: date | None, *, stop_field: str) -> dict[str, str]:
        """Impossible dates of a medication: the start (which may be long before consent) and the stop not in the
        future nor before birth, the stop not before the start; the stop's message under ``stop_field``."""
        return timeline_errors(
            self.participant,
            {"start_date": (start, DateMeaning.HISTORY), stop_field: (stop, DateMeaning.HISTORY)},
            ends={stop_field: ("start_date", stop_field)},
            messages={DateProblem.BEFORE_START: _("The stop date cannot be before the start (%(day)s).")},
        )

    def is_taken_on(self, day: date) -> bool:
        return self.start_date <= day and (self.stop_date is None or day <= self.stop_date)

    def clean(self) -> None:
        errors: dict[str, Any] = {}
        if self.participant_id is not None:
            errors.update(self.timeline_errors(self.start_date, self.stop_date, stop_field="stop_date"))
        if self.steroid_drug and self.steroid_daily_mg is None:
            errors["steroid_daily_mg"] = _("Give the corticosteroid's daily dose in mg.")
        if self.steroid_daily_mg is not None and not self.steroid_drug:
            errors["steroid_drug"] = _("Choose the corticosteroid, or leave its dose empty.")
        if self.steroid_daily_mg is not None and not 0 <= self.steroid_daily_mg <= 1000:
            errors["steroid_daily_mg"] = _("Give a daily dose between 0 and 1000 mg.")
        if errors:
            raise ValidationError(errors)


# The visit case report forms live in visits/crfs.py; importing them here registers them with Django.
from visits import crfs  # noqa: E402, F401

__all__ = ["ConcomitantMedication", "EndOfStudy", "RequiredForm", "Visit", "VisitProgress"]
