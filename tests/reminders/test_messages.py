"""What a reminder says: the date in the participant's language, the site's name and phone, nothing clinical,
and short enough for one English SMS segment or two Bangla ones."""

from __future__ import annotations

import re
from datetime import date
from itertools import product
from pathlib import Path

import pytest
from django.utils import translation
from django.utils.translation import gettext

from clinical.reminders import sms_size
from reminders.messages import reminder_message
from trial_site.models import Site
from trial_site.protocol import PROTOCOL

PROJECT = Path(__file__).resolve().parents[2]
DEMO_SITE = Site(code="DHK", name="BSMMU Dhaka", name_bn="বিএসএমএমইউ ঢাকা", phone="+8809666700100")
# The longest weekday and month names, in both languages (Wednesday, September; বৃহস্পতিবার, সেপ্টেম্বর).
LONG_DATES = (date(2026, 9, 30), date(2026, 9, 24))

# Words that would tell a reader what the participant has or takes: disease, drugs, arms, the trial itself.
CLINICAL_WORDS = (
    *(arm.drug for arm in PROTOCOL.arms),
    *(f"arm {arm.code}" for arm in PROTOCOL.arms),
    "sclerosis", "scleroderma", "ssc", "rheumat", "trial", "study", "randomi", "placebo", "treatment",
    "স্ক্লেরো", "বারিসিটিনিব", "মেথোট্রেক্সেট", "ট্রায়াল", "গবেষণা", "চিকিৎসা", "রোগ", "ওষুধ",
)  # fmt: skip


def all_messages(site: Site = DEMO_SITE) -> list[tuple[str, str, str]]:
    """(language, channel, text) of every message template, subject and body."""
    rendered = []
    for language, channel, day in product(("en", "bn"), ("sms", "email"), LONG_DATES):
        message = reminder_message(channel=channel, language=language, visit_date=day, site=site)
        rendered += [(language, channel, message.subject), (language, channel, message.body)]
    return [item for item in rendered if item[2]]


def test_the_english_sms_names_the_date_site_and_phone() -> None:
    message = reminder_message(channel="sms", language="en", visit_date=date(2026, 12, 2), site=DEMO_SITE)
    assert message.subject == ""
    assert message.body == (
        "Reminder: your clinic visit at BSMMU Dhaka is on Wed 2 Dec 2026. To change it, call 09666-700100."
    )


def test_the_bangla_sms_is_in_bangla_with_bangla_digits_and_the_sites_bangla_name() -> None:
    message = reminder_message(channel="sms", language="bn", visit_date=date(2026, 12, 2), site=DEMO_SITE)
    assert message.body == (
        "স্মরণ করিয়ে দিচ্ছি: বিএসএমএমইউ ঢাকা-এ আপনার ভিজিট বুধবার, ২ ডিসেম্বর ২০২৬। তারিখ বদলাতে ফোন করুন ০৯৬৬৬-৭০০১০০।"
    )
    assert not re.search(r"[0-9]", message.body)


def test_a_site_without_a_bangla_name_is_named_as_it_is() -> None:
    site = Site(code="CTG", name="Chattogram", phone="+8801712345678")
    assert "Chattogram" in reminder_message(channel="sms", language="bn", visit_date=date(2026, 12, 2), site=site).body


def test_the_email_has_a_subject_and_tells_how_to_stop() -> None:
    en = reminder_message(channel="email", language="en", visit_date=date(2026, 12, 2), site=DEMO_SITE)
    assert en.subject == "Reminder of your clinic visit on Wed 2 Dec 2026"
    assert "call 09666-700100" in en.body and "reply STOP" in en.body
    bn = reminder_message(channel="email", language="bn", visit_date=date(2026, 12, 2), site=DEMO_SITE)
    assert bn.subject.startswith("বুধবার, ২ ডিসেম্বর ২০২৬") and "STOP" in bn.body


@pytest.mark.parametrize("day", LONG_DATES)
def test_an_english_sms_fits_one_gsm7_segment(day: date) -> None:
    size = sms_size(reminder_message(channel="sms", language="en", visit_date=day, site=DEMO_SITE).body)
    assert (size.encoding, size.segments) == ("GSM-7", 1)


@pytest.mark.parametrize("day", LONG_DATES)
def test_a_bangla_sms_fits_two_ucs2_segments(day: date) -> None:
    size = sms_size(reminder_message(channel="sms", language="bn", visit_date=day, site=DEMO_SITE).body)
    assert size.encoding == "UCS-2" and size.segments <= 2


@pytest.mark.parametrize(("language", "channel", "text"), all_messages())
def test_no_message_says_anything_clinical(language: str, channel: str, text: str) -> None:
    lowered = text.lower()
    assert not [word for word in CLINICAL_WORDS if word.lower() in lowered]
    for title in (PROTOCOL.title, PROTOCOL.blinded_title, PROTOCOL.short_title, PROTOCOL.registration):
        assert title.lower() not in lowered


def test_the_message_templates_themselves_hold_no_clinical_word() -> None:
    """Not only today's renderings: the translatable texts in both languages."""
    source = (PROJECT / "reminders" / "messages.py").read_text(encoding="utf-8")
    msgids = re.findall(r'_\(\s*"([^"]+)"', source)
    assert len(msgids) >= 6
    for msgid in msgids:
        with translation.override("bn"):
            bangla = gettext(msgid)
        assert bangla != msgid, f"no Bangla for {msgid!r}"
        for text in (msgid, bangla):
            assert not [word for word in CLINICAL_WORDS if word.lower() in text.lower()], text
