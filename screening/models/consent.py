"""Informed consent and its withdrawal."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from trial_site.audit.base import ClinicalRecord
from trial_site.protocol import PROTOCOL


class SignatureMethod(models.TextChoices):
    SIGNATURE = "signature", _("Signature")
    THUMBPRINT = "thumbprint", _("Thumbprint, with an impartial witness")


class Consent(ClinicalRecord):
    """The participant's informed consent to this screening episode and the trial."""

    identifying_fields = ("witness_name",)

    participant = models.OneToOneField(
        "screening.Participant", on_delete=models.PROTECT, related_name="consent", verbose_name=_("participant")
    )
    form_version = models.CharField(
        _("consent form version"),
        max_length=10,
        choices=[(form.version, str(form)) for form in PROTOCOL.consent_forms],
    )
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
        if self.consented_at:
            if self.consented_at > timezone.now():
                errors["consented_at"] = _("Consent cannot be dated in the future.")
            form = PROTOCOL.consent_form(self.form_version)
            day = timezone.localdate(self.consented_at)
            if form is not None and not form.in_effect_on(day):
                errors["form_version"] = _("Consent form %(form)s was not in use on %(day)s.") % {
                    "form": form,
                    "day": day.isoformat(),
                }
        if self.signature_method == SignatureMethod.THUMBPRINT and not self.witness_name.strip():
            errors["witness_name"] = _("A thumbprint needs the name of the impartial witness.")
        if not self.copy_given:
            errors["copy_given"] = _("Give the participant a signed copy before recording consent.")
        if errors:
            raise ValidationError(errors)


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
