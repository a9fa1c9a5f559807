from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from itertools import product
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinical.safety import (
    BARICITINIB_RULES,
    LAB_TESTS,
    METHOTREXATE_RULES,
    SAE_REPORTING_HOURS,
    FiredRule,
    LabRule,
    Relationship,
    Seriousness,
    SusarClock,
    is_related,
    is_serious,
    lab_rules_fired,
    patient_years,
    rate_per_100_patient_years,
    sae_deadline,
    sae_overdue,
    sae_submitted_late,
    sae_time_left,
    susar_clock,
)

DHAKA = ZoneInfo("Asia/Dhaka")  # UTC+6, no daylight saving
LONDON = ZoneInfo("Europe/London")  # clocks forward 2026-03-29 01:00 GMT, back 2026-10-25 02:00 BST


# Seriousness and relationship -----------------------------------------------------------------------------------


@pytest.mark.parametrize("criterion", list(Seriousness))
def test_every_seriousness_criterion_alone_makes_an_event_serious(criterion: Seriousness) -> None:
    assert is_serious([criterion])
    assert is_serious({criterion})
    assert is_serious([criterion.value])  # as stored in the database


def test_no_criterion_ticked_is_not_serious() -> None:
    assert not is_serious([])
    assert not is_serious(())
    assert not is_serious(iter(()))


def test_several_criteria_are_serious_and_the_six_ich_criteria_are_all_there() -> None:
    assert is_serious([Seriousness.DEATH, Seriousness.HOSPITALISATION])
    assert {criterion.value for criterion in Seriousness} == {
        "death",
        "life_threatening",
        "hospitalisation",
        "disability",
        "congenital_anomaly",
        "important_medical_event",
    }


@pytest.mark.parametrize("criteria", [["deceased"], ["death", "hospitalized"], "death"])
def test_an_unknown_criterion_is_refused_not_counted(criteria: list[str] | str) -> None:
    with pytest.raises(ValueError):
        is_serious(criteria)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("relationship", "related"),
    [
        (Relationship.NOT_RELATED, False),
        (Relationship.UNLIKELY, False),
        (Relationship.POSSIBLE, True),
        (Relationship.PROBABLE, True),
        (Relationship.DEFINITE, True),
    ],
)
def test_possible_probable_and_definite_are_related(relationship: Relationship, related: bool) -> None:
    assert is_related(relationship) is related
    assert is_related(relationship.value) is related  # type: ignore[arg-type]


def test_an_unknown_relationship_is_refused() -> None:
    with pytest.raises(ValueError):
        is_related("maybe")  # type: ignore[arg-type]


# SAE deadline: 24 elapsed hours -----------------------------------------------------------------------------------


def test_sae_deadline_is_24_hours_later_in_the_sites_zone() -> None:
    learned = datetime(2026, 3, 10, 23, 30, tzinfo=DHAKA)
    deadline = sae_deadline(learned)
    assert SAE_REPORTING_HOURS == 24
    assert deadline == datetime(2026, 3, 11, 23, 30, tzinfo=DHAKA)
    assert (deadline.year, deadline.month, deadline.day, deadline.hour, deadline.minute) == (2026, 3, 11, 23, 30)
    assert deadline.tzinfo is DHAKA
    assert deadline.utcoffset() == timedelta(hours=6)


def test_sae_deadline_counts_elapsed_hours_across_the_clocks_going_forward() -> None:
    learned = datetime(2026, 3, 28, 12, 0, tzinfo=LONDON)  # GMT, UTC+0
    deadline = sae_deadline(learned)
    assert deadline.tzinfo is LONDON
    assert (deadline.day, deadline.hour, deadline.minute) == (29, 13, 0)  # BST, UTC+1
    assert deadline.utcoffset() == timedelta(hours=1)
    assert deadline.astimezone(UTC) - learned.astimezone(UTC) == timedelta(hours=24)
    assert sae_time_left(deadline, learned) == timedelta(hours=24)


