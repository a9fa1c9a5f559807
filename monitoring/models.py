"""What monitors, investigators and data managers add on top of the clinical data: queries on it, source data
verification, signatures and locks. Each names the record it is about generically (content type and id) and
keeps its own history (append-only, like the clinical audit trail)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from trial_site.audit.base import AppendOnlyModel, AuditedModel
from trial_site.audit.history import AuditedHistoricalRecords


class OnRecord(AuditedModel):
    """Something about one clinical record (a form): its site, participant, and the record itself."""

    site = models.ForeignKey("trial_site.Site", on_delete=models.PROTECT, related_name="+", verbose_name=_("site"))
    participant = models.ForeignKey(
        "screening.Participant", on_delete=models.PROTECT, related_name="+", verbose_name=_("participant")
    )
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+", verbose_name=_("form"))
    object_id = models.PositiveBigIntegerField(_("record"))
    record = GenericForeignKey("content_type", "object_id")

    class Meta:
        abstract = True


class DataQuery(OnRecord):
    """A question on one field of a form, or on the whole form: open → answered → closed (or re-opened)."""

    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("query status", "open")
        ANSWERED = "answered", pgettext_lazy("query status", "answered")
        CLOSED = "closed", pgettext_lazy("query status", "closed")

    field = models.CharField(_("field"), max_length=60, blank=True, help_text=_("Empty: the whole form."))
    message = models.TextField(_("question"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("raised by"), help_text=_("Empty for a query raised by an edit check."),
    )  # fmt: skip
    raised_at = models.DateTimeField(_("raised at"))
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("assigned to"),
    )  # fmt: skip
    due_date = models.DateField(_("answer by"), null=True, blank=True)
    edit_check = models.CharField(_("edit check"), max_length=40, blank=True)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["-raised_at", "-pk"]
        verbose_name = _("data query")
        verbose_name_plural = _("data queries")
        # The monitoring app's permissions that belong to no one model are declared here too.
        permissions = [
            ("raise_query", "Raise and close data queries"),
            ("answer_query", "Answer data queries"),
            ("review_audit", "Review the audit trail and export it"),
        ]
        indexes = [models.Index(fields=["content_type", "object_id", "status"], name="query_on_record")]

    def __str__(self) -> str:
        return f"query {self.pk} on {self.content_type.model} {self.object_id} {self.field}".strip()


class QueryMessage(AppendOnlyModel):
    """One step of a query's conversation (raised, answered, corrected, closed, re-opened): append-only."""

    class Action(models.TextChoices):
        RAISED = "raised", _("raised")
        ANSWERED = "answered", _("answered")
        CORRECTED = "corrected", _("data corrected")
        CLOSED = "closed", _("closed")
        REOPENED = "reopened", _("re-opened")

    query = models.ForeignKey(DataQuery, on_delete=models.PROTECT, related_name="messages")
    action = models.CharField(_("action"), max_length=10, choices=Action.choices)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    at = models.DateTimeField(_("at"), auto_now_add=True)
    text = models.TextField(_("text"), blank=True)
    correction_history_id = models.PositiveBigIntegerField(_("history row of the correction"), null=True, blank=True)

    class Meta:
        ordering = ["at", "pk"]
        verbose_name = _("query message")


class SourceVerification(OnRecord):
    """A monitor verified a form (or some of its fields) against the source documents. A later change of the
    form clears it (``cleared_at`` with the reason), visibly and in its history."""

    fields = models.JSONField(_("fields verified"), default=list, blank=True, help_text=_("Empty: the whole form."))
    verified_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    verified_at = models.DateTimeField(_("verified at"))
    cleared_at = models.DateTimeField(_("cleared at"), null=True, blank=True)
    cleared_reason = models.CharField(_("why cleared"), max_length=300, blank=True)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["-verified_at", "-pk"]
        verbose_name = _("source data verification")
        permissions = [("verify_source", "Verify forms against source documents")]
        indexes = [models.Index(fields=["content_type", "object_id"], name="sdv_on_record")]
        constraints = [  # two monitors verifying one form at the same moment: one wins
            models.UniqueConstraint(
                fields=["content_type", "object_id"],
                condition=models.Q(cleared_at__isnull=True),
                name="one_verification_in_force_per_record",
            )
        ]

    def __str__(self) -> str:
        state = f"cleared {self.cleared_at:%Y-%m-%d}" if self.cleared_at else "in force"
        return f"verified {self.content_type.model} {self.object_id} ({state})"


class Signature(AuditedModel):
    """An investigator's electronic signature of a form, a visit or a whole casebook, with its meaning. A change
    to what it covers invalidates it (``invalidated_at`` with the reason); a new signature is then needed."""

    class Scope(models.TextChoices):
        FORM = "form", _("form")
        VISIT = "visit", _("visit")
        CASEBOOK = "casebook", _("casebook")

    scope = models.CharField(_("signs"), max_length=10, choices=Scope.choices)
    site = models.ForeignKey("trial_site.Site", on_delete=models.PROTECT, related_name="+")
    participant = models.ForeignKey("screening.Participant", on_delete=models.PROTECT, related_name="+")
    visit = models.ForeignKey("visits.Visit", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    object_id = models.PositiveBigIntegerField(null=True, blank=True)
    meaning = models.TextField(_("meaning"))
    signed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # The signer's name as printed at the time of signing (21 CFR Part 11 §11.50): a later change of the account's
    # name does not change the name on past signatures. Empty only for signatures made before it was kept.
    printed_name = models.CharField(_("printed name of the signer"), max_length=301, blank=True)
    signed_at = models.DateTimeField(_("signed at"))
    invalidated_at = models.DateTimeField(_("invalidated at"), null=True, blank=True)
    invalidated_reason = models.CharField(_("why invalidated"), max_length=300, blank=True)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["-signed_at", "-pk"]
        verbose_name = _("signature")
        permissions = [("sign_data", "Sign forms, visits and casebooks")]

    def __str__(self) -> str:
        return f"{self.scope} signature by {self.signed_by_id} at {self.signed_at:%Y-%m-%d %H:%M}"


class DataLock(AuditedModel):
    """A data manager's lock on a form, a visit, a participant's casebook or the whole database: nothing under
    it can be changed by any path until it is unlocked, with a reason."""

    class Scope(models.TextChoices):
        FORM = "form", _("form")
        VISIT = "visit", _("visit")
        CASEBOOK = "casebook", _("casebook")
        DATABASE = "database", _("whole database")

    scope = models.CharField(_("locks"), max_length=10, choices=Scope.choices)
    site = models.ForeignKey("trial_site.Site", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    participant = models.ForeignKey(
        "screening.Participant", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    visit = models.ForeignKey("visits.Visit", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    object_id = models.PositiveBigIntegerField(null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=300)
    locked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    locked_at = models.DateTimeField(_("locked at"))
    unlocked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    unlocked_at = models.DateTimeField(_("unlocked at"), null=True, blank=True)
    unlock_reason = models.CharField(_("why unlocked"), max_length=300, blank=True)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["-locked_at", "-pk"]
        verbose_name = _("data lock")
        permissions = [("lock_data", "Lock and unlock data")]
        indexes = [models.Index(fields=["unlocked_at", "scope"], name="lock_in_force")]

    def __str__(self) -> str:
        return f"{self.scope} lock {self.pk}{' (unlocked)' if self.unlocked_at else ''}"
