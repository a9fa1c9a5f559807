"""Visit reminders as rows: one per visit, offset and channel, and the log of every attempt to deliver one.

A reminder is bookkeeping about a message, not clinical data: its life (planned → sending → sent, failed or
cancelled) is in its own fields, and every delivery attempt is an append-only ``DeliveryAttempt`` row, so the
history of a reminder can be read but not rewritten.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from trial_site.audit.base import AppendOnlyModel


class Channel(models.TextChoices):
    SMS = "sms", _("SMS")
    EMAIL = "email", _("E-mail")


class Reminder(models.Model):
    """One reminder of one visit: ``offset_days`` before ``visit_date``, by one channel."""

    class Status(models.TextChoices):
        PLANNED = "planned", pgettext_lazy("reminder status", "planned")
        SENDING = "sending", pgettext_lazy("reminder status", "sending")
        SENT = "sent", pgettext_lazy("reminder status", "sent")
        FAILED = "failed", pgettext_lazy("reminder status", "failed")
        CANCELLED = "cancelled", pgettext_lazy("reminder status", "cancelled")

    site = models.ForeignKey("trial_site.Site", on_delete=models.PROTECT, related_name="+")
    participant = models.ForeignKey(
        "screening.Participant", on_delete=models.PROTECT, related_name="reminders", verbose_name=_("participant")
    )
    visit = models.ForeignKey(
        "visits.Visit", on_delete=models.PROTECT, related_name="reminders", verbose_name=_("visit")
    )
    visit_date = models.DateField(_("visit date"), help_text=_("The planned date the reminder is about."))
    offset_days = models.PositiveSmallIntegerField(_("days before"))
    channel = models.CharField(_("channel"), max_length=5, choices=Channel.choices)
    due_at = models.DateTimeField(_("due"), help_text=_("When it is to be sent (held later by quiet hours)."))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PLANNED)
    created_at = models.DateTimeField(_("planned at"), auto_now_add=True)
    claimed_at = models.DateTimeField(_("handed to a worker at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    failed_at = models.DateTimeField(_("failed at"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    cancel_reason = models.CharField(_("why cancelled"), max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    language = models.CharField(_("language"), max_length=2, blank=True)
    message_text = models.TextField(_("message sent"), blank=True)
    provider_message_id = models.CharField(_("provider's message id"), max_length=100, blank=True)
    provider_status = models.CharField(_("provider's status"), max_length=40, blank=True)
    send_now_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    send_now_at = models.DateTimeField(_("send now asked at"), null=True, blank=True)
    send_now_reason = models.CharField(_("why sent now"), max_length=300, blank=True)

    class Meta:
        ordering = ["due_at", "pk"]
        verbose_name = _("reminder")
        verbose_name_plural = _("reminders")
        permissions = [("send_now", "Send a reminder now"), ("view_delivery_status", "See the delivery backends")]
        constraints = [
            models.UniqueConstraint(
                fields=["visit", "visit_date", "offset_days", "channel"],
                condition=~models.Q(status="cancelled"),
                name="one_live_reminder_per_visit_offset_channel",
            ),
        ]
        indexes = [models.Index(fields=["status", "due_at"], name="reminder_due")]

    def __str__(self) -> str:
        return f"reminder {self.pk}: {self.channel} {self.offset_days} d before {self.visit_date}"

    @property
    def idempotency_key(self) -> str:
        """The provider's idempotency key: one per reminder, the same on every retry."""
        return f"reminder-{self.pk}"


class DeliveryAttempt(AppendOnlyModel):
    """One try to hand a reminder to its backend, whatever came of it (append-only)."""

    reminder = models.ForeignKey(Reminder, on_delete=models.PROTECT, related_name="delivery_attempts")
    backend = models.CharField(_("backend"), max_length=20)
    at = models.DateTimeField(_("at"), auto_now_add=True)
    succeeded = models.BooleanField(_("succeeded"))
    error = models.TextField(_("error"), blank=True)
    provider_message_id = models.CharField(_("provider's message id"), max_length=100, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        verbose_name = _("delivery attempt")
        indexes = [models.Index(fields=["backend", "-at"], name="attempt_backend_at")]

    def __str__(self) -> str:
        return f"{self.backend} {'ok' if self.succeeded else 'failed'} at {self.at:%Y-%m-%d %H:%M}"


class WebhookSignature(models.Model):
    """A signature of the SMS webhook already accepted: the same signed call again is a replay and is refused.
    Kept for twice the validity window (``SMS_WEBHOOK_MAX_AGE_SECONDS``), after which the timestamp alone refuses
    it; older rows are removed as new calls arrive."""

    signature = models.CharField(_("signature"), max_length=64, unique=True)
    received_at = models.DateTimeField(_("received at"), db_index=True)

    class Meta:
        verbose_name = _("SMS webhook signature seen")

    def __str__(self) -> str:
        return f"{self.signature[:12]}… at {self.received_at:%Y-%m-%d %H:%M:%S}"


class WebhookRefusals(models.Model):
    """How many calls to the SMS webhook were refused (wrong signature or secret, stale timestamp, replay) from
    one client address in one minute: counted here, not one access-log row per call; over
    ``SMS_WEBHOOK_REFUSALS_PER_MINUTE`` the address is answered 429 until the minute ends."""

    address = models.CharField(_("client address"), max_length=45)
    minute = models.DateTimeField(_("minute"))
    count = models.PositiveIntegerField(_("refused calls"), default=0)

    class Meta:
        ordering = ["-minute", "address"]
        verbose_name = _("refused SMS webhook calls")
        constraints = [models.UniqueConstraint(fields=["address", "minute"], name="webhook_refusals_per_minute")]
        indexes = [models.Index(fields=["minute"], name="webhook_refusals_minute")]

    def __str__(self) -> str:
        return f"{self.count} from {self.address} at {self.minute:%Y-%m-%d %H:%M}"