def test_sae_deadline_counts_elapsed_hours_across_the_clocks_going_back() -> None:
    learned = datetime(2026, 10, 24, 12, 0, tzinfo=LONDON)  # BST
    deadline = sae_deadline(learned)
    assert (deadline.day, deadline.hour) == (25, 11)  # GMT
    assert deadline.astimezone(UTC) == datetime(2026, 10, 25, 11, 0, tzinfo=UTC)


def test_sae_deadline_keeps_a_fixed_offset_zone() -> None:
    plus_six = timezone(timedelta(hours=6))
    deadline = sae_deadline(datetime(2026, 12, 31, 18, 0, tzinfo=plus_six))
    assert deadline == datetime(2027, 1, 1, 18, 0, tzinfo=plus_six)
    assert deadline.tzinfo is plus_six


def test_a_time_without_a_zone_is_refused() -> None:
    naive = datetime(2026, 3, 10, 23, 30)
    aware = datetime(2026, 3, 10, 23, 30, tzinfo=DHAKA)
    with pytest.raises(ValueError, match="time zone"):
        sae_deadline(naive)
    with pytest.raises(ValueError, match="time zone"):
        sae_time_left(aware, naive)
    with pytest.raises(ValueError, match="time zone"):
        sae_time_left(naive, aware)
    with pytest.raises(ValueError, match="time zone"):
        sae_overdue(aware, naive, None)
    with pytest.raises(ValueError, match="time zone"):
        sae_overdue(aware, aware, naive)
    with pytest.raises(ValueError, match="time zone"):
        sae_submitted_late(aware, naive)
    with pytest.raises(ValueError):
        sae_deadline(date(2026, 3, 10))  # type: ignore[arg-type]


def test_time_left_is_positive_before_and_negative_after_the_deadline() -> None:
    deadline = datetime(2026, 3, 11, 23, 30, tzinfo=DHAKA)
    assert sae_time_left(deadline, datetime(2026, 3, 11, 20, 0, tzinfo=DHAKA)) == timedelta(hours=3, minutes=30)
    assert sae_time_left(deadline, deadline) == timedelta(0)
    assert sae_time_left(deadline, datetime(2026, 3, 12, 1, 30, tzinfo=DHAKA)) == -timedelta(hours=2)
    # The same moment in another zone gives the same answer: 17:30 UTC is 23:30 in Dhaka.
    assert sae_time_left(deadline, datetime(2026, 3, 11, 16, 30, tzinfo=UTC)) == timedelta(hours=1)


def test_time_left_in_one_zone_across_a_clock_change_counts_real_hours() -> None:
    # Python subtracts two times sharing a zone by their clock readings (25 h here); the real gap is 24 h.
    learned = datetime(2026, 3, 28, 12, 0, tzinfo=LONDON)
    deadline = datetime(2026, 3, 29, 13, 0, tzinfo=LONDON)
    assert deadline - learned == timedelta(hours=25)
    assert sae_time_left(deadline, learned) == timedelta(hours=24)
    assert not sae_overdue(deadline, datetime(2026, 3, 29, 12, 30, tzinfo=LONDON), None)


def test_overdue_only_when_not_submitted_and_the_deadline_has_passed() -> None:
    deadline = datetime(2026, 3, 11, 23, 30, tzinfo=DHAKA)
    before = deadline - timedelta(minutes=1)
    after = deadline + timedelta(minutes=1)
    assert not sae_overdue(deadline, before, None)
    assert not sae_overdue(deadline, deadline, None)  # at the deadline itself: still on time
    assert sae_overdue(deadline, after, None)
    assert not sae_overdue(deadline, after, before)  # submitted in time
    assert not sae_overdue(deadline, after + timedelta(days=3), after)  # submitted late: late, not overdue


