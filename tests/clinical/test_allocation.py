"""Allocation lists as a statistician or an auditor would check them: reproducible from the seed, balanced in
every block, unpredictable over many lists, with a checksum anyone can recompute and a CSV file that is refused
with every problem named."""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinical.allocation import (
    ARMS,
    CSV_COLUMNS,
    DEFAULT_BLOCK_SIZES,
    AllocationError,
    PlannedSlot,
    StratumBalance,
    allocation_checksum,
    allocation_csv,
    balance_report,
    generate_allocation,
    parse_allocation_csv,
    used_balance,
)

STRATA = ("DHK/early", "DHK/late")
CHI_SQUARE_1_DF_P01 = 6.635  # critical value, 1 degree of freedom, p = 0.01
CHI_SQUARE_5_DF_P01 = 15.086  # critical value, 5 degrees of freedom, p = 0.01


def chi_square(observed: Sequence[int]) -> float:
    """Pearson's goodness-of-fit statistic against equal expected frequencies."""
    expected = sum(observed) / len(observed)
    return sum((count - expected) ** 2 / expected for count in observed)


def arms_of(slots: Sequence[PlannedSlot], stratum: str) -> str:
    return "".join(slot.arm for slot in slots if slot.stratum == stratum)


def running_imbalance(arms: str) -> int:
    worst = difference = 0
    for arm in arms:
        difference += 1 if arm == "A" else -1
        worst = max(worst, abs(difference))
    return worst


def blocks_of(slots: Sequence[PlannedSlot]) -> dict[tuple[str, int], list[PlannedSlot]]:
    blocks: dict[tuple[str, int], list[PlannedSlot]] = {}
    for slot in slots:
        blocks.setdefault((slot.stratum, slot.block), []).append(slot)
    return blocks


def slot(stratum: str, sequence: int, block: int, block_size: int, arm: str) -> PlannedSlot:
    return PlannedSlot(stratum=stratum, sequence=sequence, block=block, block_size=block_size, arm=arm)


def problems_of(text: str) -> list[str]:
    with pytest.raises(AllocationError) as raised:
        parse_allocation_csv(text)
    return str(raised.value).splitlines()


def test_chi_square_helper_matches_hand_computation() -> None:
    assert chi_square([50, 50]) == 0
    assert chi_square([60, 40]) == pytest.approx(4.0)
    assert chi_square([5200, 4800]) == pytest.approx(16.0)
    assert chi_square([5200, 4800]) > CHI_SQUARE_1_DF_P01  # a 52 : 48 split over 10,000 would be rejected


def test_two_arms_one_to_one_in_blocks_of_2_or_4_by_default() -> None:
    assert ARMS == ("A", "B")
    assert DEFAULT_BLOCK_SIZES == (2, 4)
    assert CSV_COLUMNS == ("stratum", "sequence", "block", "arm")


# --- reproducibility ---------------------------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_list_and_checksum() -> None:
    first = generate_allocation(seed=424242, strata=STRATA, slots_per_stratum=24)
    again = generate_allocation(seed=424242, strata=STRATA, slots_per_stratum=24)
    assert first == again
    assert allocation_checksum(first) == allocation_checksum(again)


def test_another_seed_gives_another_list() -> None:
    checksums = {
        allocation_checksum(generate_allocation(seed=seed, strata=STRATA, slots_per_stratum=24)) for seed in range(50)
    }
    assert len(checksums) == 50


def test_a_seed_always_gives_this_list() -> None:
    """Pinned: if Python's generator or this module ever changed, an old seed would no longer reproduce its list."""
    slots = generate_allocation(seed=20250601, strata=STRATA, slots_per_stratum=8)
    assert arms_of(slots, "DHK/early") == "AABBABBA"
    assert arms_of(slots, "DHK/late") == "BAABABAB"
    assert [s.block_size for s in slots if s.stratum == "DHK/late"] == [2, 2, 2, 2, 4, 4, 4, 4]
    assert allocation_checksum(slots) == "5855c85c0d81212cca45db2553ca891cec21fcec3dbfbe6eaad9238dd641406a"


def test_the_order_or_repetition_of_block_sizes_does_not_change_the_list() -> None:
    """The list is reproducible from the seed and the set of block sizes, which is what gets recorded."""
    reference = generate_allocation(seed=7, strata=STRATA, slots_per_stratum=30, block_sizes=(2, 4))
    assert generate_allocation(seed=7, strata=STRATA, slots_per_stratum=30, block_sizes=[4, 2]) == reference
    assert generate_allocation(seed=7, strata=STRATA, slots_per_stratum=30, block_sizes=(2, 4, 4)) == reference


