"""Database sessions renewed every ``SESSION_RENEW_SECONDS`` instead of on every request (``trial_site.sessions``)."""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.backends import db

from trial_site.sessions import RenewedSession


class SessionStore(RenewedSession, db.SessionStore):
    def load(self) -> dict[str, Any]:
        return self._mark_if_due(super().load())

    def save(self, must_create: bool = False) -> None:
        self._stamp(self._get_session(no_load=must_create))
        super().save(must_create)
