"""Pure rules for visit reminders: when to send, quiet hours, daily caps, retry backoff, SMS size and the
wording of dates and times in English and Bangla.

Standard library only (no Django, no project imports), so every rule can be unit-tested without a database.
All datetimes passed in must be aware; all datetimes returned are aware and in UTC.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = [
    "BANGLA_DIGITS",
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "ReminderPolicy",
    "SmsSize",
    "bangla_digits",
    "local_day_bounds",
    "next_day_at",
    "quiet_hours_release",
    "reminder_due_times",
    "retry_delay_seconds",
    "sms_size",
    "visit_date_text",
    "visit_time_text",
]


@dataclass(frozen=True)
class ReminderPolicy:
    """When reminders go out. Offsets must be whole days >= 0 and the daily cap at least 1.
    quiet_start == quiet_end means there are no quiet hours."""

    offsets_days: tuple[int, ...] = (3, 1)  # days before the visit date
    send_at: time = time(9, 0)  # local site time
    quiet_start: time = time(21, 0)  # no messages from quiet_start ...
    quiet_end: time = time(8, 0)  # ... until quiet_end (next morning)
    daily_cap: int = 1  # messages per participant per channel per local day

    def __post_init__(self) -> None:
        for offset in self.offsets_days:
            if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
                raise ValueError(f"reminder offsets must be whole days >= 0, got {offset!r}")
        if self.daily_cap < 1:
            raise ValueError(f"daily_cap must be at least 1, got {self.daily_cap!r}")
        for name in ("send_at", "quiet_start", "quiet_end"):
            if getattr(self, name).tzinfo is not None:
                raise ValueError(f"{name} is a local wall-clock time and must be naive")


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got naive {moment!r}")


def _local_at(day: date, at: time, tz: ZoneInfo) -> datetime:
    """`at` local wall-clock time on `day` in tz, as aware UTC. A wall time that does not exist (a DST gap) is
    read with the offset in force before the change (fold=0), i.e. it lands just after the gap."""
    return datetime.combine(day, at.replace(tzinfo=None), tzinfo=tz).astimezone(UTC)


def reminder_due_times(visit_date: date, policy: ReminderPolicy, tz: ZoneInfo, now: datetime) -> dict[int, datetime]:
    """offset -> aware UTC due datetime of the reminders to plan for a visit on visit_date.

    Rule: each offset is due on (visit_date - offset days) at policy.send_at local time in tz. Offsets due
    strictly after `now` are planned at their due time. If none is still in the future but the visit is after
    the local date of `now` in tz, only the smallest offset is planned, due `now` (late beats never). A visit
    today or in the past gets no reminders ({}); so does a policy without offsets.
    """
    _require_aware(now, "now")
    today = now.astimezone(tz).date()
    if visit_date <= today or not policy.offsets_days:
        return {}
    due = {offset: _local_at(visit_date - timedelta(days=offset), policy.send_at, tz) for offset in policy.offsets_days}
    future = {offset: moment for offset, moment in due.items() if moment > now}
    if future:
        return dict(sorted(future.items(), reverse=True))
    return {min(policy.offsets_days): now.astimezone(UTC)}


def quiet_hours_release(moment: datetime, policy: ReminderPolicy, tz: ZoneInfo) -> datetime | None:
    """None if `moment` is outside quiet hours in tz, else the aware UTC datetime when they end.

    Rule: quiet hours are the half-open local interval [quiet_start, quiet_end). When quiet_start > quiet_end
    they span midnight (21:00 is quiet, 20:59:59 is not, 07:59:59 is quiet, 08:00 is not) and a moment after
    quiet_start is released at quiet_end on the next local day, a moment before quiet_end on the same day.
    When quiet_start < quiet_end (e.g. 13:00-14:00) the release is quiet_end the same day. Equal start and end:
    no quiet hours.
    """
    _require_aware(moment, "moment")
    local = moment.astimezone(tz)
    wall = local.time()  # naive
    start, end = policy.quiet_start.replace(tzinfo=None), policy.quiet_end.replace(tzinfo=None)
    if start == end:
        return None
    if start < end:
        if start <= wall < end:
            return _local_at(local.date(), end, tz)
        return None
    if wall >= start:
        return _local_at(local.date() + timedelta(days=1), end, tz)
    if wall < end:
        return _local_at(local.date(), end, tz)
    return None


def next_day_at(moment: datetime, at: time, tz: ZoneInfo) -> datetime:
    """Rule: `at` local time on the local day (in tz) after moment's local day, as aware UTC. Used to hold a
    message that would break the daily cap until the next day."""
    _require_aware(moment, "moment")
    return _local_at(moment.astimezone(tz).date() + timedelta(days=1), at, tz)


def local_day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Rule: [start, end) of the local calendar day in tz as aware UTC datetimes: local midnight of `day` and
    local midnight of the next day. A day with a DST change is 23 or 25 hours long."""
    return _local_at(day, time(0), tz), _local_at(day + timedelta(days=1), time(0), tz)


def retry_delay_seconds(
    retries_done: int, base_seconds: float, rng: random.Random, cap_seconds: float = 3600.0
) -> float:
    """Exponential backoff with equal jitter.

    Rule: ceiling = min(cap_seconds, base_seconds * 2**retries_done); the delay is uniform in
    [ceiling / 2, ceiling]. retries_done must be >= 0, base_seconds and cap_seconds >= 0 (else ValueError).
    """
    if retries_done < 0:
        raise ValueError(f"retries_done must be >= 0, got {retries_done}")
    if base_seconds < 0 or cap_seconds < 0:
        raise ValueError("base_seconds and cap_seconds must be >= 0")
    try:
        raw = math.ldexp(base_seconds, retries_done)
    except OverflowError:
        raw = math.inf
    ceiling = min(cap_seconds, raw)
    return rng.uniform(ceiling / 2, ceiling)


