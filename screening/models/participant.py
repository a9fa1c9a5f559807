"""The participant: one screening episode of one person at one site."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clinical.dates import age_in_years
from trial_site.audit.base import ClinicalRecord
from trial_site.phone import validate_mobile

MIN_AGE_YEARS = 18
MAX_AGE_YEARS = 100

# The fields that identify a person (``ClinicalRecord.identifying_fields`` of the participant).
IDENTIFYING_FIELDS: tuple[str, ...] = ("initials", "date_of_birth", "mobile_phone", "email")


class Sex(models.TextChoices):
    FEMALE = "F", _("Female")
    MALE = "M", _("Male")


class Language(models.TextChoices):
    BANGLA = "bn", _("Bangla")
    ENGLISH = "en", _("English")


class ReminderChannel(models.TextChoices):
    SMS = "sms", _("SMS")
    EMAIL = "email", _("E-mail")
    BOTH = "both", _("SMS and e-mail")
    NONE = "none", _("No reminders")


initials_validator = RegexValidator(r"^[A-Z]{2,4}$", _("Use 2 to 4 capital letters, e.g. MRK."))


class Participant(ClinicalRecord):
    """A person being screened. Re-screening the same person makes a new episode linked to the first."""

    participant_path = "id"

    screening_number = models.CharField(_("screening number"), max_length=20, unique=True, editable=False)
    episode = models.PositiveSmallIntegerField(_("screening episode"), default=1, editable=False)
    first_episode = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="later_episodes",
        verbose_name=_("first screening of the same person"),
    )
    screening_date = models.DateField(_("screening date"), default=timezone.localdate)
    initials = models.CharField(_("initials"), max_length=4, validators=[initials_validator])
    date_of_birth = models.DateField(_("date of birth"))
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices)
    mobile_phone = models.CharField(
        _("mobile phone"), max_length=16, validators=[validate_mobile], help_text=_("e.g. 01712 345678")
    )
    email = models.EmailField(_("e-mail"), blank=True)
    preferred_language = models.CharField(
        _("preferred language"), max_length=2, choices=Language.choices, default=Language.BANGLA
    )
    reminder_channel = models.CharField(
        _("visit reminders by"), max_length=5, choices=ReminderChannel.choices, default=ReminderChannel.SMS
    )
    reminder_consent = models.BooleanField(_("agrees to receive visit reminders"), default=False)

    identifying_fields = IDENTIFYING_FIELDS

    class Meta:
        ordering = ["site__code", "screening_number"]
        verbose_name = _("participant")
        verbose_name_plural = _("participants")
        constraints = [
            models.UniqueConstraint(fields=["first_episode", "episode"], name="one_participant_per_episode"),
        ]

    def __str__(self) -> str:
        return self.screening_number

    @property
    def age_at_screening(self) -> int:
        return age_in_years(self.date_of_birth, self.screening_date)

    def clean(self) -> None:
        errors: dict[str, str] = {}
        # Today at the participant's site, in its own time zone.
        zone = ZoneInfo(self.site.time_zone) if self.site_id else None
        today = timezone.localdate(timezone.now(), zone)
        if self.screening_date and self.screening_date > today:
            errors["screening_date"] = _("The screening date cannot be in the future.")
        if self.date_of_birth and self.screening_date:
            if self.date_of_birth > today:
                errors["date_of_birth"] = _("The date of birth cannot be in the future.")
            elif self.date_of_birth > self.screening_date:
                errors["date_of_birth"] = _("The date of birth is after the screening date.")
            else:
                age = age_in_years(self.date_of_birth, self.screening_date)
                if not MIN_AGE_YEARS <= age <= MAX_AGE_YEARS:
                    errors["date_of_birth"] = _(
                        "This date of birth gives an age of %(age)s at screening; participants are %(low)s to %(high)s."
                    ) % {"age": age, "low": MIN_AGE_YEARS, "high": MAX_AGE_YEARS}
        if self.reminder_channel in {ReminderChannel.EMAIL, ReminderChannel.BOTH} and not self.email:
            errors["email"] = _("E-mail reminders need an e-mail address.")
        if errors:
            raise ValidationError(errors)


def screening_number_for(site_code: str, number: int) -> str:
    """``DHK-S-0001``: the site's code, S for screening, and the site's running number."""
    return f"{site_code}-S-{number:04d}"
