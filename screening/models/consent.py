"""Informed consent, re-consent to a new consent form version, and the withdrawal of consent."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clinical.timeline import DateMeaning, DateProblem
from screening.timeline import timeline_errors
from trial_site.audit.base import ClinicalRecord
from trial_site.protocol_versions import consent_forms_all
from trial_site.registry import FormSpec, Placement, Verification


class SignatureMethod(models.TextChoices):
    SIGNATURE = "signature", _("Signature")
    THUMBPRINT = "thumbprint", _("Thumbprint, with an impartial witness")


class Consent(ClinicalRecord):
    """The participant's informed consent to this screening episode and the trial."""

    identifying_fields = ("witness_name",)
    form_spec = FormSpec("consent", None, Placement.PARTICIPANT, verification=Verification.FULL, export_key="CONSENT")

    participant = models.OneToOneField(
        "screening.Participant", on_delete=models.PROTECT, related_name="consent", verbose_name=_("participant")
    )
    # The versions come from the protocol's approved versions (an amendment may bring one): checked in clean(); the
    # form offers those in effect today (``screening.forms.ConsentForm``).
    form_version = models.CharField(_("consent form version"), max_length=10)
    consented_at = models.DateTimeField(_("date and time of consent"))
    obtained_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("consent obtained by")
    )
    signature_method = models.CharField(_("signed by"), max_length=10, choices=SignatureMethod.choices)
    witness_name = models.CharField(
        _("impartial witness"), max_length=120, blank=True, help_text=_("Needed when the participant cannot read.")
    )
    copy_given = models.BooleanField(_("a signed copy was given to the participant"), default=False)

    class Meta:
        verbose_name = _("informed consent")
        verbose_name_plural = _("informed consents")

    def __str__(self) -> str:
        return f"consent of {self.participant_id} ({self.form_version})"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.consented_at and self.consented_at > timezone.now():
            errors["consented_at"] = _("Consent cannot be dated in the future.")
        errors.update(consent_form_errors(self.form_version, self.consented_at))
        errors.update(_signature_errors(self))
        if errors:
            raise ValidationError(errors)


def consent_form_errors(version: str, consented_at: Any) -> dict[str, str]:
    """The version must be one an approved protocol version names, in use on the day it was signed."""
    if not version:
        return {}
    form = next((form for form in consent_forms_all() if form.version == version), None)
    if form is None:
        return {"form_version": _("There is no consent form version %(version)s.") % {"version": version}}
    if consented_at:
        day = timezone.localdate(consented_at)
        if not form.in_effect_on(day):
            return {
                "form_version": _("Consent form %(form)s was not in use on %(day)s.")
                % {"form": form, "day": day.isoformat()}
            }
    return {}


def _signature_errors(record: Any) -> dict[str, str]:
    errors: dict[str, str] = {}
    if record.signature_method == SignatureMethod.THUMBPRINT and not record.witness_name.strip():
        errors["witness_name"] = _("A thumbprint needs the name of the impartial witness.")
    if not record.copy_given:
        errors["copy_given"] = _("Give the participant a signed copy before recording consent.")
    return errors


class Reconsent(ClinicalRecord):
    """The participant's consent to a new consent form version that asks everyone still in the trial to sign again
    (``ConsentFormVersion.reconsent``); until then the procedures it blocks are refused
    (``screening.selectors.require_current_consent``)."""

    identifying_fields = ("witness_name",)
    form_spec = FormSpec(
        "reconsent",
        None,
        Placement.PARTICIPANT,
        entered_by=("coordinator", "investigator"),
        verification=Verification.FULL,
        export_key="RECONSNT",
        day_field="consented_at",
    )

    participant = models.ForeignKey(
        "screening.Participant", on_delete=models.PROTECT, related_name="reconsents", verbose_name=_("participant")
    )
    form_version = models.CharField(_("consent form version"), max_length=10)
    consented_at = models.DateTimeField(_("date and time of re-consent"))
    obtained_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("consent obtained by")
    )
    signature_method = models.CharField(_("signed by"), max_length=10, choices=SignatureMethod.choices)
    witness_name = models.CharField(
        _("impartial witness"), max_length=120, blank=True, help_text=_("Needed when the participant cannot read.")
    )
    copy_given = models.BooleanField(_("a signed copy was given to the participant"), default=False)

    class Meta:
        verbose_name = _("re-consent")
        verbose_name_plural = _("re-consents")
        constraints = [
            models.UniqueConstraint(fields=["participant", "form_version"], name="one_reconsent_per_version"),
        ]

    def __str__(self) -> str:
        return f"re-consent of {self.participant_id} ({self.form_version})"

    def clean(self) -> None:
        """A version in use on the day it was signed, not before the first consent, not in the future (at the site)."""
        errors: dict[str, str] = consent_form_errors(self.form_version, self.consented_at)
        if self.consented_at and self.participant_id is not None:
            day = timezone.localdate(self.consented_at, ZoneInfo(self.participant.site.time_zone))
            errors.update(
                timeline_errors(self.participant, {"consented_at": (day, DateMeaning.TRIAL)}, messages=_MESSAGES)
            )
        errors.update(_signature_errors(self))
        if errors:
            raise ValidationError(errors)


_MESSAGES = {
    DateProblem.BEFORE_CONSENT: _("Re-consent cannot come before the participant's first consent (%(day)s)."),
}


class WithdrawalScope(models.TextChoices):
    TREATMENT = "treatment", _("Study treatment only (follow-up continues)")
    FOLLOW_UP = "follow_up", _("All follow-up (data collected so far may be used)")
    DATA = "data", _("Use of data as well")


class ConsentWithdrawal(ClinicalRecord):
    participant = models.OneToOneField(
        "screening.Participant", on_delete=models.PROTECT, related_name="withdrawal", verbose_name=_("participant")
    )
    withdrawn_on = models.DateField(_("date of withdrawal"))
    scope = models.CharField(_("what is withdrawn"), max_length=10, choices=WithdrawalScope.choices)
    note = models.TextField(_("note"), blank=True)

    class Meta:
        verbose_name = _("withdrawal of consent")
        verbose_name_plural = _("withdrawals of consent")

    def clean(self) -> None:
        if self.withdrawn_on and self.withdrawn_on > timezone.localdate():
            raise ValidationError({"withdrawn_on": _("The date of withdrawal cannot be in the future.")})
