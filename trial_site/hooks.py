"""Hooks that let an app react to another's change without the other importing it (settings name them)."""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string


def schedule_changed(participant_id: int) -> None:
    """A participant's visits or reminder choices changed: run each callable of ``AFTER_SCHEDULE_CHANGED``
    (the visit reminders are planned again), inside the caller's transaction."""
    for path in settings.AFTER_SCHEDULE_CHANGED:
        import_string(path)(participant_id=participant_id)
