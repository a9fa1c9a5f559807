"""Moving a stored session back in time, as if ``passed`` had gone by since it was last saved, without waiting:
its expiry in the database and in the cache (Redis: the key's time to live) and the stamp of its last save
(``trial_site.sessions.RENEWED_AT``) all move by the same amount. Works with either session store."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.sessions.backends.cached_db import KEY_PREFIX
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.utils import timezone

from trial_site.sessions import RENEWED_AT


def cached() -> bool:
    return settings.SESSION_ENGINE == "trial_site.sessions.cached_db"


def session_age_back(session_key: str, passed: timedelta) -> None:
    row = Session.objects.get(pk=session_key)
    data = row.get_decoded()
    data[RENEWED_AT] -= int(passed.total_seconds())
    row.session_data = Session.objects.encode(data)
    row.expire_date -= passed
    row.save()
    if cached():
        cache = caches[settings.SESSION_CACHE_ALIAS]
        left = int((row.expire_date - timezone.now()).total_seconds())
        if left > 0:
            cache.set(KEY_PREFIX + session_key, data, left)
        else:
            cache.delete(KEY_PREFIX + session_key)


def time_left(session_key: str) -> dict[str, float | None]:
    """Seconds the session has left: in the database, and in the cache (None without one or when it is not there)."""
    row = Session.objects.get(pk=session_key)
    in_cache = None
    if cached():
        cache = caches[settings.SESSION_CACHE_ALIAS]
        key = cache.make_and_validate_key(KEY_PREFIX + session_key)
        ttl = cache._cache.get_client(key).ttl(key)
        in_cache = float(ttl) if ttl >= 0 else None
    return {"database": (row.expire_date - timezone.now()).total_seconds(), "cache": in_cache}
