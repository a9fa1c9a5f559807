"""Values derived from the database, kept in the shared cache (Redis) under a *generation* that writes replace.

A ``Generation`` is a random token in Redis. A value is cached under a key naming the generation; a write of the
rows the value is derived from calls ``bump()``: a new token at once (so the writing transaction does not read the
value cached before its write) and again when the transaction commits (so a value read by another host before the
commit, and cached under the first new token, is never read again). Every host reads the new token on its next
use: nothing is ever served stale across hosts, and no host keeps a copy of its own.

A value is put in the cache only outside a transaction (what is read then is committed), and the cache is not
read by a transaction that has just bumped the generation (it must read its own rows). Without Redis (the demo:
a cache per process, which other processes could not invalidate) nothing is cached; when Redis fails, the
database answers, and a token that could not be replaced is outlived by the values' timeouts.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction

logger = logging.getLogger(__name__)

MISSING = object()


def shared() -> bool:
    """Whether the cache is shared by every host (Redis)."""
    return "redis" in settings.CACHES["default"]["BACKEND"].lower()


class Generation:
    def __init__(self, name: str, *, fill_in_transactions: bool = False) -> None:
        """``fill_in_transactions``: the value depends only on rows whose every write bumps this generation, so a
        transaction that has not bumped it reads what is committed (READ COMMITTED) and may cache it."""
        self.name = name
        self.key = f"generation:{name}"
        self.fill_in_transactions = fill_in_transactions

    def current(self) -> str | None:
        """The token (made if missing); None without a shared cache, when Redis fails, or while this thread's
        transaction has just bumped it (it must read the database)."""
        if not shared():
            return None
        try:
            token = cache.get(self.key)
            if token is None:
                cache.add(self.key, uuid.uuid4().hex, timeout=None)
                token = cache.get(self.key)
        except Exception:  # Redis down or hanging: the database answers
            logger.warning("generation %s: the shared cache does not answer", self.name, exc_info=True)
            return None
        if connection.in_atomic_block and self._bumped_in_this_transaction():
            return None
        return token

    def _bumped_in_this_transaction(self) -> bool:
        """Whether this thread's open transaction wrote the rows: its replacement of the token on commit is still
        due (Django drops the callbacks of a transaction, or savepoint, that rolled back)."""
        return any(
            getattr(callback, "__self__", None) is self and getattr(callback, "__func__", None) is Generation._replace
            for _savepoints, callback, _robust in connection.run_on_commit
        )

    def bump(self) -> None:
        """The rows were written: a new token now, and inside a transaction another when it commits (until then this
        thread's transaction reads its own rows; a write in autocommit is committed already)."""
        self._replace()
        if connection.in_atomic_block:
            transaction.on_commit(self._replace)

    def _replace(self) -> str | None:
        if not shared():
            return None
        token = uuid.uuid4().hex
        try:
            cache.set(self.key, token, timeout=None)
        except Exception:
            logger.error("generation %s: the new token was not written to the shared cache", self.name, exc_info=True)
        return token

    def get(self, token: str, part: str) -> Any:
        """The value cached for ``part`` under ``token``, or ``MISSING``."""
        try:
            return cache.get(f"{self.key}:{token}:{part}", MISSING)
        except Exception:
            return MISSING

    def put(self, token: str, part: str, value: Any, timeout: int) -> None:
        """Cache ``value`` under ``token``: outside a transaction, or (``fill_in_transactions``) inside one that has
        not written the rows (inside one that has, it may not be committed)."""
        if connection.in_atomic_block and (not self.fill_in_transactions or self._bumped_in_this_transaction()):
            return
        try:
            cache.set(f"{self.key}:{token}:{part}", value, timeout=timeout)
        except Exception:
            logger.warning("generation %s: a value was not cached", self.name, exc_info=True)