def test_a_128_bit_seed_is_accepted() -> None:
    seed = 2**128 - 1
    assert generate_allocation(seed=seed, strata=STRATA, slots_per_stratum=4) == generate_allocation(
        seed=seed, strata=STRATA, slots_per_stratum=4
    )


# --- shape of a list --------------------------------------------------------------------------------------------


def test_every_block_is_balanced_of_an_allowed_size_and_sizes_vary() -> None:
    for seed in range(20):
        slots = generate_allocation(seed=seed, strata=("DHK/early",), slots_per_stratum=200)
        assert 200 <= len(slots) < 204
        sizes: Counter[int] = Counter()
        for block in blocks_of(slots).values():
            size = len(block)
            assert size in DEFAULT_BLOCK_SIZES
            assert all(s.block_size == size for s in block)
            assert Counter(s.arm for s in block) == {"A": size // 2, "B": size // 2}
            sizes[size] += 1
        assert set(sizes) == {2, 4}


def test_each_stratum_holds_at_least_the_slots_asked_and_fewer_than_one_more_block() -> None:
    for seed, asked in itertools.product(range(30), (1, 2, 3, 5, 24)):
        slots = generate_allocation(seed=seed, strata=STRATA, slots_per_stratum=asked, block_sizes=(2, 4, 6))
        for stratum in STRATA:
            count = len(arms_of(slots, stratum))
            assert asked <= count < asked + 6


def test_strata_come_in_the_given_order_numbered_from_1_in_contiguous_blocks() -> None:
    slots = generate_allocation(seed=3, strata=("DHK/late", "CTG/early", "DHK/early"), slots_per_stratum=10)
    assert list(dict.fromkeys(s.stratum for s in slots)) == ["DHK/late", "CTG/early", "DHK/early"]
    for stratum in ("DHK/late", "CTG/early", "DHK/early"):
        mine = [s for s in slots if s.stratum == stratum]
        assert [s.sequence for s in mine] == list(range(1, len(mine) + 1))
        blocks = [s.block for s in mine]
        assert blocks[0] == 1 and all(b - a in (0, 1) for a, b in itertools.pairwise(blocks))


def test_three_arms_are_allocated_1_1_1() -> None:
    slots = generate_allocation(seed=5, strata=("X",), slots_per_stratum=30, block_sizes=(3, 6), arms=("A", "B", "C"))
    for block in blocks_of(slots).values():
        counts = Counter(s.arm for s in block)
        assert set(counts) == {"A", "B", "C"} and len(set(counts.values())) == 1
    (report,) = balance_report(slots, arms=("A", "B", "C"))
    assert report.unbalanced_blocks == () and report.max_running_imbalance <= 2


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"strata": ()}, "no strata given"),
        ({"strata": ("DHK/early", "DHK/early")}, "stratum DHK/early is named twice"),
        ({"strata": ("DHK/early", "")}, "a stratum name is empty"),
        ({"strata": ("  ",)}, "a stratum name is empty"),
        ({"strata": (" DHK/early",)}, 'stratum " DHK/early" has spaces at its start or end'),
        ({"strata": ("DHK,early",)}, "contains a comma, a line break"),
        ({"strata": ("DHK\nearly",)}, "contains a comma, a line break"),
        ({"strata": "DHK/early"}, "strata must be a list of stratum names"),
        ({"slots_per_stratum": 0}, "slots per stratum must be at least 1, not 0"),
        ({"slots_per_stratum": -3}, "slots per stratum must be at least 1, not -3"),
        ({"block_sizes": ()}, "no block sizes given"),
        ({"block_sizes": (2, 0)}, "block size 0 is less than 1"),
        ({"block_sizes": (-2,)}, "block size -2 is less than 1"),
        ({"block_sizes": (2, 3)}, "block size 3 is not a multiple of the number of arms (2)"),
        ({"block_sizes": (2.0,)}, "block size 2.0 is not a whole number"),
        ({"arms": ("A",)}, "at least two arms are needed, not 1 (A)"),
        ({"arms": ()}, "at least two arms are needed, not 0"),
        ({"arms": ("A", "B", "A")}, "arm A is named twice"),
        ({"seed": -1}, "the seed must be 0 or more"),
        ({"seed": 1.5}, "the seed must be a whole number"),
    ],
)
def test_bad_parameters_are_refused_with_a_clear_message(arguments: dict[str, object], message: str) -> None:
    parameters: dict[str, object] = {"seed": 1, "strata": STRATA, "slots_per_stratum": 24} | arguments
    with pytest.raises(AllocationError) as raised:
        generate_allocation(**parameters)  # type: ignore[arg-type]
    assert message in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_every_bad_parameter_is_listed_at_once() -> None:
    with pytest.raises(AllocationError) as raised:
        generate_allocation(seed=1, strata=("X", "X", ""), slots_per_stratum=0, block_sizes=(0, 3))
    assert raised.value.problems == (
        "a stratum name is empty",
        "stratum X is named twice",
        "slots per stratum must be at least 1, not 0",
        "block size 0 is less than 1",
        "block size 3 is not a multiple of the number of arms (2), so it cannot hold each arm equally",
    )