def test_a_report_submitted_after_the_deadline_is_late() -> None:
    deadline = datetime(2026, 3, 11, 23, 30, tzinfo=DHAKA)
    assert not sae_submitted_late(deadline, deadline - timedelta(hours=5))
    assert not sae_submitted_late(deadline, deadline)
    assert sae_submitted_late(deadline, deadline + timedelta(seconds=1))
    assert sae_submitted_late(deadline, datetime(2026, 3, 11, 17, 31, tzinfo=UTC))  # 23:31 in Dhaka


zones = st.sampled_from([DHAKA, LONDON, ZoneInfo("America/New_York"), UTC, timezone(timedelta(hours=-3))])


@given(
    moment=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=zones),
    offset_minutes=st.integers(min_value=-3000, max_value=3000),
)
def test_the_sae_clock_is_consistent_in_every_zone(moment: datetime, offset_minutes: int) -> None:
    deadline = sae_deadline(moment)
    assert deadline.tzinfo is moment.tzinfo
    assert sae_time_left(deadline, moment) == timedelta(hours=24)
    now = (moment.astimezone(UTC) + timedelta(minutes=offset_minutes)).astimezone(moment.tzinfo)
    left = sae_time_left(deadline, now)
    assert left == timedelta(hours=24) - timedelta(minutes=offset_minutes)
    assert sae_overdue(deadline, now, None) is (left < timedelta(0))
    assert sae_submitted_late(deadline, now) is (left < timedelta(0))
    assert not sae_overdue(deadline, now, now)


# SUSAR ----------------------------------------------------------------------------------------------------------

LEARNED = datetime(2026, 3, 10, 10, 0, tzinfo=DHAKA)


@pytest.mark.parametrize(("serious", "related", "expected"), list(product([True, False], repeat=3)))
def test_only_serious_related_and_unexpected_is_a_susar(serious: bool, related: bool, expected: bool) -> None:
    criteria = [Seriousness.HOSPITALISATION] if serious else []
    clock = susar_clock(serious=serious, related=related, expected=expected, criteria=criteria, learned_at=LEARNED)
    if serious and related and not expected:
        assert clock == SusarClock(
            days=15,
            deadline=datetime(2026, 3, 25, 10, 0, tzinfo=DHAKA),
            reason=(
                "Suspected unexpected serious adverse reaction: serious (hospitalisation or its prolongation), "
                "related to the study drug and not expected; neither fatal nor life-threatening, so report to "
                "the regulator within 15 calendar days (ICH E2A)."
            ),
        )
    else:
        assert clock is None


@pytest.mark.parametrize(
    ("criteria", "days"),
    [
        ([Seriousness.DEATH], 7),
        ([Seriousness.LIFE_THREATENING], 7),
        ([Seriousness.HOSPITALISATION, Seriousness.LIFE_THREATENING], 7),
        ([Seriousness.DEATH, Seriousness.IMPORTANT_MEDICAL_EVENT], 7),
        ([Seriousness.HOSPITALISATION], 15),
        ([Seriousness.DISABILITY], 15),
        ([Seriousness.CONGENITAL_ANOMALY], 15),
        ([Seriousness.IMPORTANT_MEDICAL_EVENT], 15),
        ([Seriousness.HOSPITALISATION, Seriousness.DISABILITY], 15),
    ],
)
def test_seven_days_when_fatal_or_life_threatening_else_fifteen(criteria: list[Seriousness], days: int) -> None:
    clock = susar_clock(serious=True, related=True, expected=False, criteria=criteria, learned_at=LEARNED)
    assert clock is not None
    assert clock.days == days
    assert clock.deadline == LEARNED + timedelta(days=days)
    assert clock.deadline.tzinfo is DHAKA
    assert f"within {days} calendar days" in clock.reason
    assert ("neither fatal nor life-threatening" in clock.reason) is (days == 15)


