"""Counts that stop: a list's count is read up to ``COUNT_CAP`` and shown as "1,000+" beyond it, so that counting
costs no more at 50,000 participants than at 500 (counting every row would cost as much as reading them). Used by
the home page's to-do lists, the paged lists (``visits.paging``) and the monitor's forms to verify."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

# A count above this is shown as "more than …" / "1,000+".
COUNT_CAP = 1000


def capped_count(rows: Any, cap: int = COUNT_CAP, *, ordered: bool = False) -> tuple[int, bool]:
    """The number of rows, at most ``cap`` (one ``COUNT`` over a ``LIMIT cap + 1`` subquery), and whether there
    are more. ``rows``: a queryset, a list, or an object with its own ``capped_count(cap)`` (an audit trail).

    ``ordered``: count the first rows in the queryset's own order (the list's, which an index serves): the rows are
    then read along that index. Unordered, the planner may walk another index and filter most of the table away
    (the missing forms at 50,000 participants: 223 ms unordered, 17 ms in the list's order)."""
    if hasattr(rows, "capped_count"):
        found = rows.capped_count(cap)
    elif isinstance(rows, QuerySet):
        found = (rows if ordered else rows.order_by())[: cap + 1].count()
    else:
        found = len(rows)
    return min(found, cap), found > cap