# --- 10,000 lists --------------------------------------------------------------------------------------------------


def test_ten_thousand_lists_are_balanced_and_unpredictable() -> None:
    """Seeds 0–9999, one stratum of 24 or 48 slots, blocks of 2 or 4.

    Overall A and B are equal by construction, so that test alone shows little; what shows unpredictability is
    that the first slot is A about half the time, that blocks of 2 and 4 are chosen about equally often, and
    that the six orders of a block of 4 (AABB, ABAB, …) are about equally frequent.
    """
    totals: Counter[str] = Counter()
    first_arm: Counter[str] = Counter()
    block_sizes: Counter[int] = Counter()
    orders_of_4: Counter[str] = Counter()
    worst_imbalance = 0
    for seed in range(10_000):
        asked = 24 if seed % 2 == 0 else 48
        slots = generate_allocation(seed=seed, strata=("DHK/early",), slots_per_stratum=asked, block_sizes=(2, 4))
        arms = "".join(s.arm for s in slots)
        assert asked <= len(arms) < asked + 4
        worst_imbalance = max(worst_imbalance, running_imbalance(arms))
        totals.update(arms)
        first_arm[arms[0]] += 1
        for block in blocks_of(slots).values():
            block_sizes[len(block)] += 1
            if len(block) == 4:
                orders_of_4["".join(s.arm for s in block)] += 1

    assert worst_imbalance == 2  # half the largest block, reached, never exceeded
    assert chi_square([totals["A"], totals["B"]]) < CHI_SQUARE_1_DF_P01
    assert totals["A"] == totals["B"]
    assert chi_square([first_arm["A"], first_arm["B"]]) < CHI_SQUARE_1_DF_P01
    assert chi_square([block_sizes[2], block_sizes[4]]) < CHI_SQUARE_1_DF_P01
    assert set(orders_of_4) == {"".join(order) for order in set(itertools.permutations("AABB"))}
    assert chi_square(list(orders_of_4.values())) < CHI_SQUARE_5_DF_P01


# --- checksum ----------------------------------------------------------------------------------------------------


def test_checksum_is_sha256_of_the_canonical_text_an_auditor_can_recompute() -> None:
    slots = [slot("DHK/late", 1, 1, 2, "B"), slot("DHK/early", 2, 1, 2, "A"), slot("DHK/early", 1, 1, 2, "B")]
    text = "DHK/early,1,1,2,B\nDHK/early,2,1,2,A\nDHK/late,1,1,2,B\n"
    assert allocation_checksum(slots) == hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_checksum_does_not_depend_on_the_order_of_the_slots() -> None:
    slots = list(generate_allocation(seed=11, strata=STRATA, slots_per_stratum=24))
    reference = allocation_checksum(slots)
    assert allocation_checksum(reversed(slots)) == reference
    assert allocation_checksum(sorted(slots, key=lambda s: (s.arm, -s.sequence))) == reference
    assert allocation_checksum(iter(slots)) == reference


def test_checksum_changes_when_one_arm_is_swapped() -> None:
    slots = list(generate_allocation(seed=11, strata=STRATA, slots_per_stratum=24))
    reference = allocation_checksum(slots)
    for index in (0, 13, len(slots) - 1):
        changed = list(slots)
        changed[index] = slot(**{**vars(slots[index]), "arm": "B" if slots[index].arm == "A" else "A"})
        assert allocation_checksum(changed) != reference


def test_checksum_changes_when_any_field_changes() -> None:
    original = slot("DHK/early", 3, 2, 4, "A")
    reference = allocation_checksum([original])
    for field, value in (("stratum", "DHK/late"), ("sequence", 4), ("block", 3), ("block_size", 2), ("arm", "B")):
        assert allocation_checksum([slot(**{**vars(original), field: value})]) != reference
    assert allocation_checksum([original, slot("DHK/early", 4, 2, 4, "B")]) != reference  # a slot added