def test_the_fatal_reason_names_the_criteria() -> None:
    clock = susar_clock(
        serious=True,
        related=True,
        expected=False,
        criteria=[Seriousness.HOSPITALISATION, Seriousness.DEATH],
        learned_at=LEARNED,
    )
    assert clock is not None
    assert clock.deadline == datetime(2026, 3, 17, 10, 0, tzinfo=DHAKA)
    assert clock.reason.startswith(
        "Suspected unexpected serious adverse reaction: serious (death, hospitalisation or its prolongation), "
        "related to the study drug and not expected; fatal or life-threatening, so report to the regulator within "
        "7 calendar days"
    )


@pytest.mark.parametrize(
    ("relationship", "is_susar"),
    [
        (Relationship.NOT_RELATED, False),
        (Relationship.UNLIKELY, False),
        (Relationship.POSSIBLE, True),
        (Relationship.PROBABLE, True),
        (Relationship.DEFINITE, True),
    ],
)
def test_an_unlikely_relationship_is_not_a_susar(relationship: Relationship, is_susar: bool) -> None:
    clock = susar_clock(
        serious=True,
        related=is_related(relationship),
        expected=False,
        criteria=[Seriousness.DEATH],
        learned_at=LEARNED,
    )
    assert (clock is not None) is is_susar


def test_susar_deadline_is_the_same_clock_time_calendar_days_later() -> None:
    def deadline(learned: datetime, criteria: list[Seriousness]) -> datetime:
        clock = susar_clock(serious=True, related=True, expected=False, criteria=criteria, learned_at=learned)
        assert clock is not None
        return clock.deadline

    fatal = [Seriousness.DEATH]
    # Across the clocks going forward: 12:00 GMT → 12:00 BST seven days later (167 elapsed hours).
    forward = deadline(datetime(2026, 3, 25, 12, 0, tzinfo=LONDON), fatal)
    assert (forward.month, forward.day, forward.hour, forward.utcoffset()) == (4, 1, 12, timedelta(hours=1))
    # Across the clocks going back: 12:00 BST → 12:00 GMT.
    back = deadline(datetime(2026, 10, 20, 12, 0, tzinfo=LONDON), fatal)
    assert (back.month, back.day, back.hour, back.utcoffset()) == (10, 27, 12, timedelta(0))
    # 01:30 on 2026-03-29 does not exist in London: the deadline moves to 02:30 BST.
    gap = deadline(datetime(2026, 3, 22, 1, 30, tzinfo=LONDON), fatal)
    assert (gap.day, gap.hour, gap.minute, gap.utcoffset()) == (29, 2, 30, timedelta(hours=1))
    # 01:30 on 2026-10-25 happens twice in London: the first (BST), the earlier deadline.
    twice = deadline(datetime(2026, 10, 18, 1, 30, tzinfo=LONDON), fatal)
    assert twice.astimezone(UTC) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    # Over the year's end, in a zone without daylight saving.
    new_year = deadline(datetime(2026, 12, 20, 9, 15, tzinfo=DHAKA), [Seriousness.DISABILITY])
    assert new_year == datetime(2027, 1, 4, 9, 15, tzinfo=DHAKA)


def test_susar_clock_refuses_seriousness_that_disagrees_with_the_criteria_or_a_naive_time() -> None:
    with pytest.raises(ValueError, match="criteria"):
        susar_clock(serious=True, related=True, expected=False, criteria=[], learned_at=LEARNED)
    with pytest.raises(ValueError, match="is serious"):
        susar_clock(serious=False, related=True, expected=False, criteria=[Seriousness.DEATH], learned_at=LEARNED)
    with pytest.raises(ValueError, match="time zone"):
        susar_clock(
            serious=True,
            related=True,
            expected=False,
            criteria=[Seriousness.DEATH],
            learned_at=datetime(2026, 3, 10, 10, 0),
        )
    with pytest.raises(ValueError):
        susar_clock(serious=True, related=True, expected=False, criteria=["fatal"], learned_at=LEARNED)


# Laboratory rules ----------------------------------------------------------------------------------------------

