"""The one django-simple-history configuration every clinical model is registered with."""

from __future__ import annotations

from typing import Any

from django.db import models
from simple_history.models import HistoricalRecords

from trial_site.audit.actor import current_actor


def history_user_from_context(instance: Any = None, request: Any = None, **kwargs: Any) -> Any:
    """The user a history row is attributed to when the record does not name one itself.

    ``ClinicalRecord.save`` always sets ``_history_user``; this is the fallback for other audited models
    (sites, memberships): the request's user, else the actor of the running task or command.
    """
    if request is not None and request.user.is_authenticated:
        return request.user
    return current_actor()


class AuditedHistoricalRecords(HistoricalRecords):
    """History with the reason for change stored as text, attributed through ``acting_as`` or the request.

    History is never deleted with its record (``cascade_delete_history`` stays off) and no admin may revert
    it (``SIMPLE_HISTORY_REVERT_DISABLED``). The tables are made append-only by ``ProtectAppendOnly``.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("history_change_reason_field", models.TextField(null=True))
        kwargs.setdefault("get_user", history_user_from_context)
        kwargs["cascade_delete_history"] = False
        super().__init__(**kwargs)


def is_history_model(model: type[models.Model]) -> bool:
    """True for the history models django-simple-history generates (``Historical<Model>``)."""
    return (
        hasattr(model, "instance_type")
        and hasattr(model, "history_type")
        and "history_id" in {field.name for field in model._meta.fields}
    )
