"""Allocation lists for 1:1 randomisation: permuted blocks of randomly chosen sizes, stratified.

A list is generated from a seed (the same arguments always give the same list), summarised by a SHA-256
checksum that an auditor can recompute from the list alone, checked for balance, and written to or read from
a CSV file (``stratum,sequence,block,arm``) so that a list made outside the system can be imported.

Generation, per stratum in the given order and with one ``random.Random(seed)`` for the whole list: pick a
block size uniformly from the allowed sizes, fill the block with equal numbers of each arm, shuffle it, append;
stop once the stratum holds at least the number of slots asked for. Only whole blocks are made, so every block
is balanced and a stratum may hold up to the largest block size − 1 slots more than asked. Within a stratum the
difference between the arms, counted over the slots used so far, never exceeds the largest block size divided
by the number of arms.

The block sizes are used sorted and without repeats, so (4, 2) and (2, 4, 4) give the same list as (2, 4):
a list can be reproduced from its seed and the *set* of block sizes. Reproducibility rests on CPython's
Mersenne Twister and on ``Random.choice`` and ``Random.shuffle``, whose algorithms have not changed since
Python 3.2; a test pins a generated list so that a change would be noticed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

ARMS: Final[tuple[str, ...]] = ("A", "B")
"""The arms in protocol order, allocated 1:1. What each arm is lives in the protocol definition, not here."""

DEFAULT_BLOCK_SIZES: Final[tuple[int, ...]] = (2, 4)

CSV_COLUMNS: Final[tuple[str, ...]] = ("stratum", "sequence", "block", "arm")
"""The columns of an allocation list file. ``block_size`` is not a column: it is the number of rows in a block."""

_WHOLE_NUMBER: Final = re.compile(r"[0-9]+")
# Characters that would make a name ambiguous in the checksum text or awkward in a CSV file: commas, and any
# control character or line/paragraph separator (str.splitlines breaks on these).
_FORBIDDEN_IN_NAMES: Final = re.compile(r"[,\x00-\x1f\x7f-\x9f\u2028\u2029]")


class AllocationError(ValueError):
    """A list, its parameters or its file are not acceptable. The message is for people: what is wrong and
    where, one problem per line."""

    @property
    def problems(self) -> tuple[str, ...]:
        """The problems, one per line of the message."""
        return tuple(str(self).splitlines())


@dataclass(frozen=True, order=True)
class PlannedSlot:
    """One position of an allocation list. Slots order by (stratum, sequence), the order of the list."""

    stratum: str  # e.g. "DHK/early"
    sequence: int  # 1-based position within the stratum, in list order
    block: int  # 1-based block number within the stratum
    block_size: int  # the number of slots in this slot's block
    arm: str


@dataclass(frozen=True)
class StratumBalance:
    """How balanced one stratum of a list is.

    ``per_arm``: slots per arm, in arm order. ``max_running_imbalance``: the largest difference between the most
    and the least frequent arm over the first 1, 2, … slots, in sequence order (what an investigator could see
    while the list is used). ``unbalanced_blocks``: the numbers of blocks whose arms are not equally frequent.
    """

    stratum: str
    slots: int
    per_arm: tuple[tuple[str, int], ...]
    blocks: int
    max_running_imbalance: int
    unbalanced_blocks: tuple[int, ...]


# --- validation helpers ----------------------------------------------------------------------------------------


def _is_whole_number(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _name_problem(what: str, name: object) -> str | None:
    """Why ``name`` cannot name a stratum or an arm, or None if it can."""
    if not isinstance(name, str):
        return f"{what} {name!r} is not text"
    if not name.strip():
        return f"a {what} name is empty"
    if name != name.strip():
        return f'{what} "{name}" has spaces at its start or end'
    if _FORBIDDEN_IN_NAMES.search(name):
        return f"{what} {name!r} contains a comma, a line break or another control character"
    return None


def _join_words(words: Sequence[str], last: str = "and") -> str:
    """Words joined for reading: A; A and B; A, B and C."""
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {last} {words[-1]}"


def _arm_problems(arms: Sequence[str]) -> list[str]:
    if isinstance(arms, str):
        return [f'arms must be a list of arm names, not the single text "{arms}"']
    problems = [problem for arm in arms if (problem := _name_problem("arm", arm))]
    if len(arms) < 2:
        shown = f" ({_join_words(list(map(str, arms)))})" if arms else ""
        problems.append(f"at least two arms are needed, not {len(arms)}{shown}")
    problems.extend(f"arm {arm} is named twice" for arm, count in Counter(arms).items() if count > 1)
    return problems


def _check_arms(arms: Sequence[str]) -> tuple[str, ...]:
    problems = _arm_problems(arms)
    if problems:
        raise AllocationError("\n".join(problems))
    return tuple(arms)


def _unknown_arm(arm: str, arms: Sequence[str]) -> str:
    return f'unknown arm "{arm}" (use {_join_words(list(arms), "or")})'


# --- generation ------------------------------------------------------------------------------------------------


def _generation_problems(
    *, seed: int, strata: Sequence[str], slots_per_stratum: int, block_sizes: Sequence[int], arms: Sequence[str]
) -> list[str]:
    problems: list[str] = []
    if not _is_whole_number(seed):
        problems.append(f"the seed must be a whole number, not {seed!r}")
    elif seed < 0:
        # random.Random uses the absolute value of an integer seed: -n and n would give the same list.
        problems.append(f"the seed must be 0 or more, not {seed}")
    if isinstance(strata, str):
        problems.append(f'strata must be a list of stratum names, not the single text "{strata}"')
    elif not strata:
        problems.append("no strata given: a list needs at least one stratum")
    else:
        problems.extend(problem for stratum in strata if (problem := _name_problem("stratum", stratum)))
        problems.extend(f"stratum {name} is named twice" for name, count in Counter(strata).items() if count > 1)
    if not _is_whole_number(slots_per_stratum):
        problems.append(f"slots per stratum must be a whole number, not {slots_per_stratum!r}")
    elif slots_per_stratum < 1:
        problems.append(f"slots per stratum must be at least 1, not {slots_per_stratum}")
    arm_problems = _arm_problems(arms)
    problems.extend(arm_problems)
    if not block_sizes:
        problems.append("no block sizes given")
    for size in dict.fromkeys(block_sizes):
        if not _is_whole_number(size):
            problems.append(f"block size {size!r} is not a whole number")
        elif size < 1:
            problems.append(f"block size {size} is less than 1")
        elif not arm_problems and size % len(arms) != 0:
            problems.append(
                f"block size {size} is not a multiple of the number of arms ({len(arms)}), so it cannot hold each "
                "arm equally"
            )
    return problems


def generate_allocation(
    *,
    seed: int,
    strata: Sequence[str],
    slots_per_stratum: int,
    block_sizes: Sequence[int] = DEFAULT_BLOCK_SIZES,
    arms: Sequence[str] = ARMS,
) -> tuple[PlannedSlot, ...]:
    """A permuted-block list with randomly chosen block sizes, strata in the given order.

    Each stratum holds whole blocks only: at least ``slots_per_stratum`` slots and fewer than
    ``slots_per_stratum + max(block_sizes)``. The same arguments give the same list. The seed must be a whole
    number ≥ 0 (``random.Random`` would treat −n as n). Raises AllocationError, listing every problem, for no
    strata, a repeated, empty or badly written stratum name, ``slots_per_stratum`` < 1, no block sizes, a block
    size < 1 or not a multiple of the number of arms, fewer than two arms or a repeated arm.
    """
    problems = _generation_problems(
        seed=seed, strata=strata, slots_per_stratum=slots_per_stratum, block_sizes=block_sizes, arms=arms
    )
    if problems:
        raise AllocationError("\n".join(problems))
    sizes = sorted(set(block_sizes))
    arm_list = tuple(arms)
    rng = random.Random(seed)  # noqa: S311 - reproducible by design; the seed itself is the secret
    slots: list[PlannedSlot] = []
    for stratum in strata:
        sequence = 0
        block = 0
        while sequence < slots_per_stratum:
            size = rng.choice(sizes)
            block += 1
            contents = [arm for arm in arm_list for _ in range(size // len(arm_list))]
            rng.shuffle(contents)
            for arm in contents:
                sequence += 1
                slots.append(PlannedSlot(stratum, sequence, block, size, arm))
    return tuple(slots)


# --- checksum --------------------------------------------------------------------------------------------------


def allocation_checksum(slots: Iterable[PlannedSlot]) -> str:
    """SHA-256 (hex) of the canonical text of a list: one line ``stratum,sequence,block,block_size,arm\\n`` per
    slot, slots sorted by (stratum, sequence), UTF-8. The order of ``slots`` does not matter; a change of any
    field of any slot changes the checksum. Anyone can recompute it from the list with a few lines of code.
    """
    digest = hashlib.sha256()
    for slot in sorted(slots):
        digest.update(f"{slot.stratum},{slot.sequence},{slot.block},{slot.block_size},{slot.arm}\n".encode())
    return digest.hexdigest()


# --- balance ---------------------------------------------------------------------------------------------------


def _counts_in_order(arms_used: Iterable[str], arms: tuple[str, ...], where: str = "") -> tuple[tuple[str, int], ...]:
    counts = Counter(arms_used)
    unknown = [arm for arm in counts if arm not in arms]
    if unknown:
        raise AllocationError("\n".join(f"{where}{_unknown_arm(arm, arms)}" for arm in unknown))
    return tuple((arm, counts[arm]) for arm in arms)


def used_balance(arms_in_order: Sequence[str], *, arms: Sequence[str] = ARMS) -> tuple[tuple[str, int], ...]:
    """How many of the slots used so far went to each arm, in arm order. Raises AllocationError for an arm that
    is not one of ``arms``."""
    return _counts_in_order(arms_in_order, _check_arms(arms))


def _max_running_imbalance(arms_in_order: Sequence[str], arms: tuple[str, ...]) -> int:
    counts = dict.fromkeys(arms, 0)
    worst = 0
    for arm in arms_in_order:
        counts[arm] += 1
        worst = max(worst, max(counts.values()) - min(counts.values()))
    return worst


def balance_report(slots: Iterable[PlannedSlot], *, arms: Sequence[str] = ARMS) -> tuple[StratumBalance, ...]:
    """One summary per stratum, sorted by stratum; see ``StratumBalance``. Raises AllocationError for a slot whose
    arm is not one of ``arms``."""
    arm_tuple = _check_arms(arms)
    by_stratum: dict[str, list[PlannedSlot]] = defaultdict(list)
    for slot in slots:
        by_stratum[slot.stratum].append(slot)
    reports = []
    for stratum in sorted(by_stratum):
        ordered = sorted(by_stratum[stratum])
        arm_sequence = [slot.arm for slot in ordered]
        per_arm = _counts_in_order(arm_sequence, arm_tuple, where=f"stratum {stratum}: ")
        blocks: dict[int, list[str]] = defaultdict(list)
        for slot in ordered:
            blocks[slot.block].append(slot.arm)
        unbalanced = tuple(
            number for number, block_arms in sorted(blocks.items()) if _block_unbalanced(block_arms, arm_tuple)
        )
        reports.append(
            StratumBalance(
                stratum=stratum,
                slots=len(ordered),
                per_arm=per_arm,
                blocks=len(blocks),
                max_running_imbalance=_max_running_imbalance(arm_sequence, arm_tuple),
                unbalanced_blocks=unbalanced,
            )
        )
    return tuple(reports)


def _block_unbalanced(block_arms: Sequence[str], arms: tuple[str, ...]) -> bool:
    counts = Counter(block_arms)
    return len({counts[arm] for arm in arms}) > 1


# --- CSV -------------------------------------------------------------------------------------------------------


def allocation_csv(slots: Iterable[PlannedSlot]) -> str:
    """The list as CSV: the header ``stratum,sequence,block,arm`` and one row per slot in (stratum, sequence)
    order, lines ending in ``\\n``. ``parse_allocation_csv`` reads it back to the same slots."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows((slot.stratum, slot.sequence, slot.block, slot.arm) for slot in sorted(slots))
    return out.getvalue()


