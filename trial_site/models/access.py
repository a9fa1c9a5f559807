"""The access log: logins, logouts, failures, lockouts, refused access; later exports and unblinding."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from trial_site.audit.base import AppendOnlyModel


class AccessEvent(AppendOnlyModel):
    class Kind(models.TextChoices):
        LOGIN = "login", _("Login")
        LOGOUT = "logout", _("Logout")
        LOGIN_FAILED = "login_failed", _("Failed login")
        LOCKOUT = "lockout", _("Account locked out")
        TWO_FACTOR_FAILED = "two_factor_failed", _("Failed two-factor code")
        TWO_FACTOR_ENROLLED = "two_factor_enrolled", _("Two-factor device enrolled")
        ACCESS_DENIED = "access_denied", _("Access refused")
        UNBLINDING = "unblinding", _("Emergency unblinding")
        SIGNATURE_FAILED = "signature_failed", _("Failed signature (wrong password or code)")
        EXPORT = "export", _("Data export")
        PASSWORD_REENTRY_FAILED = "reentry_failed", _("Wrong password re-entered (signing, unblinding, …)")

    at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)
    kind = models.CharField(_("event"), max_length=32, choices=Kind.choices, db_index=True)
    username = models.CharField(_("username"), max_length=150, blank=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("user"),
    )
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("browser"), max_length=300, blank=True)
    path = models.CharField(_("page"), max_length=500, blank=True)
    detail = models.CharField(_("detail"), max_length=500, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("access event")
        verbose_name_plural = _("access log")

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.get_kind_display()} {self.username}"
