"""The acting user of the current request, task or command.

The request middleware sets it for every request; tasks and management commands wrap their work in
``acting_as(user)``. Services may also pass ``by=user`` explicitly, which always wins.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

_current_actor: ContextVar[Any] = ContextVar("trial_site_current_actor", default=None)


def current_actor() -> AbstractBaseUser | None:
    """The authenticated user acting now, or ``None`` (anonymous request, or no actor set)."""
    actor = _current_actor.get()
    if actor is None or not getattr(actor, "is_authenticated", False):
        return None
    return actor


@contextmanager
def acting_as(user: Any) -> Iterator[None]:
    """Attribute every change made inside the block to ``user`` (may be a lazy request user)."""
    token = _current_actor.set(user)
    try:
        yield
    finally:
        _current_actor.reset(token)
