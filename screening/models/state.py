"""Where each participant stands in screening, stored: the screening log filters, pages and counts it in SQL.

A **derived cache**, not clinical data: every value is recomputed from the audited records (consent, the screening
forms, the confirmation in force, the screen failure, the withdrawal, the allocation) by
``screening.status_store.screening_state_refresh``, which the services that change those records call inside their
own transaction. It has no history of its own (the records it is computed from have theirs) and it can always be
rebuilt (``screening.status_store.refresh_all``); ``check_invariants`` finds and refills missing or stale rows.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from clinical.eligibility import Decision
from screening.status import ScreeningStatus


class ScreeningState(models.Model):
    """One row per participant: the screening status and the eligibility decision as the log shows them."""

    participant = models.OneToOneField(
        "screening.Participant", on_delete=models.CASCADE, primary_key=True, related_name="screening_state"
    )
    # The participant's site, copied (a participant never changes site): the log filters on it without a join.
    site = models.ForeignKey("trial_site.Site", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(
        _("status"), max_length=16, choices=[(status.value, status.label) for status in ScreeningStatus]
    )
    decision = models.CharField(_("decision"), max_length=16, choices=[(d.value, d.value) for d in Decision])
    # The criteria against eligibility and those not yet known, as codes separated by spaces ("I4 E17").
    failed_codes = models.CharField(max_length=120, blank=True)
    unknown_codes = models.CharField(max_length=120, blank=True)
    # The codes the screen failure recorded (the log's "screen failures by criterion"), empty without one.
    failure_codes = models.CharField(max_length=120, blank=True)
    forms_entered = models.PositiveSmallIntegerField(default=0)
    # The protocol version whose thresholds made the decision (the version in force at the site that day).
    protocol_version = models.CharField(max_length=10)
    refreshed_at = models.DateTimeField()

    class Meta:
        verbose_name = _("screening state")
        indexes = [
            models.Index(fields=["site", "participant"], name="screening_state_site"),
            models.Index(fields=["status", "participant"], name="screening_state_status"),
            models.Index(fields=["decision", "participant"], name="screening_state_decision"),
            models.Index(fields=["site", "status"], name="screening_state_counts"),
            # The investigators' "eligibility to confirm": a partial index of the few rows it lists.
            models.Index(
                fields=["site", "participant"],
                condition=Q(status=ScreeningStatus.ELIGIBLE.value),
                name="screening_to_confirm",
            ),
            # The screen failures by criterion: only the rows with a screen failure.
            models.Index(
                fields=["site", "failure_codes"], condition=~Q(failure_codes=""), name="screening_state_failures"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.participant_id}: {self.status} ({self.decision})"

    @property
    def screening_status(self) -> ScreeningStatus:
        return ScreeningStatus(self.status)

    @property
    def failed(self) -> list[str]:
        return self.failed_codes.split()

    @property
    def unknown(self) -> list[str]:
        return self.unknown_codes.split()


class ScreeningTally(models.Model):
    """How many participants of a site stand at each status, decision and screen failure's codes: the log's counts
    read these few rows (GROUP BY over them), not one row per participant. Kept with ``ScreeningState`` by the same
    writes (``screening.status_store``: each change moves one participant from one row to another), rebuilt from
    the states by ``refresh_all`` and checked by the invariant ``states_current``. A derived cache too."""

    site = models.ForeignKey("trial_site.Site", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16)
    decision = models.CharField(max_length=16)
    failure_codes = models.CharField(max_length=120, blank=True)
    participants = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["site", "status", "decision", "failure_codes"], name="one_screening_tally_per_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.site_id} {self.status} {self.decision} {self.failure_codes}: {self.participants}"