@dataclass
class _Row:
    line: int
    stratum: str | None
    sequence: int | None
    block: int | None
    arm: str | None


def _whole_number(column: str, text: str, line: int, problems: list[tuple[int, str]]) -> int | None:
    if not _WHOLE_NUMBER.fullmatch(text):
        problems.append((line, f'line {line}: {column} "{text}" is not a whole number'))
        return None
    value = int(text)
    if value < 1:
        problems.append((line, f"line {line}: {column} {value} must be 1 or more"))
        return None
    return value


def _header_problem(header: list[str], line: int) -> str | None:
    names = [cell.strip().lower() for cell in header]
    missing = [column for column in CSV_COLUMNS if column not in names]
    extra = [
        f'"{name}"' if name else "(an empty column name)" for name in dict.fromkeys(names) if name not in CSV_COLUMNS
    ]
    repeated = [name for name, count in Counter(names).items() if count > 1 and name in CSV_COLUMNS]
    if not (missing or extra or repeated):
        return None
    parts = []
    if missing:
        parts.append(f"missing {', '.join(missing)}")
    if extra:
        parts.append(f"not a column of an allocation list: {', '.join(extra)}")
    if repeated:
        parts.append(f"named twice: {', '.join(repeated)}")
    hint = ""
    if len(header) == 1 and (";" in header[0] or "\t" in header[0]):
        hint = " (the columns must be separated by commas)"
    expected = ", ".join(CSV_COLUMNS)
    return f"line {line}: the header must name the columns {expected} (in any order); {'; '.join(parts)}{hint}"


