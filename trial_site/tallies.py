"""Tallies: counts kept in rows of their own (a few per site) by the services that change what they count, so that
pages read a few rows instead of counting the trial. A service adds its difference in its own transaction with
``tally_add``: one upsert, rows in key order (two transactions lock them in the same order, so they wait for each
other and never deadlock). Each tally has an invariant (``check_invariants``) that counts afresh and repairs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connection, models


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
