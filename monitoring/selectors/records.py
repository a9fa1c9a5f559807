"""The clinical record a query, verification, signature or lock is about: how to name it, find its page, place it
in a participant's casebook, and find it from a form's name and id. Monitoring reads every app; no app imports
it."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.urls import reverse

from safety.models import AdverseEvent, SaeReport
from screening.models import Participant
from trial_site.audit.base import ClinicalRecord


def record_key(record: models.Model) -> tuple[ContentType, int]:
    return ContentType.objects.get_for_model(record, for_concrete_model=True), record.pk


def record_label(record: models.Model) -> str:
    """ "Vital signs, W4" — the form's name, and the visit when it belongs to one."""
    name = str(record._meta.verbose_name)
    visit = getattr(record, "visit", None) if hasattr(record, "visit_id") else None
    name = name[:1].upper() + name[1:]
    return f"{name}, {visit.code}" if visit is not None else name


def record_participant_id(record: models.Model) -> int | None:
    """The participant who owns the record (``ClinicalRecord.participant_path``, said once on each model)."""
    owner = getattr(record, "participant_id_of", None)
    return owner() if owner else None


def record_participant(record: models.Model) -> Any:
    """The participant whose casebook holds ``record`` (the record itself when it is one), with its numbers only."""
    if isinstance(record, Participant):
        return record
    participant_id = record_participant_id(record)
    return Participant.objects.filter(pk=participant_id).only("screening_number").first() if participant_id else None


def record_visit_id(record: models.Model) -> int | None:
    scope = getattr(record, "lock_scope", None)
    return scope()[1] if scope else None


def record_url(record: models.Model) -> str:
    """The page where the record is seen and entered."""
    if isinstance(record, Participant):
        return reverse("screening:participant", args=[record.screening_number])
    if isinstance(record, AdverseEvent):
        return reverse("safety:event", args=[record.pk])
    if isinstance(record, SaeReport):
        return reverse("safety:event", args=[record.adverse_event_id])
    form_code = getattr(record, "form_code", None)
    if form_code and getattr(record, "visit_id", None):
        return reverse("visits:crf", args=[record.visit_id, form_code])
    slug = getattr(record, "slug", None)
    participant = getattr(record, "participant", None)
    if slug and participant is not None:
        return reverse("screening:form", args=[participant.screening_number, slug])
    if record._meta.model_name == "visit":
        return reverse("visits:visit", args=[record.pk])
    if participant is not None:
        return reverse("screening:participant", args=[participant.screening_number])
    return ""


def record_from(content_type: ContentType, object_id: int) -> Any:
    return content_type.get_object_for_this_type(pk=object_id)


def is_clinical_model(model: type[models.Model] | None) -> bool:
    return model is not None and issubclass(model, ClinicalRecord) and not model._meta.abstract


def record_for_form(form: str, object_id: Any) -> tuple[type[models.Model], Any] | None:
    """The model of ``form`` (``app_label.model``) when it is a clinical form, and the id as a number."""
    try:
        model = apps.get_model(form)
        number = int(object_id)
    except (LookupError, ValueError, TypeError):
        return None
    if not issubclass(model, ClinicalRecord):
        return None
    return model, number
