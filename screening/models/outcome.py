"""The outcome of screening: the investigator's confirmation of eligibility, or a screen failure."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from trial_site.audit.base import ClinicalRecord


class EligibilityConfirmation(ClinicalRecord):
    """An investigator's confirmation that the participant is eligible, on the data as they stood.

    A change to screening data afterwards voids it (``voided_at`` and ``void_reason`` are set, visibly); a
    participant then needs a new confirmation. Only one confirmation per participant is in force at a time.
    """

    # The snapshot quotes the data as confirmed, real dates included ("HBsAg negative on …"): a de-identified
    # export leaves it out (the criteria can be recomputed from the screening forms, which are exported).
    identifying_fields = ("criteria",)
    free_text_fields = ("void_reason",)

    participant = models.ForeignKey(
        "screening.Participant", on_delete=models.PROTECT, related_name="confirmations", verbose_name=_("participant")
    )
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("confirmed by")
    )
    confirmed_at = models.DateTimeField(_("confirmed at"))
    criteria = models.JSONField(_("criteria as confirmed"), help_text=_("Each criterion, its status and value."))
    voided_at = models.DateTimeField(_("voided at"), null=True, blank=True)
    void_reason = models.CharField(_("why it was voided"), max_length=300, blank=True)

    class Meta:
        ordering = ["-confirmed_at"]
        verbose_name = _("eligibility confirmation")
        permissions = [("confirm_eligibility", "Can confirm a participant's eligibility")]
        constraints = [
            models.UniqueConstraint(
                fields=["participant"], condition=models.Q(voided_at__isnull=True), name="one_confirmation_in_force"
            ),
        ]

    @property
    def in_force(self) -> bool:
        return self.voided_at is None


class ScreenFailure(ClinicalRecord):
    """The participant did not qualify; the failing criteria are kept for the screening log and CONSORT."""

    participant = models.OneToOneField(
        "screening.Participant", on_delete=models.PROTECT, related_name="screen_failure", verbose_name=_("participant")
    )
    failed_codes = models.JSONField(_("criteria failed"), help_text=_("Codes such as I4, E17."))
    recorded_at = models.DateTimeField(_("recorded at"))
    note = models.TextField(_("note"), blank=True)

    class Meta:
        verbose_name = _("screen failure")