# GSM 03.38 default alphabet in code-point order (0x00-0x7F, without 0x1B, the escape to the extension table).
GSM7_BASIC: frozenset[str] = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each character is sent as ESC + character, 2 septets.
GSM7_EXTENSION: frozenset[str] = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE_SEPTETS, GSM7_MULTI_SEPTETS = 160, 153
UCS2_SINGLE_UNITS, UCS2_MULTI_UNITS = 70, 67


@dataclass(frozen=True)
class SmsSize:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # GSM-7 septets (extension-table characters count 2) or UTF-16 code units
    segments: int  # 0 for an empty text


def _segments(char_units: list[int], single: int, multi: int) -> int:
    """Segments needed for characters of the given unit sizes: one if they fit in `single`, else packed `multi`
    units per segment without splitting a character (an escape pair or a surrogate pair) across segments."""
    total = sum(char_units)
    if total == 0:
        return 0
    if total <= single:
        return 1
    segments, used = 1, 0
    for units in char_units:
        if used + units > multi:
            segments, used = segments + 1, 0
        used += units
    return segments


def sms_size(text: str) -> SmsSize:
    """Size of an SMS under GSM 03.38.

    Rule: if every character is in the GSM-7 default alphabet or its extension table the text is GSM-7: up to
    160 septets in one segment, 153 per segment when concatenated; an extension character (^ { } \\ [ ~ ] | €
    and form feed) takes 2 septets. Otherwise it is UCS-2: up to 70 UTF-16 code units in one segment, 67 per
    segment when concatenated; a character outside the BMP (e.g. an emoji) takes 2 units. A 2-unit character is
    never split across segments, so one that would straddle a boundary starts the next segment (as phones and
    SMS gateways do). An empty text has 0 segments.
    """
    if all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text):
        septets = [2 if char in GSM7_EXTENSION else 1 for char in text]
        return SmsSize("GSM-7", sum(septets), _segments(septets, GSM7_SINGLE_SEPTETS, GSM7_MULTI_SEPTETS))
    code_units = [2 if ord(char) > 0xFFFF else 1 for char in text]
    return SmsSize("UCS-2", sum(code_units), _segments(code_units, UCS2_SINGLE_UNITS, UCS2_MULTI_UNITS))


BANGLA_DIGITS: str = "০১২৩৪৫৬৭৮৯"
_TO_BANGLA_DIGITS = str.maketrans("0123456789", BANGLA_DIGITS)


def bangla_digits(text: str) -> str:
    """Rule: each ASCII digit 0-9 becomes the Bangla digit of the same value; everything else is kept."""
    return text.translate(_TO_BANGLA_DIGITS)


WEEKDAYS_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
WEEKDAYS_BN = ("সোমবার", "মঙ্গলবার", "বুধবার", "বৃহস্পতিবার", "শুক্রবার", "শনিবার", "রবিবার")
MONTHS_BN = (
    "জানুয়ারি",
    "ফেব্রুয়ারি",
    "মার্চ",
    "এপ্রিল",
    "মে",
    "জুন",
    "জুলাই",
    "আগস্ট",
    "সেপ্টেম্বর",
    "অক্টোবর",
    "নভেম্বর",
    "ডিসেম্বর",
)
LANGUAGES = ("en", "bn")


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"reminder language must be one of {LANGUAGES}, got {language!r}")


def visit_date_text(day: date, language: str) -> str:
    """The visit date as written in a reminder (independent of the process locale).

    Rule: "en" -> 'Wed 25 Nov 2026' (abbreviated English weekday and month, day without a leading zero);
    "bn" -> 'বুধবার, ২৫ নভেম্বর ২০২৬' (Bangla weekday, comma, day, month, year, in Bangla digits).
    Any other language -> ValueError.
    """
    _check_language(language)
    if language == "en":
        return f"{WEEKDAYS_EN[day.weekday()]} {day.day} {MONTHS_EN[day.month - 1]} {day.year}"
    day_month_year = f"{day.day} {MONTHS_BN[day.month - 1]} {day.year}"
    return f"{WEEKDAYS_BN[day.weekday()]}, {bangla_digits(day_month_year)}"


def _bangla_period(hour: int) -> str:
    if 4 <= hour < 12:
        return "সকাল"
    if 12 <= hour < 15:
        return "দুপুর"
    if 15 <= hour < 18:
        return "বিকাল"
    if 18 <= hour < 20:
        return "সন্ধ্যা"
    return "রাত"


def visit_time_text(moment_local_time: time, language: str) -> str:
    """The visit time as written in a reminder, on the 12-hour clock (seconds dropped).

    Rule: "en" -> '9:30 am', '12:00 pm' at noon, '12:00 am' at midnight. "bn" -> the time of day then the time in
    Bangla digits, e.g. 'সকাল ৯:৩০': সকাল 04:00-11:59, দুপুর 12:00-14:59, বিকাল 15:00-17:59, সন্ধ্যা 18:00-19:59,
    রাত otherwise. Any other language -> ValueError.
    """
    _check_language(language)
    hour, minute = moment_local_time.hour, moment_local_time.minute
    clock = f"{hour % 12 or 12}:{minute:02d}"
    if language == "en":
        return f"{clock} {'am' if hour < 12 else 'pm'}"
    return f"{_bangla_period(hour)} {bangla_digits(clock)}"
