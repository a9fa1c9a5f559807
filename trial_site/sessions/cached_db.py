"""Sessions read from the cache (Redis) and written through to the database, renewed every
``SESSION_RENEW_SECONDS`` (``trial_site.sessions``).

A request reads its session from Redis: no query. A save (a login, a change, a renewal) writes the row and the
cache. When Redis does not answer, every operation falls back to the database (logged): users stay logged in and
pages answer, as with database sessions. A session due for renewal is read from its row, not from the cache: so a
copy left in Redis by a logout while Redis could not be reached ends at its next renewal, at most
``SESSION_RENEW_SECONDS`` after its last save.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.sessions.backends import cached_db

from trial_site.sessions import RenewedSession

logger = logging.getLogger("trial_site.sessions")


class SessionStore(RenewedSession, cached_db.SessionStore):
    def load(self) -> dict[str, Any]:
        try:
            data = self._cache.get(self.cache_key)
        except Exception as error:  # a cache that does not answer, or a key it refuses: read the database
            logger.warning("session cache unavailable, reading the database: %s", error)
            data = None
        if data is not None and not self._due(data):
            return data
        # Not in the cache, or due for renewal: the row decides (a copy that outlived its row is no session).
        session_key = self.session_key
        row = self._get_session_from_db()
        if row is None:
            if data is not None and session_key:
                self._cache_delete(session_key)
            return {}
        data = self.decode(row.session_data)
        self._cache_set(data, self.get_expiry_age(expiry=row.expire_date))
        return self._mark_if_due(data)

    def exists(self, session_key: str | None) -> bool:
        if not session_key:
            return False
        try:
            if (self.cache_key_prefix + session_key) in self._cache:
                return True
        except Exception as error:
            logger.warning("session cache unavailable, asking the database: %s", error)
        return super(cached_db.SessionStore, self).exists(session_key)

    def save(self, must_create: bool = False) -> None:
        self._stamp(self._get_session(no_load=must_create))
        super(cached_db.SessionStore, self).save(must_create)
        self._cache_set(self._session, self.get_expiry_age())

    def delete(self, session_key: str | None = None) -> None:
        super(cached_db.SessionStore, self).delete(session_key)
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        self._cache_delete(session_key)

    def _cache_delete(self, session_key: str) -> None:
        try:
            self._cache.delete(self.cache_key_prefix + session_key)
        except Exception:
            logger.exception("a session could not be deleted from the cache; its row decides at its next renewal")

    def _cache_set(self, data: dict[str, Any], age: int) -> None:
        try:
            self._cache.set(self.cache_key, data, age)
        except Exception as error:
            logger.warning("session cache unavailable, the session is kept in the database only: %s", error)