# --- balance -----------------------------------------------------------------------------------------------------


def test_balance_report_of_a_hand_made_list() -> None:
    slots = [
        # DHK/late, given out of order: a balanced block of 2, then A A B B.
        slot("DHK/late", 4, 2, 4, "A"),
        slot("DHK/late", 1, 1, 2, "B"),
        slot("DHK/late", 2, 1, 2, "A"),
        slot("DHK/late", 3, 2, 4, "A"),
        slot("DHK/late", 5, 2, 4, "B"),
        slot("DHK/late", 6, 2, 4, "B"),
        # DHK/early: block 1 A B, block 2 A A A B (unbalanced), block 3 B only (unbalanced).
        slot("DHK/early", 1, 1, 2, "A"),
        slot("DHK/early", 2, 1, 2, "B"),
        slot("DHK/early", 3, 2, 4, "A"),
        slot("DHK/early", 4, 2, 4, "A"),
        slot("DHK/early", 5, 2, 4, "A"),
        slot("DHK/early", 6, 2, 4, "B"),
        slot("DHK/early", 7, 3, 2, "B"),
    ]
    assert balance_report(slots) == (
        StratumBalance(
            stratum="DHK/early",
            slots=7,
            per_arm=(("A", 4), ("B", 3)),
            blocks=3,
            max_running_imbalance=3,  # after slot 5: 4 × A, 1 × B
            unbalanced_blocks=(2, 3),
        ),
        StratumBalance(
            stratum="DHK/late",
            slots=6,
            per_arm=(("A", 3), ("B", 3)),
            blocks=2,
            max_running_imbalance=2,  # after slot 4: B A A A → 3 × A, 1 × B
            unbalanced_blocks=(),
        ),
    )


def test_balance_report_counts_an_arm_missing_from_a_block() -> None:
    (report,) = balance_report([slot("X", 1, 1, 2, "A"), slot("X", 2, 1, 2, "A")])
    assert report.per_arm == (("A", 2), ("B", 0))
    assert report.unbalanced_blocks == (1,)
    assert report.max_running_imbalance == 2


def test_balance_report_of_a_generated_list_is_clean() -> None:
    slots = generate_allocation(seed=8, strata=STRATA, slots_per_stratum=24)
    reports = balance_report(slots)
    assert [r.stratum for r in reports] == sorted(STRATA)
    for report in reports:
        assert report.unbalanced_blocks == ()
        assert report.per_arm[0][1] == report.per_arm[1][1] == report.slots // 2
        assert 1 <= report.max_running_imbalance <= 2
    assert balance_report([]) == ()


def test_balance_report_refuses_an_unknown_arm() -> None:
    with pytest.raises(AllocationError, match='stratum X: unknown arm "C" \\(use A or B\\)'):
        balance_report([slot("X", 1, 1, 2, "A"), slot("X", 2, 1, 2, "C")])


def test_used_balance_counts_the_slots_used_so_far_in_arm_order() -> None:
    assert used_balance([]) == (("A", 0), ("B", 0))
    assert used_balance(["B", "B", "A"]) == (("A", 1), ("B", 2))
    assert used_balance(["C"], arms=("C", "A", "B")) == (("C", 1), ("A", 0), ("B", 0))
    with pytest.raises(AllocationError, match='unknown arm "a" \\(use A or B\\)'):
        used_balance(["A", "a"])


# --- CSV ---------------------------------------------------------------------------------------------------------

GOOD_CSV = """stratum,sequence,block,arm
DHK/early,1,1,B
DHK/early,2,1,A
DHK/early,3,2,A
DHK/early,4,2,B
DHK/early,5,2,B
DHK/early,6,2,A
DHK/late,1,1,A
DHK/late,2,1,B
"""


def test_csv_round_trip() -> None:
    slots = generate_allocation(seed=12, strata=("DHK/late", "DHK/early", "CTG/early"), slots_per_stratum=13)
    text = allocation_csv(slots)
    assert text.splitlines()[0] == ",".join(CSV_COLUMNS)
    assert len(text.splitlines()) == len(slots) + 1
    assert parse_allocation_csv(text) == tuple(sorted(slots))
    assert allocation_csv(parse_allocation_csv(text)) == text


