"""Protocol amendments as data: each later version of the protocol (its schedule, forms per visit, thresholds and
consent versions), proposed, then approved with a reason, in force from its effective date. Version 1.0 is the
code's (``trial_site.protocol.PROTOCOL``); read versions through ``trial_site.protocol_versions``."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from trial_site.audit.base import AuditedModel
from trial_site.audit.history import AuditedHistoricalRecords


class ProtocolVersion(AuditedModel):
    """A protocol amendment: the whole amendable protocol as it stands from ``effective_from`` (``content``)."""

    class Status(models.TextChoices):
        PROPOSED = "proposed", _("Proposed")
        APPROVED = "approved", _("Approved")

    version = models.CharField(_("protocol version"), max_length=20, unique=True)
    effective_from = models.DateField(_("in force from"))
    summary = models.TextField(_("what the amendment changes and why"))
    content = models.JSONField(_("the protocol as amended"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PROPOSED)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("proposed by")
    )
    proposed_at = models.DateTimeField(_("proposed at"))
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        verbose_name=_("approved by"),
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    approval_reason = models.TextField(_("reason for approval"), blank=True)
    # What applying the amendment did to the participants already in the trial (counts, written once).
    applied = models.JSONField(_("applied to participants"), default=dict, blank=True)

    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["effective_from", "version"]
        verbose_name = _("protocol version")
        permissions = [("approve_protocolversion", "Can approve a protocol amendment")]

    def __str__(self) -> str:
        return f"protocol {self.version} from {self.effective_from:%d %b %Y}"

    def clean(self) -> None:
        if self.status == self.Status.APPROVED and not (self.approved_by_id and self.approval_reason.strip()):
            raise ValidationError(_("An approval names who approved it and why."))
