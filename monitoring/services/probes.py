"""What the ``clinical_record_changed`` follow-ups ask the audited save to read with the saved row it locks
(``trial_site.hooks``: a follow-up's ``probe``): whether the record has a verification in force, an unresolved
query, a signature in force covering it. Each follow-up with nothing to do then costs no query of its own; one
with something to do reads what it needs itself (``verification_clear_for_change``, ``queries_link_correction``,
``signatures_invalidate_for_change``)."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Exists, Q

from monitoring.models import DataQuery, Signature, SourceVerification
from monitoring.selectors.queries import UNRESOLVED
from monitoring.selectors.signatures import covering

VERIFIED = "monitoring_verified"  # a source verification in force on the record
QUERIED = "monitoring_queried"  # an unresolved query on the record
SIGNED = "monitoring_signed"  # a signature in force covering the record, its visit or its casebook


def _of_record(record: models.Model) -> dict[str, Any]:
    """The filter of rows that name ``record`` by content type and id, matched by name (no content-type look-up)."""
    meta = record._meta.concrete_model._meta
    return {"content_type__app_label": meta.app_label, "content_type__model": meta.model_name, "object_id": record.pk}


def record_changed_probe(record: models.Model) -> dict[str, Any]:
    """The probes of a change of the saved ``record`` (never asked for a new one: nothing of it exists yet)."""
    mine = _of_record(record)
    return {
        VERIFIED: Exists(SourceVerification.objects.filter(cleared_at__isnull=True, **mine)),
        QUERIED: Exists(DataQuery.objects.filter(status__in=UNRESOLVED, **mine)),
        SIGNED: Exists(Signature.objects.filter(_signatures_covering(record), invalidated_at__isnull=True)),
    }


def _signatures_covering(record: models.Model) -> Q:
    """``monitoring.selectors.signatures.covering`` with the form's own signatures matched by name."""
    return Q(scope=Signature.Scope.FORM, **_of_record(record)) | covering(record, with_form=False)
