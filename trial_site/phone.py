"""Mobile phone numbers: validated and stored in E.164, Bangladesh numbers by default."""

from __future__ import annotations

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

DEFAULT_REGION = "BD"
MOBILE_TYPES = frozenset({phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE})
EXAMPLES = {"local": "01712 345678", "international": "+8801712345678"}


def mobile_e164(raw: str, *, region: str = DEFAULT_REGION) -> str:
    """``raw`` as an E.164 mobile number (``+8801712345678``); ValidationError if it cannot be a mobile number."""
    message = _("Enter a mobile phone number, for example %(local)s or %(international)s.")
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as error:
        raise ValidationError(message, code="invalid_phone", params=EXAMPLES) from error
    if not phonenumbers.is_valid_number(number) or phonenumbers.number_type(number) not in MOBILE_TYPES:
        raise ValidationError(message, code="invalid_phone", params=EXAMPLES)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def validate_mobile(value: str) -> None:
    """Model-field validator: the stored value must already be a valid E.164 mobile number."""
    if mobile_e164(value) != value:
        raise ValidationError(_("Store the number in international form, e.g. +8801712345678."), code="not_e164")
