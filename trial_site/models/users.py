"""The history of staff accounts: Django's user model is registered with the audit kernel's history, so every
change to an account (names, e-mail, active, staff and superuser flags) is kept with who, when and why.

The password hash and the time of the last login are not copied into the history: old hashes must not be kept
for ever, and the access log records every login. A save that changes only the last login (Django does one at
each login) writes no history row; a password change writes one (which fields changed is then empty, the reason
says what happened). Accounts are saved through ``trial_site.audit.base.save_user``.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from simple_history import register

from trial_site.audit.history import AuditedHistoricalRecords

NOT_IN_HISTORY = ("password", "last_login")


class UserHistoricalRecords(AuditedHistoricalRecords):
    """The kernel's history, minus the rows Django's login would write (``last_login`` only)."""

    def post_save(self, instance: Any, created: bool, using: Any = None, **kwargs: Any) -> None:
        update_fields = kwargs.get("update_fields")
        if not created and update_fields is not None and set(update_fields) <= {"last_login"}:
            return
        super().post_save(instance, created, using=using, **kwargs)


# The project uses Django's own user model (no AUTH_USER_MODEL): its history model lives in this app.
register(User, app="trial_site", records_class=UserHistoricalRecords, excluded_fields=list(NOT_IN_HISTORY))
