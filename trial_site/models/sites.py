"""Sites of the trial and the staff who work at them, each membership with one role."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from trial_site.audit.base import AuditedModel
from trial_site.audit.history import AuditedHistoricalRecords
from trial_site.roles import Role

site_code_validator = RegexValidator(
    r"^[A-Z][A-Z0-9]{1,9}$", _("Use 2 to 10 capital letters or digits, starting with a letter (e.g. DHK).")
)
phone_validator = RegexValidator(
    r"^\+[1-9][0-9]{7,14}$", _("Enter the number in international form, e.g. +8801712345678.")
)


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("%(value)s is not a known time zone (e.g. Asia/Dhaka)."), params={"value": value})


class Site(AuditedModel):
    """A place where participants are enrolled and seen."""

    code = models.CharField(_("code"), max_length=10, unique=True, validators=[site_code_validator])
    name = models.CharField(_("name"), max_length=200)
    name_bn = models.CharField(
        _("name in Bangla"), max_length=200, blank=True, help_text=_("Used in Bangla reminders; empty: the name.")
    )
    country = models.CharField(_("country"), max_length=100)
    time_zone = models.CharField(_("time zone"), max_length=64, default="Asia/Dhaka", validators=[validate_time_zone])
    phone = models.CharField(
        _("phone shown to patients"),
        max_length=16,
        validators=[phone_validator],
        help_text=_("Printed in visit reminders so patients can call the site."),
    )
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["code"]
        verbose_name = _("site")
        verbose_name_plural = _("sites")

    def __str__(self) -> str:
        return f"{self.code} — {self.name}"


class StaffMembership(AuditedModel):
    """One user working at one site in one role. A user may hold several roles, at several sites."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="memberships", verbose_name=_("user")
    )
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="memberships", verbose_name=_("site"))
    role = models.CharField(_("role"), max_length=32, choices=Role.choices)
    is_active = models.BooleanField(_("active"), default=True)
    granted_at = models.DateTimeField(_("granted at"), auto_now_add=True)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["site__code", "role", "user__username"]
        verbose_name = _("staff membership")
        verbose_name_plural = _("staff memberships")
        constraints = [
            models.UniqueConstraint(fields=["user", "site", "role"], name="one_membership_per_user_site_role"),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} at {self.site.code}"