def test_csv_block_size_is_the_number_of_rows_in_the_block() -> None:
    slots = parse_allocation_csv(GOOD_CSV)
    assert slots[:3] == (
        slot("DHK/early", 1, 1, 2, "B"),
        slot("DHK/early", 2, 1, 2, "A"),
        slot("DHK/early", 3, 2, 4, "A"),
    )
    assert slots[-1] == slot("DHK/late", 2, 1, 2, "B")


def test_csv_header_in_any_order_and_case_rows_in_any_order() -> None:
    text = "\ufeff Arm ,BLOCK, Stratum,sequence\r\nB,1,DHK/late,2\r\n\r\nA,1,DHK/late,1\r\n"
    assert parse_allocation_csv(text) == (slot("DHK/late", 1, 1, 2, "A"), slot("DHK/late", 2, 1, 2, "B"))


def test_csv_unknown_arm() -> None:
    assert problems_of(GOOD_CSV.replace("DHK/early,4,2,B", "DHK/early,4,2,C")) == [
        'line 5: unknown arm "C" (use A or B)'
    ]


def test_csv_duplicate_sequence() -> None:
    text = GOOD_CSV.replace("DHK/late,2,1,B", "DHK/late,2,1,B\nDHK/late,2,1,B")
    assert "line 10: sequence 2 of stratum DHK/late appears twice (lines 9 and 10)" in problems_of(text)


def test_csv_gap_in_sequence() -> None:
    text = GOOD_CSV + "DHK/late,5,2,A\nDHK/late,6,2,B\n"
    assert problems_of(text) == ["stratum DHK/late: sequence has a gap: 3 and 4 are missing"]
    assert problems_of(GOOD_CSV.replace("DHK/late,1,1,A\n", "")) == [
        "stratum DHK/late: sequence has a gap: 1 is missing",
        "stratum DHK/late, block 1: 0 × A and 1 × B; a block must hold each arm equally",
    ]


def test_csv_unbalanced_block() -> None:
    text = GOOD_CSV.replace("DHK/early,5,2,B", "DHK/early,5,2,A")
    assert problems_of(text) == ["stratum DHK/early, block 2: 3 × A and 1 × B; a block must hold each arm equally"]


def test_csv_block_numbering() -> None:
    skipped = GOOD_CSV
    for sequence in (3, 4, 5, 6):
        skipped = skipped.replace(f"DHK/early,{sequence},2,", f"DHK/early,{sequence},3,")
    assert problems_of(skipped) == [
        "stratum DHK/early: blocks must be numbered 1, 2, 3 … in sequence order "
        "(sequence 3 is in block 3, after block 1)"
    ]
    interleaved = GOOD_CSV.replace("DHK/late,1,1,A\nDHK/late,2,1,B", "DHK/late,1,1,A\nDHK/late,2,2,B\nDHK/late,3,1,B")
    problems = problems_of(interleaved)
    assert "stratum DHK/late: blocks must be numbered 1, 2, 3 … in sequence order" in problems[0]
    starts_at_2 = "stratum,sequence,block,arm\nX,1,2,A\nX,2,2,B\n"
    assert problems_of(starts_at_2) == [
        "stratum X: blocks must be numbered 1, 2, 3 … in sequence order (sequence 1 is in block 2, the first block)"
    ]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("DHK/late,x,1,B", 'line 9: sequence "x" is not a whole number'),
        ("DHK/late,2.0,1,B", 'line 9: sequence "2.0" is not a whole number'),
        ("DHK/late,-2,1,B", 'line 9: sequence "-2" is not a whole number'),
        ("DHK/late,,1,B", 'line 9: sequence "" is not a whole number'),
        ("DHK/late,0,1,B", "line 9: sequence 0 must be 1 or more"),
        ("DHK/late,2,one,B", 'line 9: block "one" is not a whole number'),
        (",2,1,B", "line 9: a stratum name is empty"),
        ("DHK/late,2,1", "line 9: 3 values, but the header has 4 columns"),
        ("DHK/late,2,1,B,", "line 9: 5 values, but the header has 4 columns"),
    ],
)
def test_csv_unreadable_values(row: str, message: str) -> None:
    assert message in problems_of(GOOD_CSV.replace("DHK/late,2,1,B", row))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("\n \n", "the file is empty"),
        ("stratum,sequence,block,arm\n", "the file has a header but no rows"),
        (
            "stratum,sequence,arm\nX,1,A\n",
            "line 1: the header must name the columns stratum, sequence, block, arm (in any order); missing block",
        ),
        ("stratum,sequence,block,arm,block_size\n", 'not a column of an allocation list: "block_size"'),
        ("stratum,sequence,block,arm,\n", "not a column of an allocation list: (an empty column name)"),
        ("stratum,sequence,block,block\n", "missing arm; named twice: block"),
        ("X,1,1,A\nX,2,1,B\n", "line 1: the header must name the columns"),
        ("stratum;sequence;block;arm\n", "(the columns must be separated by commas)"),
    ],
)
def test_csv_wrong_header_or_empty_file(text: str, message: str) -> None:
    (problem,) = problems_of(text)
    assert message in problem


