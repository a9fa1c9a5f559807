"""Tallies: counts kept in rows of their own (a few per site) by the services that change what they count, so that
pages read a few rows instead of counting the trial. A service adds its difference in its own transaction with
``tally_add``: one upsert, rows in key order (two transactions lock them in the same order, so they wait for each
other and never deadlock). Each tally has an invariant (``check_invariants``) that counts afresh and repairs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, models, transaction

from trial_site.invariants import Finding


def tally_add(
    model: type[models.Model],
    keys: Sequence[str],
    counts: Sequence[str],
    differences: Mapping[tuple[Any, ...], Mapping[str, int]],
) -> None:
    """Add ``differences`` (key values, in the order of the ``keys`` columns → count column → difference) to the
    tally table of ``model``, whose unique constraint is on ``keys``. Differences of nothing are left out."""
    rows = sorted(
        (key, difference) for key, difference in differences.items() if any(difference.get(n, 0) for n in counts)
    )
    if not rows:
        return
    table = model._meta.db_table
    columns = ", ".join([*keys, *counts])
    values = ", ".join(["(" + ", ".join(["%s"] * (len(keys) + len(counts))) + ")"] * len(rows))
    added = ", ".join(f"{name} = {table}.{name} + excluded.{name}" for name in counts)
    parameters = [value for key, difference in rows for value in (*key, *(difference.get(n, 0) for n in counts))]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) VALUES {values} "  # noqa: S608 (names are ours, values parameters)
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {added}",
            parameters,
        )


Counts = Mapping[tuple[Any, ...], Mapping[str, int]]


@dataclass(frozen=True)
class Tally:
    """One tally table: its model, the columns of its unique key, its count columns, and how a key is named in an
    invariant's problem. Read, rewritten and checked the same way for every tally."""

    model: type[models.Model]
    keys: tuple[str, ...]
    counts: tuple[str, ...]
    named: Callable[[tuple[Any, ...]], str]

    def add(self, differences: Mapping[tuple[Any, ...], Mapping[str, int]]) -> None:
        """Add a service's ``differences`` to the table (``tally_add``: one upsert, keys in order)."""
        tally_add(self.model, self.keys, self.counts, differences)

    def stored(self) -> dict[tuple[Any, ...], Counter[str]]:
        """The table as it holds its counts: key values → count column → count (rows and counts of nothing left
        out)."""
        width = len(self.keys)
        stored = {}
        for row in self.model._default_manager.values_list(*self.keys, *self.counts):
            held = +Counter(dict(zip(self.counts, row[width:], strict=True)))
            if held:
                stored[tuple(row[:width])] = held
        return stored

    def rewrite(self, wanted: Counts) -> None:
        """Make the table hold ``wanted`` (key values → count column → count; a key or count left out is
        nothing), its rows locked meanwhile, in key order (an invariant's repair)."""
        with transaction.atomic():
            held = {
                tuple(getattr(tally, key) for key in self.keys): tally
                for tally in self.model._default_manager.select_for_update().order_by(*self.keys)
            }
            for key in sorted(set(held) | set(wanted)):
                tally = held.get(key) or self.model(**dict(zip(self.keys, key, strict=True)))
                values = wanted.get(key, {})
                if tally.pk is None or any(getattr(tally, name) != values.get(name, 0) for name in self.counts):
                    for name in self.counts:
                        setattr(tally, name, values.get(name, 0))
                    tally.save()

    def check(self, holds: str, counted: Counts, *, repair: bool) -> Finding:
        """The invariant ``holds`` of this tally: its rows hold ``counted`` (what the rows it counts give when
        counted afresh); each difference is a problem, and the repair writes the counts afresh."""
        finding = Finding(holds)
        afresh = {key: held for key, values in counted.items() if (held := +Counter(values))}
        stored = self.stored()
        wrong = sorted(key for key in set(afresh) | set(stored) if afresh.get(key) != stored.get(key))

        def shown(values: Counter[str] | None) -> object:
            values = values or Counter()
            return values[self.counts[0]] if len(self.counts) == 1 else dict(values)

        finding.problems = [
            f"{self.named(key)}: tally {shown(stored.get(key))}, counted {shown(afresh.get(key))}" for key in wrong
        ]
        if repair and wrong:
            self.rewrite(afresh)
            finding.repaired = [f"{self.named(key)}: counted afresh" for key in wrong]
        return finding
