"""Reads of source data verification: the fields a monitor can verify, the verification in force on a form, and
SDV progress per site and participant against the plan (``monitoring.selectors.sdv_plan``)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models

from monitoring.models import SourceVerification
from monitoring.selectors.records import record_key
from monitoring.selectors.sdv_plan import form_name, sdv_forms, sdv_required
from screening.models import Participant
from trial_site.models import Site
from trial_site.scoping import scope_to_user_sites

# The progress page lists the sites where a role the user holds there may read the verifications.
VIEW_VERIFICATION = "monitoring.view_sourceverification"
# Fields that are bookkeeping, never source data: not offered for (or accepted in) a field-level verification.
_NOT_SOURCE_DATA = frozenset({"id", "site", "status", "unusual_values_confirmed"})


def verifiable_fields(model: type[models.Model]) -> list[models.Field]:
    """The fields of a form a monitor can verify one by one: the data entered on it, in form order."""
    return [
        model_field
        for model_field in model._meta.concrete_fields
        if model_field.editable and not model_field.primary_key and model_field.name not in _NOT_SOURCE_DATA
    ]


def display_name(user: Any) -> str:
    return user.get_full_name() or user.get_username()


def verification_in_force(record: models.Model) -> SourceVerification | None:
    content_type, object_id = record_key(record)
    return (
        SourceVerification.objects.filter(content_type=content_type, object_id=object_id, cleared_at__isnull=True)
        .select_related("verified_by")
        .first()
    )


def verification_latest(record: models.Model) -> SourceVerification | None:
    """The verification in force on the record, else the one cleared last (None when never verified)."""
    content_type, object_id = record_key(record)
    return (
        SourceVerification.objects.filter(content_type=content_type, object_id=object_id)
        .select_related("verified_by")
        .order_by("cleared_at", "-verified_at", "-pk")  # the one in force (no cleared_at) first
        .first()
    )


@dataclass
class ProgressRow:
    """SDV progress of one participant or one site: forms the plan requires, and how many are verified now."""

    label: str
    required: int = 0
    verified: int = 0
    site: str = ""
    to_verify: list[tuple[str, str, int]] = field(default_factory=list)  # (label, app_label.model, id)

    @property
    def percent(self) -> int:
        return round(100 * self.verified / self.required) if self.required else 100


def _participant_path(model: type[models.Model]) -> str:
    return model.participant_path  # type: ignore[attr-defined,no-any-return]  # ClinicalRecord's, said once


def sdv_progress(user: Any) -> tuple[list[ProgressRow], list[ProgressRow]]:
    """(per site, per participant) SDV progress at the sites where the user may read it (``VIEW_VERIFICATION``
    there; a role counts at its own site only): the forms entered that the plan requires
    (in full or in the sample) against those with a verification in force. One query per kind of form, whatever
    the number of participants."""
    participants = {
        participant.pk: participant
        for participant in scope_to_user_sites(
            Participant.objects.select_related("site"), user, permission=VIEW_VERIFICATION
        )
    }
    in_force = set(
        scope_to_user_sites(
            SourceVerification.objects.filter(cleared_at__isnull=True), user, permission=VIEW_VERIFICATION
        ).values_list("content_type_id", "object_id")
    )
    rows = {
        pk: ProgressRow(label=participant.screening_number, site=participant.site.code)
        for pk, participant in participants.items()
    }
    content_types = ContentType.objects.get_for_models(*sdv_forms())
    for model, content_type in content_types.items():
        form = form_name(model)
        name = str(model._meta.verbose_name)
        name = name[:1].upper() + name[1:]
        has_visit = any(model_field.name == "visit" for model_field in model._meta.fields)
        columns = ["pk", _participant_path(model), *(["visit__code"] if has_visit else [])]
        readable = scope_to_user_sites(model.objects.all(), user, permission=VIEW_VERIFICATION)
        for values in readable.order_by("pk").values_list(*columns):
            pk, participant_id = values[0], values[1]
            row = rows.get(participant_id)
            if row is None or not sdv_required(participant_id, form):
                continue
            row.required += 1
            if (content_type.pk, pk) in in_force:
                row.verified += 1
            else:
                row.to_verify.append((f"{name}, {values[2]}" if has_visit and values[2] else name, form, pk))
    by_participant = [row for row in rows.values() if row.required]
    sites: dict[str, ProgressRow] = defaultdict(lambda: ProgressRow(label=""))
    for row in by_participant:
        total = sites[row.site]
        total.label = total.site = row.site
        total.required += row.required
        total.verified += row.verified
    for site in scope_to_user_sites(Site.objects.all(), user, permission=VIEW_VERIFICATION):
        sites[site.code].label = f"{site.code} {site.name}"
        sites[site.code].site = site.code
    return sorted(sites.values(), key=lambda row: row.site), sorted(by_participant, key=lambda row: row.label)
