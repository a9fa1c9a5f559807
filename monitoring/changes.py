"""What a change to clinical data sets off in monitoring (the ``clinical_record_changed`` follow-up, in the change's own
transaction): verification of the form is cleared, signatures that cover it are invalidated, an open query on it
gets the correction linked, and the protocol's edit checks run."""

from __future__ import annotations

from typing import Any

from django.db import models

from monitoring.edit_checks import edit_checks_run
from monitoring.queries import queries_link_correction
from monitoring.signatures import signatures_invalidate_for_change
from monitoring.verification import verification_clear_for_change


def clinical_record_changed(record: models.Model, *, created: bool, by: Any, reason: str) -> None:
    if not created:
        verification_clear_for_change(record, by=by, reason=reason)
        queries_link_correction(record, by=by, reason=reason)
    signatures_invalidate_for_change(record, by=by, reason=reason, created=created)
    edit_checks_run(record, by=by)
