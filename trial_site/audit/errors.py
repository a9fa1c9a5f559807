"""Errors the audit kernel raises. Each is a ``ValidationError`` so forms and views show it to the user."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _


class ReasonForChangeRequired(ValidationError):
    """Saved clinical data was about to be changed or deleted without a reason."""

    def __init__(self) -> None:
        super().__init__(_("A reason for change is required to change or delete saved data."), code="reason_required")


class AttributionRequired(ValidationError):
    """A change to clinical data had no acting user: every change must be attributable."""

    def __init__(self) -> None:
        super().__init__(_("Every change to clinical data must name the user who makes it."), code="actor_required")


class AppendOnlyViolation(ValidationError):
    """An append-only record (history, access log) was about to be changed or deleted."""

    def __init__(self, what: str) -> None:
        super().__init__(
            _("%(what)s is append-only: it cannot be changed or deleted."),
            code="append_only",
            params={"what": what},
        )


class BulkChangeRefused(ValidationError):
    """A queryset-wide create, update or delete would bypass reasons and history."""

    MESSAGES = {
        "create": _("Creating clinical records in bulk is not allowed: create them one by one."),
        "update": _("Changing clinical records in bulk is not allowed: change them one by one, with a reason."),
        "delete": _("Deleting clinical records in bulk is not allowed: delete them one by one, with a reason."),
    }

    def __init__(self, operation: str) -> None:
        super().__init__(self.MESSAGES[operation], code="bulk_refused", params={"operation": operation})


class EditConflict(ValidationError):
    """The record changed since the form was opened (someone else saved it): nothing was written.

    ``changes`` says who changed which field when, from what to what; ``yours`` names the fields this user changed
    against the version they opened; ``current_version`` is the version to carry when the user saves again.
    """

    def __init__(self, *, changes: list[Any], yours: list[str], current_version: int | None) -> None:
        people = sorted({change.by for change in changes}) or [str(_("another user"))]
        super().__init__(
            _(
                "Not saved: %(people)s changed this record after you opened it. Their values are shown beside "
                "yours below; your entries are kept. Check them and save again."
            ),
            code="edit_conflict",
            params={"people": ", ".join(people)},
        )
        self.changes, self.yours, self.current_version = changes, yours, current_version