def _read_rows(text: str, arms: tuple[str, ...], problems: list[tuple[int, str]]) -> tuple[list[_Row], str | None]:
    """The data rows, with a None for each value that could not be read (the problem is in ``problems``);
    or a problem with the file as a whole that stops reading."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    header: list[str] | None = None
    columns: dict[str, int] = {}
    rows: list[_Row] = []
    start = 1
    try:
        for cells in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header = cells
                problem = _header_problem(header, line)
                if problem:
                    return [], problem
                columns = {cell.strip().lower(): index for index, cell in enumerate(header)}
                continue
            if len(cells) != len(header):
                problems.append((line, f"line {line}: {len(cells)} values, but the header has {len(header)} columns"))
                continue
            values = {column: cells[index].strip() for column, index in columns.items()}
            stratum: str | None = values["stratum"]
            name_problem = _name_problem("stratum", stratum)
            if name_problem:
                problems.append((line, f"line {line}: {name_problem}"))
                stratum = None
            sequence = _whole_number("sequence", values["sequence"], line, problems)
            block = _whole_number("block", values["block"], line, problems)
            arm: str | None = values["arm"]
            if arm not in arms:
                problems.append((line, f"line {line}: {_unknown_arm(values['arm'], arms)}"))
                arm = None
            rows.append(_Row(line=line, stratum=stratum, sequence=sequence, block=block, arm=arm))
    except csv.Error as error:
        return [], f"line {reader.line_num}: the file cannot be read as CSV ({error})"
    if header is None:
        return [], f"the file is empty: expected the header {','.join(CSV_COLUMNS)} and one row per slot"
    if not rows and not problems:
        return [], "the file has a header but no rows: an allocation list needs at least one slot"
    return rows, None


def _missing_numbers(present: set[int]) -> str:
    """The numbers missing from 1 … max(present), for reading: 5 is missing; 3, 5–9 and 12 are missing."""
    missing = [number for number in range(1, max(present) + 1) if number not in present]
    runs: list[tuple[int, int]] = []
    for number in missing:
        if runs and runs[-1][1] == number - 1:
            runs[-1] = (runs[-1][0], number)
        else:
            runs.append((number, number))
    words: list[str] = []
    for first, last in runs:
        if last - first >= 2:
            words.append(f"{first}–{last}")
        else:
            words.extend(str(number) for number in range(first, last + 1))
    verb = "is" if len(missing) == 1 else "are"
    return f"{_join_words(words)} {verb} missing"


def _stratum_problems(
    stratum: str, rows: list[_Row], arms: tuple[str, ...], problems: list[tuple[int, str]]
) -> list[str]:
    """Duplicates (added to ``problems`` at their line) and the problems of the stratum as a whole."""
    found: list[str] = []
    by_sequence: dict[int, list[int]] = defaultdict(list)
    for row in rows:
        if row.sequence is not None:
            by_sequence[row.sequence].append(row.line)
    for sequence, lines in by_sequence.items():
        if len(lines) > 1:
            times = "twice" if len(lines) == 2 else f"{len(lines)} times"
            problems.append(
                (
                    lines[1],
                    f"line {lines[1]}: sequence {sequence} of stratum {stratum} appears {times} "
                    f"(lines {_join_words([str(line) for line in lines])})",
                )
            )
    if by_sequence and len(by_sequence) < max(by_sequence):
        found.append(f"stratum {stratum}: sequence has a gap: {_missing_numbers(set(by_sequence))}")

    numbered = sorted((row.sequence, row.line, row.block) for row in rows if row.sequence and row.block)
    previous = 0
    for sequence, _line, block in numbered:
        if block not in (previous, previous + 1):
            where = "the first block" if previous == 0 else f"after block {previous}"
            found.append(
                f"stratum {stratum}: blocks must be numbered 1, 2, 3 … in sequence order "
                f"(sequence {sequence} is in block {block}, {where})"
            )
            break
        previous = block

    blocks: dict[int, list[str | None]] = defaultdict(list)
    for row in rows:
        if row.block is not None:
            blocks[row.block].append(row.arm)
    for number, block_arms in sorted(blocks.items()):
        known = [arm for arm in block_arms if arm is not None]
        if len(known) == len(block_arms) and _block_unbalanced(known, arms):
            counts = Counter(known)
            shown = _join_words([f"{counts[arm]} × {arm}" for arm in arms])
            found.append(f"stratum {stratum}, block {number}: {shown}; a block must hold each arm equally")
    return found


def parse_allocation_csv(text: str, *, arms: Sequence[str] = ARMS) -> tuple[PlannedSlot, ...]:
    """Read an allocation list file (see ``CSV_COLUMNS``), sorted by (stratum, sequence).

    The header row is required and must name exactly the four columns, in any order, in any case, with
    surrounding spaces ignored; values have surrounding spaces ignored too; blank lines are skipped. Each
    slot's ``block_size`` is the number of rows in its block. The whole file is refused if anything is wrong:
    AllocationError lists every problem, one per line, with its line number where it has one: an unknown arm,
    a value that is not a whole number ≥ 1, a sequence number that appears twice, a gap in a stratum's
    sequence, blocks not numbered 1, 2, 3 … as contiguous runs in sequence order, a block that does not hold
    each arm equally, a row with the wrong number of values, a wrong header, an empty file or no rows.
    """
    arm_tuple = _check_arms(arms)
    line_problems: list[tuple[int, str]] = []
    rows, fatal = _read_rows(text, arm_tuple, line_problems)
    if fatal:
        raise AllocationError(fatal)
    by_stratum: dict[str, list[_Row]] = defaultdict(list)
    for row in rows:
        if row.stratum is not None:
            by_stratum[row.stratum].append(row)
    stratum_problems: list[str] = []
    for stratum in sorted(by_stratum):
        stratum_problems.extend(_stratum_problems(stratum, by_stratum[stratum], arm_tuple, line_problems))
    problems = [message for _, message in sorted(line_problems, key=lambda item: item[0])] + stratum_problems
    if problems:
        raise AllocationError("\n".join(problems))

    sizes = Counter((row.stratum, row.block) for row in rows)
    return tuple(
        sorted(
            PlannedSlot(
                stratum=row.stratum,
                sequence=row.sequence,
                block=row.block,
                block_size=sizes[(row.stratum, row.block)],
                arm=row.arm,
            )
            for row in rows
            if row.stratum is not None and row.sequence is not None and row.block is not None and row.arm is not None
        )
    )
