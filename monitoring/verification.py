"""Source data verification (SDV): a monitor marks a form, or some of its fields, verified against the source
documents; any later change of the form clears the verification, visibly and in its history.

The protocol's SDV plan (``PROTOCOL.monitoring``) says which forms are verified in full (``sdv_full``); of the
other forms a sample is verified: see ``sdv_in_sample``.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, models, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from monitoring.models import SourceVerification
from monitoring.records import record_key, record_participant_id
from screening.models import Participant
from trial_site.audit.base import ClinicalRecord
from trial_site.models import Site
from trial_site.permissions import user_can
from trial_site.protocol import PROTOCOL
from trial_site.scoping import scope_to_user_sites
from visits.crfs import VISIT_CRFS

# Fields that are bookkeeping, never source data: not offered for (or accepted in) a field-level verification.
# The progress page lists the sites where a role the user holds there may read the verifications.
VIEW_VERIFICATION = "monitoring.view_sourceverification"
_NOT_SOURCE_DATA = frozenset({"id", "site", "status", "unusual_values_confirmed"})


def form_name(model: type[models.Model]) -> str:
    """``app_label.model``, as the protocol's SDV plan names forms."""
    return model._meta.label_lower


def verifiable_fields(model: type[models.Model]) -> list[models.Field]:
    """The fields of a form a monitor can verify one by one: the data entered on it, in form order."""
    return [
        model_field
        for model_field in model._meta.concrete_fields
        if model_field.editable and not model_field.primary_key and model_field.name not in _NOT_SOURCE_DATA
    ]


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


def verification_in_force(record: models.Model) -> SourceVerification | None:
    content_type, object_id = record_key(record)
    return (
        SourceVerification.objects.filter(content_type=content_type, object_id=object_id, cleared_at__isnull=True)
        .select_related("verified_by")
        .first()
    )


@transaction.atomic
def verification_record(*, record: models.Model, fields: list[str], by: Any) -> SourceVerification:
    """``by`` (a monitor) verified ``record`` against the source: the whole form (``fields`` empty) or those
    fields. Refused when the form is verified already and no change has cleared it since."""
    site = record.site  # type: ignore[attr-defined]
    if not user_can(by, "monitoring.verify_source", site):
        raise PermissionDenied(f"{by} lacks monitoring.verify_source at {site}")
    known = [model_field.name for model_field in verifiable_fields(type(record))]
    unknown = sorted(set(fields) - set(known))
    if unknown:
        raise ValidationError({"fields": _("Not a field of this form: %(names)s.") % {"names": ", ".join(unknown)}})
    content_type, object_id = record_key(record)
    # A row lock on the form's verifications: two monitors verifying at once cannot both record it.
    existing = (
        SourceVerification.objects.select_for_update()
        .filter(content_type=content_type, object_id=object_id, cleared_at__isnull=True)
        .select_related("verified_by")
        .first()
    )
    if existing is not None:
        raise ValidationError(
            {
                "fields": _(
                    "This form was verified already by %(name)s on %(date)s; it can be verified again after a change."
                )
                % {"name": display_name(existing.verified_by), "date": f"{existing.verified_at:%Y-%m-%d}"}
            }
        )
    verification = SourceVerification(
        site=site,
        participant_id=record_participant_id(record),
        content_type=content_type,
        object_id=object_id,
        fields=[name for name in known if name in set(fields)],
        verified_by=by,
        verified_at=timezone.now(),
    )
    try:
        with transaction.atomic():
            verification.save(by=by)
    except IntegrityError as error:  # another monitor verified it at the same moment (one in force per form)
        raise ValidationError({"fields": _("This form was verified a moment ago by someone else.")}) from error
    return verification


def verification_clear_for_change(record: Any, *, by: Any, reason: str) -> None:
    """After a change of a saved record (in its transaction): clear the verification in force, with who changed
    it and why, so the form is verified again. The clearing is in the verification's history."""
    content_type, object_id = record_key(record)
    cleared_reason = (_("changed by %(user)s: %(reason)s") % {"user": by.get_username(), "reason": reason})[:300]
    now = timezone.now()
    for verification in SourceVerification.objects.filter(
        content_type=content_type, object_id=object_id, cleared_at__isnull=True
    ):
        verification.cleared_at = now
        verification.cleared_reason = cleared_reason
        verification.save(by=by, reason=cleared_reason)


def display_name(user: Any) -> str:
    return user.get_full_name() or user.get_username()


def verification_panel(request: Any, record: Any) -> str:
    """On the record's page: verified (by whom, when, which fields), cleared (when, why) or not verified, with
    what the SDV plan asks of this form, and the "Mark verified" form for a monitor."""
    content_type, object_id = record_key(record)
    latest = (
        SourceVerification.objects.filter(content_type=content_type, object_id=object_id)
        .select_related("verified_by")
        .order_by("cleared_at", "-verified_at", "-pk")  # the one in force (no cleared_at) first
        .first()
    )
    model = type(record)
    labels = {model_field.name: str(model_field.verbose_name) for model_field in verifiable_fields(model)}
    user = getattr(request, "user", None)
    form = form_name(model)
    return render_to_string(
        "monitoring/_verification_panel.html",
        {
            "verification": latest,
            "verified_fields": [labels.get(name, name) for name in (latest.fields if latest else [])],
            "verified_by": display_name(latest.verified_by) if latest else "",
            "required": sdv_required(record_participant_id(record), form),
            "in_full": form in PROTOCOL.monitoring.sdv_full,
            "can_verify": user is not None and user_can(user, "monitoring.verify_source", record.site),
            "mark_url": reverse("monitoring:verification_mark"),
            "form": form,
            "object_id": object_id,
            "field_choices": list(labels.items()),
        },
        request=request,
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
    if model._meta.label_lower == "safety.saereport":
        return "adverse_event__participant_id"
    if any(model_field.name == "participant" for model_field in model._meta.fields):
        return "participant_id"
    return "visit__participant_id"


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
