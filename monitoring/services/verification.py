"""Source data verification (SDV): a monitor marks a form, or some of its fields, verified against the source
documents; any later change of the form clears the verification, visibly and in its history. What the plan asks
is read in ``monitoring.selectors.sdv_plan``; progress in ``monitoring.selectors.verification``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from monitoring.models import SourceVerification
from monitoring.selectors.records import record_key, record_participant_id
from monitoring.selectors.verification import display_name, verifiable_fields
from monitoring.services.probes import VERIFIED
from trial_site.hooks import probed
from trial_site.permissions import require


@transaction.atomic
def verification_record(*, record: models.Model, fields: list[str], by: Any) -> SourceVerification:
    """``by`` (a monitor) verified ``record`` against the source: the whole form (``fields`` empty) or those
    fields. Refused when the form is verified already and no change has cleared it since."""
    site = record.site  # type: ignore[attr-defined]
    require(by, "monitoring.verify_source", site)
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


def verification_clear_for_change(*, record: Any, by: Any, reason: str) -> None:
    """After a change of a saved record (in its transaction): clear the verification in force, with who changed
    it and why, so the form is verified again. The clearing is in the verification's history. No query when the
    save's read of the row found no verification in force (``monitoring.services.probes``)."""
    if probed(record, VERIFIED) is False:
        return
    content_type, object_id = record_key(record)
    cleared_reason = (_("changed by %(user)s: %(reason)s") % {"user": by.get_username(), "reason": reason})[:300]
    now = timezone.now()
    for verification in SourceVerification.objects.filter(
        content_type=content_type, object_id=object_id, cleared_at__isnull=True
    ):
        verification.cleared_at = now
        verification.cleared_reason = cleared_reason
        verification.save(by=by, reason=cleared_reason)