RULES = {rule.code: rule for rule in (*BARICITINIB_RULES, *METHOTREXATE_RULES)}

# (rule set, test, value, the codes that fire): both sides of every threshold.
BOUNDARY_CASES = [
    (BARICITINIB_RULES, "alc", 0.49, ["BARI_ALC"]),
    (BARICITINIB_RULES, "alc", 0.5, []),
    (BARICITINIB_RULES, "anc", 0.99, ["BARI_ANC"]),
    (BARICITINIB_RULES, "anc", 1.0, []),
    (BARICITINIB_RULES, "hb", 7.9, ["BARI_HB"]),
    (BARICITINIB_RULES, "hb", 8.0, []),
    (BARICITINIB_RULES, "egfr", 0, ["BARI_EGFR_HOLD"]),
    (BARICITINIB_RULES, "egfr", 29.9, ["BARI_EGFR_HOLD"]),
    (BARICITINIB_RULES, "egfr", 30, ["BARI_EGFR_REDUCE"]),
    (BARICITINIB_RULES, "egfr", 59.9, ["BARI_EGFR_REDUCE"]),
    (BARICITINIB_RULES, "egfr", 60, []),
    (METHOTREXATE_RULES, "wbc", 3.49, ["MTX_WBC"]),
    (METHOTREXATE_RULES, "wbc", 3.5, []),
    (METHOTREXATE_RULES, "anc", 1.59, ["MTX_ANC"]),
    (METHOTREXATE_RULES, "anc", 1.6, []),
    (METHOTREXATE_RULES, "platelets", 139, ["MTX_PLATELETS"]),
    (METHOTREXATE_RULES, "platelets", 140, []),
    (METHOTREXATE_RULES, "alt", 100, []),
    (METHOTREXATE_RULES, "alt", 100.1, ["MTX_ALT"]),
    (METHOTREXATE_RULES, "ast", 100, []),
    (METHOTREXATE_RULES, "ast", 100.1, ["MTX_AST"]),
    (METHOTREXATE_RULES, "albumin", 29.9, ["MTX_ALBUMIN"]),
    (METHOTREXATE_RULES, "albumin", 30, []),
    (METHOTREXATE_RULES, "egfr", 59.9, ["MTX_EGFR"]),
    (METHOTREXATE_RULES, "egfr", 60, []),
]


@pytest.mark.parametrize(
    ("rules", "test", "value", "codes"),
    BOUNDARY_CASES,
    ids=[f"{'A' if rules is BARICITINIB_RULES else 'B'} {test} {value}" for rules, test, value, _ in BOUNDARY_CASES],
)
def test_every_arm_rule_on_both_sides_of_its_threshold(
    rules: tuple[LabRule, ...], test: str, value: float, codes: list[str]
) -> None:
    fired = lab_rules_fired(rules, {test: value})
    assert [hit.rule.code for hit in fired] == codes
    assert all(hit.value == value for hit in fired)


def test_the_boundary_cases_cover_every_rule() -> None:
    covered = {code for *_, codes in BOUNDARY_CASES for code in codes}
    assert covered == set(RULES)


