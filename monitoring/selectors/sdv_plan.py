"""The source data verification plan, from the registry of forms (``trial_site.registry``): each form says whether
it is verified in full, sampled, or not at all (``FormSpec.verification``); of the sampled forms a stable sample of
participants is verified (``sdv_in_sample``, at ``PROTOCOL.monitoring.sdv_sample_percent``)."""

from __future__ import annotations

import hashlib

from django.db import models

from trial_site import registry
from trial_site.audit.base import ClinicalRecord
from trial_site.protocol import PROTOCOL
from trial_site.registry import Verification


def form_name(model: type[models.Model]) -> str:
    """``app_label.model``, as the SDV plan and the audit trail name forms."""
    return model._meta.label_lower


def sdv_forms() -> list[type[ClinicalRecord]]:
    """Every form the SDV plan covers: the forms verified in full, then the sampled ones."""
    return [form.model for form in _verified(Verification.FULL)] + [
        form.model for form in _verified(Verification.SAMPLE)
    ]  # type: ignore[misc]


def _verified(how: Verification) -> list[registry.RegisteredForm]:
    return [form for form in registry.forms() if form.spec.verification == how]


def sdv_full() -> set[str]:
    """The forms (``app_label.model``) verified in full."""
    return {form.name for form in _verified(Verification.FULL)}


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
    if form in sdv_full():
        return True
    if participant_id is None or form not in {sampled.name for sampled in _verified(Verification.SAMPLE)}:
        return False
    return sdv_in_sample(participant_id, form)
