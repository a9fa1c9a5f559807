"""The home page's to-do lists, per role: what the user has to do now at their sites, each item one click from
its page, each list with its count, its first rows and a link to the full list.

The lists are built by the apps (``<app>.todo``), named here by dotted path (the kernel imports no app), each
scoped by the permission its items' pages require at the item's site. A user with several roles sees each list
once. Every list runs a fixed number of queries, whatever the number of participants.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db.models import QuerySet
from django.utils.functional import Promise
from django.utils.module_loading import import_string

from trial_site.counting import capped_count
from trial_site.permissions import in_roles, user_roles
from trial_site.roles import Role

# How many items a list shows on the home page; "see all" leads to the rest.
HOME_ROWS = 5

T = TypeVar("T")


@dataclass(frozen=True)
class TodoItem:
    label: str
    detail: str
    url: str
    urgent: bool = False


@dataclass(frozen=True)
class TodoList:
    key: str
    title: str | Promise
    count: int
    items: list[TodoItem]
    see_all_url: str
    empty: str | Promise
    more: bool = False  # the count stopped there: there are more (shown as "1,000+")


# Each role's lists, in the order shown; a list named by two of the user's roles is shown once.
ROLE_LISTS: dict[Role, tuple[str, ...]] = {
    Role.COORDINATOR: (
        "visits.todo.visits_due",
        "visits.todo.missing_forms",
        "monitoring.todo.queries_to_answer",
        "screening.todo.reconsent_due",
    ),
    Role.INVESTIGATOR: (
        "screening.todo.eligibility_to_confirm",
        "safety.todo.events_to_assess",
        "monitoring.todo.visits_to_sign",
        "safety.todo.sae_clocks",
    ),
    Role.BLINDED_ASSESSOR: ("visits.todo.mrss_to_score",),
    Role.MONITOR: ("monitoring.todo.queries_to_close", "monitoring.todo.forms_to_verify"),
    Role.DATA_MANAGER: ("monitoring.todo.queries_open", "monitoring.todo.queries_to_close"),
}


def list_paths(roles: Iterable[Role]) -> list[str]:
    """The dotted paths of the lists of ``roles``, in role order, each once."""
    held = set(roles)
    paths: list[str] = []
    for role in Role:
        if role in held:
            paths.extend(path for path in ROLE_LISTS.get(role, ()) if path not in paths)
    return paths


def home_lists(user: Any) -> list[TodoList]:
    """The to-do lists of ``user``'s roles, each built for the user in the roles that have it (``in_roles``): a list
    covers only the sites where the user holds one of those roles."""
    held = user_roles(user)
    return [
        import_string(path)(in_roles(user, frozenset(role for role in held if path in ROLE_LISTS.get(role, ()))),
                            rows=HOME_ROWS)
        for path in list_paths(held)
    ]  # fmt: skip


def todo_list(
    key: str,
    title: str | Promise,
    rows: QuerySet[T] | Sequence[T],
    item: Callable[[T], TodoItem],
    *,
    limit: int,
    see_all_url: str,
    empty: str | Promise,
    count_in_order: bool = False,
) -> TodoList:
    """A list from ``rows`` (a queryset is counted and sliced in the database: two queries). The count stops at
    ``trial_site.counting.COUNT_CAP`` (shown as "1,000+"), so that it costs no more in a large trial than in a small
    one. ``count_in_order``: count the first rows in the list's own order, for a list whose order an index serves
    (``trial_site.counting.capped_count``)."""
    count, more = capped_count(rows, ordered=count_in_order)
    return TodoList(
        key=key,
        title=title,
        count=count,
        more=more,
        items=[item(row) for row in rows[:limit]],
        see_all_url=see_all_url,
        empty=empty,
    )