def test_the_rules_are_those_of_the_protocol() -> None:
    summary = {
        code: (rule.arm, rule.test, rule.comparison, rule.threshold, rule.low, rule.high, rule.action)
        for code, rule in RULES.items()
    }
    assert summary == {
        "BARI_ALC": ("A", "alc", "<", 0.5, None, None, "hold"),
        "BARI_ANC": ("A", "anc", "<", 1.0, None, None, "hold"),
        "BARI_HB": ("A", "hb", "<", 8.0, None, None, "hold"),
        "BARI_EGFR_REDUCE": ("A", "egfr", "range", 30.0, 30.0, 60.0, "reduce to 2 mg daily"),
        "BARI_EGFR_HOLD": ("A", "egfr", "<", 30.0, None, None, "hold"),
        "MTX_WBC": ("B", "wbc", "<", 3.5, None, None, "hold and review"),
        "MTX_ANC": ("B", "anc", "<", 1.6, None, None, "hold and review"),
        "MTX_PLATELETS": ("B", "platelets", "<", 140, None, None, "hold and review"),
        "MTX_ALT": ("B", "alt", ">", 100, None, None, "hold and review"),
        "MTX_AST": ("B", "ast", ">", 100, None, None, "hold and review"),
        "MTX_ALBUMIN": ("B", "albumin", "<", 30, None, None, "hold and review"),
        "MTX_EGFR": ("B", "egfr", "<", 60, None, None, "hold and review"),
    }
    assert {rule.arm for rule in BARICITINIB_RULES} == {"A"}
    assert {rule.arm for rule in METHOTREXATE_RULES} == {"B"}


def test_rule_texts_are_plain_words_with_units() -> None:
    texts = {code: rule.text for code, rule in RULES.items()}
    assert texts["BARI_ALC"] == "ALC < 0.5 ×10⁹/L: hold baricitinib"
    assert texts["BARI_ANC"] == "ANC < 1.0 ×10⁹/L: hold baricitinib"
    assert texts["BARI_HB"] == "Hb < 8 g/dL: hold baricitinib"
    assert texts["BARI_EGFR_REDUCE"] == "eGFR 30 to < 60 mL/min/1.73 m²: reduce baricitinib to 2 mg once daily"
    assert texts["BARI_EGFR_HOLD"].startswith("eGFR < 30 mL/min/1.73 m²: hold baricitinib")
    assert "Olumiant label does not recommend it below eGFR 30" in texts["BARI_EGFR_HOLD"]
    assert texts["MTX_PLATELETS"] == "platelets < 140 ×10⁹/L: hold methotrexate and review"
    assert texts["MTX_ALT"] == "ALT > 100 U/L: hold methotrexate and review"
    assert texts["MTX_ALBUMIN"] == "albumin < 30 g/L: hold methotrexate and review"
    for rule in RULES.values():
        assert LAB_TESTS[rule.test][1] in rule.text
        assert ("baricitinib" if rule.arm == "A" else "methotrexate") in rule.text


def test_the_fired_rule_explains_itself() -> None:
    (hit,) = lab_rules_fired(BARICITINIB_RULES, {"alc": 0.49})
    assert hit == FiredRule(rule=RULES["BARI_ALC"], value=0.49)
    assert hit.message == "ALC 0.49 ×10⁹/L — ALC < 0.5 ×10⁹/L: hold baricitinib"
    (egfr,) = lab_rules_fired(BARICITINIB_RULES, {"egfr": 59.96})
    assert egfr.message.startswith("eGFR 59.96 mL/min/1.73 m² — eGFR 30 to < 60")


def test_missing_values_never_fire() -> None:
    assert lab_rules_fired(BARICITINIB_RULES, {}) == ()
    assert lab_rules_fired(METHOTREXATE_RULES, {}) == ()
    nothing = dict.fromkeys(LAB_TESTS)
    assert lab_rules_fired(BARICITINIB_RULES, nothing) == ()
    assert lab_rules_fired(METHOTREXATE_RULES, nothing) == ()
    # A missing result does not hide one that is present.
    fired = lab_rules_fired(METHOTREXATE_RULES, {"wbc": None, "alt": 250, "egfr": None})
    assert [hit.rule.code for hit in fired] == ["MTX_ALT"]


def test_all_rules_that_fire_in_the_order_of_the_rules() -> None:
    values = {"hb": 7.0, "alc": 0.3, "egfr": 25.0, "anc": 0.8, "creatinine": 2.5}  # other keys are ignored
    fired = lab_rules_fired(BARICITINIB_RULES, values)
    assert [hit.rule.code for hit in fired] == ["BARI_ALC", "BARI_ANC", "BARI_HB", "BARI_EGFR_HOLD"]
    reversed_rules = tuple(reversed(BARICITINIB_RULES))
    assert [hit.rule.code for hit in lab_rules_fired(reversed_rules, values)] == [
        "BARI_EGFR_HOLD",
        "BARI_HB",
        "BARI_ANC",
        "BARI_ALC",
    ]


