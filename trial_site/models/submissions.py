"""One-time submission keys: a page that creates something carries a key made when it is shown; the first POST
with that key stores it (with what it created) in the same transaction as the creation, and a repeat of that POST,
at the same instant or later, is taken to what the first created instead of creating again."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class SubmissionKey(models.Model):
    key = models.UUIDField(_("key"), unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    path = models.CharField(_("page"), max_length=300)
    result_url = models.CharField(_("result"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("submitted at"), auto_now_add=True)

    class Meta:
        verbose_name = _("submission key")
        verbose_name_plural = _("submission keys")

    def __str__(self) -> str:
        return str(self.key)
