"""What a reminder says, in the participant's language: the visit date, the site's name and phone, and nothing
clinical (no diagnosis, drug, arm or trial title), so a message read by someone else gives nothing away.

The texts are Django translations (``locale/bn``); dates and digits are written by ``clinical.reminders``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import phonenumbers
from django.utils import translation
from django.utils.translation import gettext as _

from clinical.reminders import bangla_digits, visit_date_text
from reminders.models import Channel
from trial_site.models import Site


@dataclass(frozen=True)
class Message:
    subject: str  # empty for an SMS
    body: str


def site_phone_text(phone: str, language: str) -> str:
    """The site's phone as people dial it at home (``09666-700100``), in Bangla digits for Bangla."""
    try:
        national = phonenumbers.format_number(phonenumbers.parse(phone, "BD"), phonenumbers.PhoneNumberFormat.NATIONAL)
    except phonenumbers.NumberParseException:
        national = phone
    return bangla_digits(national) if language == "bn" else national


def site_name_text(site: Site, language: str) -> str:
    return site.name_bn if language == "bn" and site.name_bn else site.name


def reminder_message(*, channel: str, language: str, visit_date: date, site: Site) -> Message:
    """The reminder of a visit on ``visit_date`` at ``site``, by SMS or e-mail, in ``language`` ("bn" or "en")."""
    values = {
        "site": site_name_text(site, language),
        "date": visit_date_text(visit_date, language),
        "phone": site_phone_text(site.phone, language),
    }
    with translation.override(language):
        if channel == Channel.SMS:
            text = _("Reminder: your clinic visit at %(site)s is on %(date)s. To change it, call %(phone)s.")
            return Message("", text % values)
        subject = _("Reminder of your clinic visit on %(date)s") % values
        body = "\n\n".join(
            (
                _("Dear participant,"),
                _("This is a reminder of your next clinic visit at %(site)s on %(date)s.") % values,
                _("If you cannot come that day, please call %(phone)s to arrange another day.") % values,
                _("To stop these reminders, tell the clinic staff or reply STOP to our SMS."),
                values["site"],
            )
        )
        return Message(subject, body)
