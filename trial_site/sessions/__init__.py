"""Sessions that are read without a query and written only when something changes or their clock needs renewing.

A session lives ``SESSION_COOKIE_AGE`` (30 minutes) after it was last saved. Django's ``SESSION_SAVE_EVERY_REQUEST``
kept that clock sliding by writing the session on every request; here a session is written again only when
``SESSION_RENEW_SECONDS`` (2 minutes) have passed since its last save (``needs_renewal``), which every save stamps
into the session (``RENEWED_AT``). So an idle session ends between 28 and 30 minutes after the last request, never
later, and an active user costs at most one write every 2 minutes.

Two stores (``SESSION_ENGINE``): ``trial_site.sessions.cached_db`` with a shared cache (Redis) and
``trial_site.sessions.db`` without one (the demo, whose cache is each process's own memory).
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings

# Seconds since the epoch of the session's last save (and so of the start of its current 30 minutes).
RENEWED_AT = "_trial_renewed_at"


def needs_renewal(renewed_at: Any, now: float, renew_after: float) -> bool:
    """True when a session last saved at ``renewed_at`` must be saved again at ``now`` to keep its idle clock: at
    least ``renew_after`` seconds have passed, or the stamp is missing, not a number or in the future."""
    if not isinstance(renewed_at, int | float) or isinstance(renewed_at, bool):
        return True
    return not 0 <= now - renewed_at < renew_after


class RenewedSession:
    """Mixin for a session store: every save stamps ``RENEWED_AT``; a session loaded with an old stamp is marked
    modified, so that ``SessionMiddleware`` saves it (and with it its expiry) at the end of the request."""

    modified: bool

    def _stamp(self, data: dict[str, Any]) -> None:
        data[RENEWED_AT] = int(time.time())

    def _due(self, data: dict[str, Any]) -> bool:
        return bool(data) and needs_renewal(data.get(RENEWED_AT), time.time(), settings.SESSION_RENEW_SECONDS)

    def _mark_if_due(self, data: dict[str, Any]) -> dict[str, Any]:
        if self._due(data):
            self.modified = True
        return data
