"""The transactional outbox: what must leave the system after a write (an e-mail, an SMS, work for the worker) is
written as a row in the write's own transaction, and the worker delivers it with retries. A process that dies
after the commit delays the message; it never loses it, and a rolled-back write never sends it."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class OutboxMessage(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("waiting to be delivered")
        DELIVERED = "delivered", _("delivered")
        FAILED = "failed", _("failed (no more retries)")

    handler = models.CharField(_("handler"), max_length=200)  # a dotted path listed in settings.OUTBOX_HANDLERS
    arguments = models.JSONField(_("arguments"), default=list)
    # One message per purpose: a second row with the same key is not written (an SAE report's e-mail, say).
    key = models.CharField(_("key"), max_length=200, unique=True, null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    due_at = models.DateTimeField(_("due at"), db_index=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("outbox message")
        verbose_name_plural = _("outbox messages")
        indexes = [models.Index(fields=["due_at"], name="outbox_pending_due", condition=models.Q(status="pending"))]

    def __str__(self) -> str:
        return f"{self.handler}{tuple(self.arguments)} ({self.status})"