def test_normal_results_fire_nothing() -> None:
    normal = {"alc": 1.8, "anc": 4.0, "hb": 13.0, "egfr": 95.0, "wbc": 7.0, "platelets": 250, "alt": 25, "ast": 22}
    normal["albumin"] = 42
    assert lab_rules_fired(BARICITINIB_RULES, normal) == ()
    assert lab_rules_fired(METHOTREXATE_RULES, normal) == ()


def test_one_arms_rules_never_fire_for_the_other_arms_rule_set() -> None:
    worst = {"alc": 0.1, "anc": 0.2, "hb": 5.0, "egfr": 10.0, "wbc": 0.5, "platelets": 10, "alt": 900, "ast": 900}
    worst["albumin"] = 15
    baricitinib = lab_rules_fired(BARICITINIB_RULES, worst)
    methotrexate = lab_rules_fired(METHOTREXATE_RULES, worst)
    assert {hit.rule.arm for hit in baricitinib} == {"A"}
    assert {hit.rule.arm for hit in methotrexate} == {"B"}
    assert [hit.rule.code for hit in methotrexate] == [rule.code for rule in METHOTREXATE_RULES]
    # Baricitinib-only results (ALC, Hb) fire nothing among the methotrexate rules, and vice versa.
    assert lab_rules_fired(METHOTREXATE_RULES, {"alc": 0.1, "hb": 5.0}) == ()
    assert lab_rules_fired(BARICITINIB_RULES, {"wbc": 0.5, "platelets": 10, "alt": 900, "ast": 900}) == ()
    # Shared tests fire only the rule of the set passed: ANC 0.5 and eGFR 45.
    assert [hit.rule.code for hit in lab_rules_fired(METHOTREXATE_RULES, {"anc": 0.5, "egfr": 45})] == [
        "MTX_ANC",
        "MTX_EGFR",
    ]
    assert [hit.rule.code for hit in lab_rules_fired(BARICITINIB_RULES, {"anc": 0.5, "egfr": 45})] == [
        "BARI_ANC",
        "BARI_EGFR_REDUCE",
    ]
    # Methotrexate's stricter ANC rule: 1.2 holds methotrexate but not baricitinib.
    assert lab_rules_fired(BARICITINIB_RULES, {"anc": 1.2}) == ()
    assert [hit.rule.code for hit in lab_rules_fired(METHOTREXATE_RULES, {"anc": 1.2})] == ["MTX_ANC"]


@given(egfr=st.floats(min_value=0, max_value=200, allow_nan=False))
def test_baricitinib_egfr_rules_never_overlap(egfr: float) -> None:
    codes = [hit.rule.code for hit in lab_rules_fired(BARICITINIB_RULES, {"egfr": egfr})]
    expected = ["BARI_EGFR_HOLD"] if egfr < 30 else ["BARI_EGFR_REDUCE"] if egfr < 60 else []
    assert codes == expected