def test_csv_every_problem_is_listed_with_its_line_and_nothing_is_returned() -> None:
    text = """stratum,sequence,block,arm
DHK/early,1,1,A
DHK/early,2,1,B
DHK/early,3,2,A
DHK/early,4,2,A
DHK/early,5,2,C
DHK/early,x,2,B
DHK/early,4,2,B
DHK/late,1,1,A
DHK/late,2,1,B
DHK/late,5,2,A
DHK/late,6,2,B
"""
    with pytest.raises(AllocationError) as raised:
        parse_allocation_csv(text)
    assert raised.value.problems == (
        'line 6: unknown arm "C" (use A or B)',
        'line 7: sequence "x" is not a whole number',
        "line 8: sequence 4 of stratum DHK/early appears twice (lines 5 and 8)",
        "stratum DHK/late: sequence has a gap: 3 and 4 are missing",
    )


def test_csv_problems_in_several_strata_and_blocks_are_all_listed() -> None:
    text = "stratum,sequence,block,arm\nX,1,1,A\nX,2,1,A\nX,3,2,B\nX,4,2,B\nY,2,1,A\nY,3,1,B\nY,9,2,A\nY,10,2,B\n"
    assert problems_of(text) == [
        "stratum X, block 1: 2 × A and 0 × B; a block must hold each arm equally",
        "stratum X, block 2: 0 × A and 2 × B; a block must hold each arm equally",
        "stratum Y: sequence has a gap: 1 and 4–8 are missing",
    ]


def test_csv_with_other_arms() -> None:
    text = "stratum,sequence,block,arm\nX,1,1,P\nX,2,1,R\nX,3,1,Q\nX,4,2,A\n"
    with pytest.raises(AllocationError) as raised:
        parse_allocation_csv(text, arms=("P", "Q", "R"))
    assert raised.value.problems == ('line 5: unknown arm "A" (use P, Q or R)',)
    assert problems_of(text)[0] == 'line 2: unknown arm "P" (use A or B)'


def test_csv_refuses_bad_arms_given_by_the_caller() -> None:
    with pytest.raises(AllocationError, match="at least two arms are needed"):
        parse_allocation_csv(GOOD_CSV, arms=("A",))


# --- properties --------------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**128),
    strata_count=st.integers(min_value=1, max_value=4),
    asked=st.integers(min_value=1, max_value=60),
    block_sizes=st.sampled_from([(2,), (4,), (2, 4), (2, 4, 6)]),
)
def test_any_generated_list_is_balanced_gap_free_and_survives_the_csv(
    seed: int, strata_count: int, asked: int, block_sizes: tuple[int, ...]
) -> None:
    strata = [f"S{n}/early" for n in range(strata_count)]
    slots = generate_allocation(seed=seed, strata=strata, slots_per_stratum=asked, block_sizes=block_sizes)
    largest = max(block_sizes)
    for stratum in strata:
        mine = [s for s in slots if s.stratum == stratum]
        assert [s.sequence for s in mine] == list(range(1, len(mine) + 1))
        assert asked <= len(mine) < asked + largest
        assert running_imbalance("".join(s.arm for s in mine)) <= largest // 2
    for block in blocks_of(slots).values():
        assert len(block) in block_sizes and all(s.block_size == len(block) for s in block)
        assert Counter(s.arm for s in block) == {"A": len(block) // 2, "B": len(block) // 2}
    for report in balance_report(slots):
        assert report.unbalanced_blocks == () and report.max_running_imbalance <= largest // 2
    assert parse_allocation_csv(allocation_csv(slots)) == tuple(sorted(slots)) == slots


@settings(max_examples=200, deadline=None)
@given(names=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=3))
def test_any_stratum_name_generation_accepts_survives_the_csv(names: list[str]) -> None:
    try:
        slots = generate_allocation(seed=1, strata=names, slots_per_stratum=2)
    except AllocationError as error:
        assert error.problems
        return
    assert parse_allocation_csv(allocation_csv(slots)) == tuple(sorted(slots))
