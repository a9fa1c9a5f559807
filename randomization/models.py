"""Allocation lists (concealed), allocations, emergency unblinding."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from trial_site.audit.base import AppendOnlyModel, AuditedModel, ClinicalRecord
from trial_site.audit.history import AuditedHistoricalRecords


class AllocationList(AuditedModel):
    """A permuted-block allocation list, generated here or imported. Only the statistician sees its slots.

    The seed that generated it is never stored: only the checksum of the slots, which verifies them.
    """

    class Method(models.TextChoices):
        GENERATED = "generated", _("Generated in the application")
        IMPORTED = "imported", _("Imported from a CSV file")

    name = models.CharField(_("name"), max_length=100, unique=True)
    method = models.CharField(_("made by"), max_length=10, choices=Method.choices)
    block_sizes = models.JSONField(_("block sizes"), default=list)
    slots_per_stratum = models.PositiveIntegerField(_("slots asked per stratum"), null=True, blank=True)
    checksum = models.CharField(_("SHA-256 checksum of the slots"), max_length=64)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("created by")
    )
    is_active = models.BooleanField(_("in use"), default=False)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("allocation list")
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=models.Q(is_active=True), name="one_list_in_use"),
        ]

    def __str__(self) -> str:
        return self.name


class AllocationSlot(AppendOnlyModel):
    """One row of an allocation list. Never changed nor deleted after creation, by the application or by raw SQL
    from its database role (the append-only triggers); used when an allocation points to it, and that use is in
    the allocation's history."""

    allocation_list = models.ForeignKey(AllocationList, on_delete=models.PROTECT, related_name="slots")
    stratum = models.CharField(_("stratum"), max_length=40)
    sequence = models.PositiveIntegerField(_("sequence in the stratum"))
    block = models.PositiveIntegerField(_("block"))
    block_size = models.PositiveSmallIntegerField(_("block size"))
    arm = models.CharField(_("arm"), max_length=1)

    class Meta:
        ordering = ["allocation_list", "stratum", "sequence"]
        verbose_name = _("allocation slot")
        constraints = [
            models.UniqueConstraint(fields=["allocation_list", "stratum", "sequence"], name="one_slot_per_position"),
        ]

    def __str__(self) -> str:
        return f"{self.stratum} #{self.sequence}"


class Allocation(ClinicalRecord):
    """A participant's randomisation: never deleted; one per participant, one per slot."""

    participant = models.OneToOneField(
        "screening.Participant", on_delete=models.PROTECT, related_name="allocation", verbose_name=_("participant")
    )
    slot = models.OneToOneField(AllocationSlot, on_delete=models.PROTECT, related_name="allocation")
    randomisation_number = models.CharField(_("randomisation number"), max_length=20, unique=True)
    stratum = models.CharField(_("stratum"), max_length=40)
    arm = models.CharField(_("arm"), max_length=1)
    randomised_at = models.DateTimeField(_("randomised at"))
    randomised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("randomised by")
    )
    in_error = models.BooleanField(_("randomised in error"), default=False)
    error_reason = models.TextField(_("why it was in error"), blank=True)

    class Meta:
        ordering = ["randomised_at"]
        verbose_name = _("allocation")
        indexes = [
            # The randomisation overview's allocations of a site, newest first: read in order, not sorted.
            models.Index(fields=["site", "-randomised_at", "-id"], name="allocation_site_newest"),
        ]
        permissions = [
            ("randomise", "Can randomise participants"),
            ("view_arm", "Can see the allocated arm (not blinded)"),
            ("flag_error", "Can flag a randomisation as made in error"),
        ]

    def __str__(self) -> str:
        return self.randomisation_number


class AllocationTally(models.Model):
    """The allocations of one site by arm and "in error" (``randomization.tallies``): the randomisation overview's
    counts and page count, and the site's next randomisation number, read from a few rows. Kept by the services in
    the transaction that randomises or flags an error. Bookkeeping: no history; ``check_invariants`` recounts it."""

    site = models.ForeignKey("trial_site.Site", on_delete=models.PROTECT, related_name="+")
    arm = models.CharField(_("arm"), max_length=1)
    in_error = models.BooleanField(default=False)
    allocations = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["site", "arm", "in_error"], name="one_allocation_tally_per_key")]

    def __str__(self) -> str:
        return f"{self.site_id} {self.arm} {'in error' if self.in_error else ''}: {self.allocations}"


class Unblinding(ClinicalRecord):
    """An emergency unblinding of one allocation for one blinded user, with its reason."""

    participant_path = "allocation__participant_id"

    allocation = models.ForeignKey(Allocation, on_delete=models.PROTECT, related_name="unblindings")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("unblinded for")
    )
    reason = models.TextField(_("reason"))
    unblinded_at = models.DateTimeField(_("unblinded at"))

    class Meta:
        ordering = ["-unblinded_at"]
        verbose_name = _("emergency unblinding")
        permissions = [("unblind", "Can request emergency unblinding")]