@given(code=st.sampled_from(sorted(RULES)), value=st.floats(min_value=0, max_value=25, allow_nan=False))
def test_a_rule_fires_exactly_when_its_comparison_holds(code: str, value: float) -> None:
    rule = RULES[code]
    fired = lab_rules_fired([rule], {rule.test: value})
    if rule.comparison == "<":
        holds = value < rule.threshold
    elif rule.comparison == ">":
        holds = value > rule.threshold
    else:
        assert rule.low is not None and rule.high is not None
        holds = rule.low <= value < rule.high
    assert bool(fired) is holds


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"alc": -0.1}, "negative"),
        ({"anc": float("nan")}, "number"),
        ({"egfr": float("inf")}, "number"),
        ({"hb": True}, "number"),
        ({"hb": "7.5"}, "number"),
        ({"hb": 95}, "g/L"),  # haemoglobin in g/L would never fire "< 8": refused
    ],
)
def test_results_that_are_not_plausible_numbers_are_refused(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        lab_rules_fired(BARICITINIB_RULES, values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"test": "lymphocytes"},  # not a key of LAB_TESTS: would silently never fire
        {"comparison": "<="},
        {"threshold": float("nan")},
        {"comparison": "range", "low": None, "high": 60.0},
        {"comparison": "range", "low": 60.0, "high": 30.0},
        {"comparison": "range", "threshold": 0.0, "low": 30.0, "high": 60.0},
        {"low": 30.0},
        {"code": " "},
    ],
)
def test_malformed_rules_are_refused(kwargs: dict[str, object]) -> None:
    fields: dict[str, object] = {"code": "X", "arm": "A", "test": "egfr", "comparison": "<", "threshold": 30.0}
    with pytest.raises(ValueError):
        LabRule(**(fields | kwargs))  # type: ignore[arg-type]


def test_rules_are_frozen() -> None:
    with pytest.raises(AttributeError):
        RULES["BARI_ALC"].threshold = 0.4  # type: ignore[misc]


# Exposure ------------------------------------------------------------------------------------------------------


def test_patient_years_count_both_the_first_and_last_day() -> None:
    assert patient_years([(date(2024, 1, 1), date(2027, 12, 31))]) == 4.0  # 1461 days
    assert patient_years([(date(2026, 3, 10), date(2026, 3, 10))]) == 1 / 365.25
    assert patient_years([(date(2025, 1, 1), date(2025, 12, 31))]) == 365 / 365.25
    assert patient_years([(date(2024, 1, 1), date(2024, 12, 31))]) == 366 / 365.25
    assert patient_years([]) == 0.0


def test_patient_years_of_a_cohort() -> None:
    # 24 participants treated Day 1 to Day 169 (the week-24 target): 24 × 169 = 4056 days.
    start = date(2026, 1, 5)
    cohort = [(start, start + timedelta(days=168))] * 24
    assert patient_years(cohort) == pytest.approx(11.1047, abs=1e-4)
    assert patient_years(cohort) == 4056 / 365.25
    # Two stretches of treatment for one participant, around an interruption.
    interrupted = [(date(2026, 1, 1), date(2026, 1, 31)), (date(2026, 2, 15), date(2026, 3, 31))]
    assert patient_years(interrupted) == (31 + 45) / 365.25


def test_patient_years_refuse_a_period_that_ends_before_it_starts() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        patient_years([(date(2026, 1, 1), date(2026, 2, 1)), (date(2026, 3, 2), date(2026, 3, 1))])
    with pytest.raises(ValueError, match="calendar date"):
        patient_years([(datetime(2026, 1, 1, 8, 0), date(2026, 2, 1))])


def test_rates_per_100_patient_years() -> None:
    assert rate_per_100_patient_years(2, 4.0) == 50.0
    assert rate_per_100_patient_years(3, 12.0) == 25.0
    assert rate_per_100_patient_years(0, 4.0) == 0.0
    assert rate_per_100_patient_years(5, patient_years([(date(2026, 1, 5), date(2026, 6, 22))] * 24)) == (
        pytest.approx(45.02, abs=0.01)
    )
    assert rate_per_100_patient_years(0, 0.0) is None
    assert rate_per_100_patient_years(3, 0) is None


@pytest.mark.parametrize(("events", "exposure"), [(-1, 4.0), (1.5, 4.0), (True, 4.0), (1, -0.5), (1, float("nan"))])
def test_rates_refuse_impossible_counts_and_exposure(events: int, exposure: float) -> None:
    with pytest.raises(ValueError):
        rate_per_100_patient_years(events, exposure)
