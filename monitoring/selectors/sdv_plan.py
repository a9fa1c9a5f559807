"""The protocol's SDV plan (``PROTOCOL.monitoring``): which forms are verified in full (``sdv_full``); of the other
visit forms a stable sample is verified (``sdv_in_sample``)."""

from __future__ import annotations

import hashlib

from django.apps import apps
from django.db import models

from trial_site.audit.base import ClinicalRecord
from trial_site.protocol import PROTOCOL
from visits.crfs import VISIT_CRFS


def form_name(model: type[models.Model]) -> str:
    """``app_label.model``, as the protocol's SDV plan names forms."""
    return model._meta.label_lower


def sdv_forms() -> list[type[ClinicalRecord]]:
    """Every form the SDV plan covers: the forms verified in full, and the visit CRFs (sampled unless in full)."""
    full = [apps.get_model(label) for label in PROTOCOL.monitoring.sdv_full]
    return full + [model for model in VISIT_CRFS if model not in full]


def sdv_in_sample(participant_id: int, form: str) -> bool:
    """Whether the sample includes ``form`` (``app_label.model``) of this participant.

    The choice is deterministic, so it never changes from one page to the next nor between runs: the first 8 hex
    digits of SHA-256 of ``"<participant id>:<form>"``, as a number modulo 100, below
    ``PROTOCOL.monitoring.sdv_sample_percent``. About that percentage of the (participant, form) pairs is drawn,
    and every record of a drawn pair (the form at each visit) is then to be verified.
    """
    digest = hashlib.sha256(f"{participant_id}:{form}".encode()).hexdigest()
    return int(digest[:8], 16) % 100 < PROTOCOL.monitoring.sdv_sample_percent


def sdv_required(participant_id: int | None, form: str) -> bool:
    """Whether the SDV plan requires this form of this participant to be verified (in full, or sampled)."""
    if form in PROTOCOL.monitoring.sdv_full:
        return True
    if participant_id is None or form not in {form_name(model) for model in VISIT_CRFS}:
        return False
    return sdv_in_sample(participant_id, form)
