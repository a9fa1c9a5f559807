"""Keyset paging for the long lists: a page is the rows after a cursor (the last row's sort key), read with an index
in the list's order, so that page 100 costs what page 1 costs; the count is capped, so that it costs no more at
50,000 participants than at 500.

A cursor is the text ``<date>.<id>``: the sort key of the last row shown (a date and the row's id, which breaks
ties). Anything else is read as "from the start".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any

from django.core.paginator import Paginator
from django.db.models import Q, QuerySet

from trial_site.counting import capped_count


@dataclass(frozen=True)
class Cursor:
    day: date
    pk: int

    def __str__(self) -> str:
        return f"{self.day.isoformat()}.{self.pk}"

    @classmethod
    def parse(cls, text: str | None) -> Cursor | None:
        day, _, pk = (text or "").partition(".")
        try:
            return cls(date.fromisoformat(day), int(pk))
        except ValueError:
            return None


@dataclass
class KeysetPage:
    """The rows of one page, the cursor of the next page (None on the last), and the count of every row (capped:
    ``count_capped`` when there are more than ``COUNT_CAP``)."""

    rows: list[Any]
    next_cursor: str | None
    count: int
    count_capped: bool
    first: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


class CappedPaginator(Paginator):
    """A paginator whose count stops at ``COUNT_CAP``: the count of a large list costs no more than that of a small
    one; beyond it the page says "more than …" and the filters narrow the list."""

    @cached_property
    def _capped(self) -> tuple[int, bool]:
        return capped_count(self.object_list)

    @cached_property
    def count(self) -> int:
        return self._capped[0]

    @property
    def count_capped(self) -> bool:
        return self._capped[1]


def keyset_page(
    queryset: QuerySet[Any], *, day_field: str, cursor: str | None, per_page: int, pk_field: str = "pk"
) -> KeysetPage:
    """The page of ``queryset`` (ordered here by ``day_field`` then ``pk_field``, both ascending) after ``cursor``."""
    ordered = queryset.order_by(day_field, pk_field)
    count, capped = capped_count(ordered, ordered=True)
    after = Cursor.parse(cursor)
    if after is not None:
        later = Q(**{f"{day_field}__gt": after.day}) | Q(**{day_field: after.day, f"{pk_field}__gt": after.pk})
        ordered = ordered.filter(later)
    rows = list(ordered[: per_page + 1])
    more = len(rows) > per_page
    rows = rows[:per_page]
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = str(Cursor(_value(last, day_field), _value(last, pk_field)))
    return KeysetPage(rows, next_cursor, count, capped, first=after is None)


def _value(row: Any, path: str) -> Any:
    for part in path.split("__"):
        row = getattr(row, part)
    return row
