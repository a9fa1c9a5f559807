"""The pure reminder rules: no database, no Django. Expected values are written out by hand (Asia/Dhaka is UTC+6
all year, so 09:00 there is 03:00 UTC); weekdays are checked against datetime, not against the code under test."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from clinical.reminders import (
    BANGLA_DIGITS,
    ReminderPolicy,
    SmsSize,
    bangla_digits,
    local_day_bounds,
    next_day_at,
    quiet_hours_release,
    reminder_due_times,
    retry_delay_seconds,
    sms_size,
    visit_date_text,
    visit_time_text,
)

DHAKA = ZoneInfo("Asia/Dhaka")
LONDON = ZoneInfo("Europe/London")
POLICY = ReminderPolicy()
VISIT = date(2026, 11, 25)  # a Wednesday
DUE_3 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)  # 22 Nov 09:00 in Dhaka
DUE_1 = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)  # 24 Nov 09:00 in Dhaka
TICK = timedelta(microseconds=1)


def dhaka(*args: int) -> datetime:
    return datetime(*args, tzinfo=DHAKA)  # type: ignore[misc]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# --- ReminderPolicy ---------------------------------------------------------------------------------------------


def test_default_policy() -> None:
    assert POLICY.offsets_days == (3, 1)
    assert POLICY.send_at == time(9, 0)
    assert (POLICY.quiet_start, POLICY.quiet_end) == (time(21, 0), time(8, 0))
    assert POLICY.daily_cap == 1


@pytest.mark.parametrize("offsets", [(3, -1), (-1,), (1.5,), (True,)])
def test_policy_rejects_offsets_that_are_not_whole_days_from_zero(offsets: tuple) -> None:
    with pytest.raises(ValueError, match="offsets"):
        ReminderPolicy(offsets_days=offsets)


def test_policy_accepts_offset_zero_and_cap_one_but_not_cap_zero() -> None:
    assert ReminderPolicy(offsets_days=(0,), daily_cap=1).offsets_days == (0,)
    with pytest.raises(ValueError, match="daily_cap"):
        ReminderPolicy(daily_cap=0)


def test_policy_times_must_be_naive_wall_clock_times() -> None:
    with pytest.raises(ValueError, match="send_at"):
        ReminderPolicy(send_at=time(9, 0, tzinfo=UTC))


# --- reminder_due_times -----------------------------------------------------------------------------------------


def test_visit_ten_days_ahead_plans_both_offsets_at_nine_in_dhaka() -> None:
    planned = reminder_due_times(VISIT, POLICY, DHAKA, dhaka(2026, 11, 15, 10, 0))
    assert planned == {3: utc(2026, 11, 22, 3, 0), 1: utc(2026, 11, 24, 3, 0)}
    assert all(moment.tzinfo is UTC for moment in planned.values())
    assert [moment.astimezone(DHAKA).time() for moment in planned.values()] == [time(9, 0), time(9, 0)]


def test_now_may_be_in_any_time_zone() -> None:
    in_utc = reminder_due_times(VISIT, POLICY, DHAKA, utc(2026, 11, 15, 4, 0))
    in_london = reminder_due_times(VISIT, POLICY, DHAKA, utc(2026, 11, 15, 4, 0).astimezone(LONDON))
    assert in_utc == in_london == {3: DUE_3, 1: DUE_1}


def test_just_before_the_three_day_due_time_both_are_planned() -> None:
    assert reminder_due_times(VISIT, POLICY, DHAKA, DUE_3 - TICK) == {3: DUE_3, 1: DUE_1}


def test_at_and_just_after_the_three_day_due_time_only_the_one_day_reminder_is_planned() -> None:
    assert reminder_due_times(VISIT, POLICY, DHAKA, DUE_3) == {1: DUE_1}
    assert reminder_due_times(VISIT, POLICY, DHAKA, DUE_3 + timedelta(seconds=1)) == {1: DUE_1}


def test_just_before_the_one_day_due_time_it_is_planned_at_its_time() -> None:
    assert reminder_due_times(VISIT, POLICY, DHAKA, DUE_1 - TICK) == {1: DUE_1}


def test_visit_tomorrow_with_every_due_time_passed_plans_the_smallest_offset_now() -> None:
    now = dhaka(2026, 11, 24, 10, 0)
    planned = reminder_due_times(VISIT, POLICY, DHAKA, now)
    assert planned == {1: utc(2026, 11, 24, 4, 0)}
    assert planned[1].tzinfo is UTC


def test_late_reminder_uses_the_smallest_offset_whatever_the_order() -> None:
    policy = ReminderPolicy(offsets_days=(2, 7, 4))
    now = dhaka(2026, 11, 23, 12, 0)  # the 2-day reminder was due 23 Nov 09:00
    assert reminder_due_times(VISIT, policy, DHAKA, now) == {2: utc(2026, 11, 23, 6, 0)}


def test_late_reminder_until_the_last_instant_of_the_day_before_the_visit() -> None:
    last_instant = dhaka(2026, 11, 24, 23, 59, 59, 999999)
    assert reminder_due_times(VISIT, POLICY, DHAKA, last_instant) == {1: last_instant.astimezone(UTC)}


@pytest.mark.parametrize(
    "now",
    [
        dhaka(2026, 11, 25, 0, 0),  # the visit day has begun in Dhaka
        utc(2026, 11, 24, 18, 0),  # the same instant: still 24 Nov in UTC, but 25 Nov in Dhaka
        dhaka(2026, 11, 25, 8, 0),
        dhaka(2026, 11, 26, 9, 0),  # visit in the past
    ],
)
def test_visit_today_or_past_gets_no_reminders(now: datetime) -> None:
    assert reminder_due_times(VISIT, POLICY, DHAKA, now) == {}


def test_the_local_date_of_now_decides_not_the_utc_date() -> None:
    # 17:59:59 UTC on 24 Nov is 23:59:59 in Dhaka: the visit is still tomorrow there.
    now = utc(2026, 11, 24, 17, 59, 59)
    assert reminder_due_times(VISIT, POLICY, DHAKA, now) == {1: now}


def test_offset_zero_is_due_on_the_visit_day_itself() -> None:
    policy = ReminderPolicy(offsets_days=(1, 0), send_at=time(7, 30))
    planned = reminder_due_times(VISIT, policy, DHAKA, dhaka(2026, 11, 24, 8, 0))
    assert planned == {0: utc(2026, 11, 25, 1, 30)}


def test_no_offsets_no_reminders() -> None:
    assert reminder_due_times(VISIT, ReminderPolicy(offsets_days=()), DHAKA, dhaka(2026, 11, 1, 9, 0)) == {}


def test_due_times_follow_local_wall_clock_across_a_dst_change() -> None:
    # London: 27 Mar 2026 is GMT (UTC+0), 30 Mar is BST (UTC+1); clocks change on 29 Mar.
    planned = reminder_due_times(date(2026, 3, 31), POLICY, LONDON, utc(2026, 3, 20, 12, 0))
    assert planned == {3: utc(2026, 3, 28, 9, 0), 1: utc(2026, 3, 30, 8, 0)}


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        reminder_due_times(VISIT, POLICY, DHAKA, datetime(2026, 11, 15, 10, 0))


# --- quiet_hours_release ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "release"),
    [
        (dhaka(2026, 11, 24, 20, 59, 59), None),
        (dhaka(2026, 11, 24, 21, 0), utc(2026, 11, 25, 2, 0)),
        (dhaka(2026, 11, 24, 21, 30), utc(2026, 11, 25, 2, 0)),  # before midnight: next day 08:00
        (dhaka(2026, 11, 24, 23, 59, 59, 999999), utc(2026, 11, 25, 2, 0)),
        (dhaka(2026, 11, 25, 0, 0), utc(2026, 11, 25, 2, 0)),
        (dhaka(2026, 11, 25, 2, 0), utc(2026, 11, 25, 2, 0)),  # after midnight: same day 08:00
        (dhaka(2026, 11, 25, 7, 59, 59), utc(2026, 11, 25, 2, 0)),
        (dhaka(2026, 11, 25, 8, 0), None),
        (dhaka(2026, 11, 25, 12, 0), None),
    ],
)
def test_quiet_hours_boundaries_in_dhaka(moment: datetime, release: datetime | None) -> None:
    assert quiet_hours_release(moment, POLICY, DHAKA) == release


@pytest.mark.parametrize(
    ("moment", "release"),
    [
        (utc(2026, 11, 24, 14, 59, 59), None),  # 20:59:59 in Dhaka
        (utc(2026, 11, 24, 15, 0), utc(2026, 11, 25, 2, 0)),  # 21:00 in Dhaka
        (utc(2026, 11, 24, 15, 30), utc(2026, 11, 25, 2, 0)),  # 21:30 in Dhaka
        (utc(2026, 11, 24, 20, 0), utc(2026, 11, 25, 2, 0)),  # 02:00 on 25 Nov in Dhaka, 24 Nov in UTC
        (utc(2026, 11, 25, 1, 59, 59), utc(2026, 11, 25, 2, 0)),  # 07:59:59 in Dhaka
        (utc(2026, 11, 25, 2, 0), None),  # 08:00 in Dhaka
    ],
)
def test_quiet_hours_with_moment_given_in_utc(moment: datetime, release: datetime | None) -> None:
    assert quiet_hours_release(moment, POLICY, DHAKA) == release


def test_release_is_utc_aware() -> None:
    release = quiet_hours_release(dhaka(2026, 11, 24, 22, 0), POLICY, DHAKA)
    assert release is not None
    assert release.tzinfo is UTC


@pytest.mark.parametrize(
    ("local_time", "release"),
    [
        (time(12, 59, 59), None),
        (time(13, 0), utc(2026, 11, 24, 8, 0)),  # 14:00 in Dhaka the same day
        (time(13, 59, 59), utc(2026, 11, 24, 8, 0)),
        (time(14, 0), None),
        (time(23, 0), None),
        (time(1, 0), None),
    ],
)
def test_quiet_hours_within_one_day(local_time: time, release: datetime | None) -> None:
    policy = ReminderPolicy(quiet_start=time(13, 0), quiet_end=time(14, 0))
    moment = datetime.combine(date(2026, 11, 24), local_time, tzinfo=DHAKA)
    assert quiet_hours_release(moment, policy, DHAKA) == release


def test_equal_start_and_end_means_no_quiet_hours() -> None:
    policy = ReminderPolicy(quiet_start=time(8, 0), quiet_end=time(8, 0))
    assert quiet_hours_release(dhaka(2026, 11, 24, 8, 0), policy, DHAKA) is None
    assert quiet_hours_release(dhaka(2026, 11, 24, 23, 0), policy, DHAKA) is None


def test_release_across_a_dst_change_is_at_local_quiet_end() -> None:
    # 21:30 GMT on 28 Mar 2026; by 08:00 next morning London is on BST, so the release is 07:00 UTC.
    assert quiet_hours_release(utc(2026, 3, 28, 21, 30), POLICY, LONDON) == utc(2026, 3, 29, 7, 0)


def test_quiet_hours_refuse_naive_moment() -> None:
    with pytest.raises(ValueError, match="aware"):
        quiet_hours_release(datetime(2026, 11, 24, 22, 0), POLICY, DHAKA)


# --- next_day_at ------------------------------------------------------------------------------------------------


def test_next_day_at_is_the_following_local_day() -> None:
    assert next_day_at(dhaka(2026, 11, 24, 0, 0), time(9, 0), DHAKA) == utc(2026, 11, 25, 3, 0)
    assert next_day_at(dhaka(2026, 11, 24, 23, 59, 59), time(9, 0), DHAKA) == utc(2026, 11, 25, 3, 0)


def test_next_day_at_uses_the_local_day_of_a_utc_moment() -> None:
    # 17:59 UTC on 24 Nov is still 24 Nov in Dhaka; 18:00 UTC is already 25 Nov there.
    assert next_day_at(utc(2026, 11, 24, 17, 59), time(9, 0), DHAKA) == utc(2026, 11, 25, 3, 0)
    assert next_day_at(utc(2026, 11, 24, 18, 0), time(9, 0), DHAKA) == utc(2026, 11, 26, 3, 0)


def test_next_day_at_crosses_year_and_leap_day() -> None:
    assert next_day_at(dhaka(2026, 12, 31, 15, 0), time(8, 0), DHAKA) == utc(2027, 1, 1, 2, 0)
    assert next_day_at(dhaka(2028, 2, 28, 15, 0), time(8, 0), DHAKA) == utc(2028, 2, 29, 2, 0)
    assert next_day_at(dhaka(2027, 2, 28, 15, 0), time(8, 0), DHAKA) == utc(2027, 3, 1, 2, 0)


def test_next_day_at_is_utc_aware_and_refuses_naive() -> None:
    assert next_day_at(dhaka(2026, 11, 24, 10, 0), time(9, 0), DHAKA).tzinfo is UTC
    with pytest.raises(ValueError, match="aware"):
        next_day_at(datetime(2026, 11, 24, 10, 0), time(9, 0), DHAKA)


# --- local_day_bounds -------------------------------------------------------------------------------------------


def test_local_day_bounds_in_dhaka() -> None:
    start, end = local_day_bounds(VISIT, DHAKA)
    assert (start, end) == (utc(2026, 11, 24, 18, 0), utc(2026, 11, 25, 18, 0))
    assert start.tzinfo is UTC and end.tzinfo is UTC
    # half-open: the start and the last microsecond are in the day, the end is the next day
    assert start.astimezone(DHAKA).date() == VISIT
    assert (end - TICK).astimezone(DHAKA).date() == VISIT
    assert end.astimezone(DHAKA).date() == VISIT + timedelta(days=1)
    assert (start - TICK).astimezone(DHAKA).date() == VISIT - timedelta(days=1)


@pytest.mark.parametrize(
    ("day", "start", "end"),
    [
        (date(2026, 3, 29), utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 23, 0)),  # 23-hour day
        (date(2026, 10, 25), utc(2026, 10, 24, 23, 0), utc(2026, 10, 26, 0, 0)),  # 25-hour day
    ],
)
def test_local_day_bounds_on_dst_days(day: date, start: datetime, end: datetime) -> None:
    assert local_day_bounds(day, LONDON) == (start, end)


def test_local_day_bounds_when_midnight_does_not_exist() -> None:
    # São Paulo, 4 Nov 2018: clocks jumped from 00:00 (UTC-3) to 01:00 (UTC-2); the day began at 03:00 UTC.
    start, end = local_day_bounds(date(2018, 11, 4), ZoneInfo("America/Sao_Paulo"))
    assert (start, end) == (utc(2018, 11, 4, 3, 0), utc(2018, 11, 5, 2, 0))
    assert end - start == timedelta(hours=23)


# --- retry_delay_seconds ----------------------------------------------------------------------------------------


def seeded(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 - backoff jitter, not security


class EdgeRandom(random.Random):
    """Returns one end of the range asked for, to test the bounds exactly."""

    def __init__(self, end: str) -> None:
        super().__init__(0)
        self.end = end
        self.asked: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.asked.append((a, b))
        return a if self.end == "low" else b


@pytest.mark.parametrize(
    ("retries_done", "low", "high"),
    [(0, 15.0, 30.0), (1, 30.0, 60.0), (2, 60.0, 120.0), (6, 960.0, 1920.0), (7, 1800.0, 3600.0), (50, 1800.0, 3600.0)],
)
def test_retry_delay_range_is_half_ceiling_to_ceiling(retries_done: int, low: float, high: float) -> None:
    lowest, highest = EdgeRandom("low"), EdgeRandom("high")
    assert retry_delay_seconds(retries_done, 30.0, lowest) == low
    assert retry_delay_seconds(retries_done, 30.0, highest) == high
    assert lowest.asked == highest.asked == [(low, high)]


@pytest.mark.parametrize("retries_done", range(10))
def test_retry_delay_within_bounds_for_many_seeds(retries_done: int) -> None:
    ceiling = min(600.0, 10.0 * 2**retries_done)
    delays = [retry_delay_seconds(retries_done, 10.0, seeded(seed), cap_seconds=600.0) for seed in range(300)]
    assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
    # jittered, not constant: both the lower and the upper fifth of the range are hit
    assert any(delay < ceiling * 0.6 for delay in delays)
    assert any(delay > ceiling * 0.9 for delay in delays)


def test_retry_delays_grow_until_the_cap() -> None:
    for seed in range(100):
        delays = [retry_delay_seconds(n, 5.0, seeded(seed * 31 + n)) for n in range(12)]
        # uncapped, the lowest delay after n+1 retries equals the highest after n, so delays never shrink
        assert all(earlier <= later for earlier, later in itertools.pairwise(delays[:10]))
        assert max(delays) <= 3600.0
        assert delays[-1] >= 1800.0  # 5 * 2**11 = 10240 -> capped at 3600


def test_retry_delay_is_reproducible_with_a_seeded_rng() -> None:
    assert retry_delay_seconds(3, 30.0, seeded(42)) == retry_delay_seconds(3, 30.0, seeded(42))


def test_retry_delay_with_huge_retry_count_is_capped_not_an_overflow() -> None:
    assert 1800.0 <= retry_delay_seconds(100_000, 30.0, seeded(1)) <= 3600.0


def test_retry_delay_refuses_negative_retries() -> None:
    with pytest.raises(ValueError, match="retries_done"):
        retry_delay_seconds(-1, 30.0, seeded(1))
    assert 15.0 <= retry_delay_seconds(0, 30.0, seeded(1)) <= 30.0


def test_retry_delay_refuses_negative_base_or_cap() -> None:
    with pytest.raises(ValueError):
        retry_delay_seconds(1, -1.0, seeded(1))
    with pytest.raises(ValueError):
        retry_delay_seconds(1, 1.0, seeded(1), cap_seconds=-1.0)


# --- sms_size ---------------------------------------------------------------------------------------------------

BASIC_SPECIALS = "@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉÄÖÑÜ§¿äöñüà"
BASIC_ASCII = " \n\r0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" + "!\"#¤%&'()*+,-./:;<=>?¡"
EXTENSION = "^{}\\[~]|€\f"


def test_empty_text_has_no_segments() -> None:
    assert sms_size("") == SmsSize("GSM-7", 0, 0)


@pytest.mark.parametrize(("length", "segments"), [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)])
def test_gsm7_segments(length: int, segments: int) -> None:
    assert sms_size("a" * length) == SmsSize("GSM-7", length, segments)


def test_every_basic_gsm7_character_is_one_septet() -> None:
    text = BASIC_SPECIALS + BASIC_ASCII
    assert len(set(text)) == 127  # the 128 codes of the default alphabet less the escape
    assert sms_size(text) == SmsSize("GSM-7", 127, 1)


@pytest.mark.parametrize("char", list(EXTENSION))
def test_each_extension_character_is_two_septets(char: str) -> None:
    assert sms_size(char) == SmsSize("GSM-7", 2, 1)


def test_euro_counts_two_septets_at_the_single_segment_boundary() -> None:
    assert sms_size("a" * 158 + "€") == SmsSize("GSM-7", 160, 1)
    assert sms_size("a" * 159 + "€") == SmsSize("GSM-7", 161, 2)


def test_an_extension_character_is_not_split_across_segments() -> None:
    # 152 + 2 + 151 = 305 septets: the € starts segment 2, which then holds 153 septets
    assert sms_size("a" * 152 + "€" + "a" * 151) == SmsSize("GSM-7", 305, 2)
    # one more septet would need 154 in segment 2, so a third segment
    assert sms_size("a" * 152 + "€" + "a" * 152) == SmsSize("GSM-7", 306, 3)
    # the same 306 septets with the € wholly inside segment 1 fit in two
    assert sms_size("€" + "a" * 304) == SmsSize("GSM-7", 306, 2)


@pytest.mark.parametrize("char", ["á", "ç", "`", "ক", "“", "\t"])
def test_one_character_outside_gsm7_makes_the_whole_text_ucs2(char: str) -> None:
    assert sms_size("a" * 100 + char) == SmsSize("UCS-2", 101, 2)
    assert sms_size("a" * 69 + char) == SmsSize("UCS-2", 70, 1)


def test_extension_characters_are_one_unit_in_ucs2() -> None:
    assert sms_size("ক€{") == SmsSize("UCS-2", 3, 1)


@pytest.mark.parametrize(("length", "segments"), [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)])
def test_bangla_segments(length: int, segments: int) -> None:
    assert sms_size("ক" * length) == SmsSize("UCS-2", length, segments)


def test_bangla_reminder_text_is_ucs2() -> None:
    text = "আপনার ভিজিট বুধবার, ২৫ নভেম্বর ২০২৬"
    assert sms_size(text) == SmsSize("UCS-2", len(text), 1)


def test_an_emoji_is_two_utf16_units() -> None:
    assert sms_size("😀") == SmsSize("UCS-2", 2, 1)
    assert sms_size("a😀") == SmsSize("UCS-2", 3, 1)
    assert sms_size("ক" * 68 + "😀") == SmsSize("UCS-2", 70, 1)
    assert sms_size("ক" * 69 + "😀") == SmsSize("UCS-2", 71, 2)


def test_a_surrogate_pair_is_not_split_across_segments() -> None:
    assert sms_size("ক" * 65 + "😀" + "ক" * 67) == SmsSize("UCS-2", 134, 2)
    assert sms_size("ক" * 66 + "😀" + "ক" * 66) == SmsSize("UCS-2", 134, 3)


# --- bangla_digits ----------------------------------------------------------------------------------------------


def test_bangla_digits_replaces_each_ascii_digit() -> None:
    assert bangla_digits("0123456789") == "০১২৩৪৫৬৭৮৯" == BANGLA_DIGITS
    assert bangla_digits("Visit 25/11/2026 at 9:30") == "Visit ২৫/১১/২০২৬ at ৯:৩০"


def test_bangla_digits_leaves_everything_else_alone() -> None:
    assert bangla_digits("") == ""
    assert bangla_digits("no digits, ক") == "no digits, ক"
    assert bangla_digits("২০২৬") == "২০২৬"
    assert bangla_digits("٣ ３") == "٣ ３"  # other scripts' digits are not ASCII digits


# --- visit_date_text --------------------------------------------------------------------------------------------


def test_visit_date_text_examples() -> None:
    assert VISIT.weekday() == 2  # Wednesday, checked independently of the code under test
    assert visit_date_text(VISIT, "en") == "Wed 25 Nov 2026"
    assert visit_date_text(VISIT, "bn") == "বুধবার, ২৫ নভেম্বর ২০২৬"


def test_visit_date_text_day_without_leading_zero() -> None:
    assert date(2026, 1, 5).weekday() == 0
    assert visit_date_text(date(2026, 1, 5), "en") == "Mon 5 Jan 2026"
    assert visit_date_text(date(2026, 1, 5), "bn") == "সোমবার, ৫ জানুয়ারি ২০২৬"


def test_visit_date_text_leap_day() -> None:
    leap_day = date(2028, 2, 29)
    assert leap_day.weekday() == 1  # Tuesday
    assert visit_date_text(leap_day, "en") == "Tue 29 Feb 2028"
    assert visit_date_text(leap_day, "bn") == "মঙ্গলবার, ২৯ ফেব্রুয়ারি ২০২৮"


def test_visit_date_text_every_weekday() -> None:
    english = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    bangla = ["সোমবার", "মঙ্গলবার", "বুধবার", "বৃহস্পতিবার", "শুক্রবার", "শনিবার", "রবিবার"]
    monday = date(2026, 11, 23)
    assert monday.isoweekday() == 1
    for index in range(7):
        day = monday + timedelta(days=index)
        assert visit_date_text(day, "en") == f"{english[index]} {day.day} Nov 2026"
        assert visit_date_text(day, "bn").startswith(bangla[index] + ", ")


def test_visit_date_text_every_month() -> None:
    english = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    bangla = [
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
    ]
    for month in range(1, 13):
        day = date(2027, month, 10)
        assert visit_date_text(day, "en").endswith(f" 10 {english[month - 1]} 2027")
        assert visit_date_text(day, "bn").endswith(f", ১০ {bangla[month - 1]} ২০২৭")


@pytest.mark.parametrize("language", ["fr", "EN", "bn-BD", ""])
def test_visit_date_text_refuses_other_languages(language: str) -> None:
    with pytest.raises(ValueError, match="language"):
        visit_date_text(VISIT, language)


# --- visit_time_text --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "english", "bangla"),
    [
        (time(0, 0), "12:00 am", "রাত ১২:০০"),
        (time(3, 59), "3:59 am", "রাত ৩:৫৯"),
        (time(4, 0), "4:00 am", "সকাল ৪:০০"),
        (time(9, 30), "9:30 am", "সকাল ৯:৩০"),
        (time(11, 59, 59), "11:59 am", "সকাল ১১:৫৯"),
        (time(12, 0), "12:00 pm", "দুপুর ১২:০০"),
        (time(14, 59), "2:59 pm", "দুপুর ২:৫৯"),
        (time(15, 0), "3:00 pm", "বিকাল ৩:০০"),
        (time(17, 59), "5:59 pm", "বিকাল ৫:৫৯"),
        (time(18, 0), "6:00 pm", "সন্ধ্যা ৬:০০"),
        (time(19, 59), "7:59 pm", "সন্ধ্যা ৭:৫৯"),
        (time(20, 0), "8:00 pm", "রাত ৮:০০"),
        (time(23, 5), "11:05 pm", "রাত ১১:০৫"),
    ],
)
def test_visit_time_text(moment: time, english: str, bangla: str) -> None:
    assert visit_time_text(moment, "en") == english
    assert visit_time_text(moment, "bn") == bangla


def test_visit_time_text_refuses_other_languages() -> None:
    with pytest.raises(ValueError, match="language"):
        visit_time_text(time(9, 30), "de")
