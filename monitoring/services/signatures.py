"""Investigators' electronic signatures of a form, a visit or a whole casebook (21 CFR Part 11 style): two
components (the password, and the one-time code when two-factor is on), the signer's name, the time and the
meaning shown with the data. A later change to what a signature covers invalidates it, visibly and audited.
Reads are in ``monitoring.selectors.signatures``; the panel on a record's page in ``monitoring.panels``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp import devices_for_user

from clinical.casebook import CasebookCheck
from monitoring.models import DataQuery, Signature
from monitoring.selectors.records import record_key, record_label, record_participant_id
from monitoring.selectors.signatures import casebook_check_of, covering, visit_id_of
from monitoring.services.probes import SIGNED
from screening.models import Participant
from trial_site.hooks import probed
from trial_site.models import AccessEvent
from trial_site.permissions import require
from trial_site.protocol import PROTOCOL
from trial_site.services import Reentry, access_event_record, password_reentry, reentry_locked_message
from visits.models import Visit


def _credentials_problem(
    *, by: Any, password: str, otp_token: str, request: HttpRequest | None = None, what: str = ""
) -> dict[str, str]:
    """Field → message when the password, or the one-time code, does not prove that ``by`` is signing. The
    password is re-entered under the login's lockout policy (``password_reentry``, which logs a wrong one)."""
    reentry = password_reentry(
        request=request, user=by, password=password, kind=AccessEvent.Kind.SIGNATURE_FAILED,
        detail=f"password refused {what}",
    )  # fmt: skip
    if reentry is Reentry.LOCKED:
        return {"password": reentry_locked_message()}
    if reentry is Reentry.WRONG:
        return {"password": _("That password is not right: nothing was signed.")}
    devices = list(devices_for_user(by, confirmed=True))
    if not devices and not settings.TWO_FACTOR_REQUIRED:
        return {}
    if not devices:
        return {"otp_token": _("Set up two-factor authentication before signing.")}
    token = (otp_token or "").strip()
    if not token:
        return {"otp_token": _("Enter the 6-digit code from your authenticator app.")}
    for device in devices:
        allowed, _why = device.verify_is_allowed()
        if allowed and device.verify_token(token):
            return {}
    return {"otp_token": _("That code is not right: nothing was signed. Wait for the next code and try again.")}


def signature_target(
    *, scope: str, record: Any = None, visit: Visit | None = None, participant: Participant | None = None
) -> dict[str, Any]:
    """What a signature of ``scope`` covers, as the fields of a ``Signature`` (site, participant, visit, form)."""
    if scope == Signature.Scope.FORM:
        if record is None or record.pk is None:
            raise ValidationError(_("Choose the form to sign."))
        content_type, object_id = record_key(record)
        return {
            "site": record.site, "participant_id": record_participant_id(record), "visit_id": visit_id_of(record),
            "content_type": content_type, "object_id": object_id,
        }  # fmt: skip
    if scope == Signature.Scope.VISIT:
        if visit is None:
            raise ValidationError(_("Choose the visit to sign."))
        return {"site": visit.site, "participant_id": visit.participant_id, "visit_id": visit.pk}
    if scope == Signature.Scope.CASEBOOK:
        if participant is None:
            raise ValidationError(_("Choose the participant whose casebook to sign."))
        return {"site": participant.site, "participant_id": participant.pk}
    raise ValidationError(_("A signature covers a form, a visit or a casebook."))


def _in_force_of_target(scope: str, target: dict[str, Any]) -> models.QuerySet[Signature]:
    found = Signature.objects.filter(scope=scope, invalidated_at__isnull=True)
    if scope == Signature.Scope.FORM:
        return found.filter(content_type=target["content_type"], object_id=target["object_id"])
    if scope == Signature.Scope.VISIT:
        return found.filter(visit_id=target["visit_id"])
    return found.filter(participant_id=target["participant_id"])


def signature_sign(
    *,
    scope: str,
    by: Any,
    password: str,
    otp_token: str = "",
    record: Any = None,
    visit: Visit | None = None,
    participant: Participant | None = None,
    request: HttpRequest | None = None,
) -> Signature:
    """``by`` signs a form (``record``), a ``visit`` that took place, or a ``participant``'s casebook, with the
    protocol's meaning, after re-entering the password (and the one-time code when two-factor is on).

    A wrong password or code signs nothing: the refusal is kept in the access log (kept even if a caller's
    transaction is rolled back) and raised as a ``ValidationError`` on that field. Wrong passwords count towards
    the login's lockout (5 in 30 minutes lock signing and logging in, even with the right password).
    """
    target = signature_target(scope=scope, record=record, visit=visit, participant=participant)
    require(by, "monitoring.sign_data", target["site"])
    if scope == Signature.Scope.VISIT and visit is not None and visit.done_on is None:
        raise ValidationError(_("Only a visit that took place can be signed."))
    if scope == Signature.Scope.CASEBOOK and participant is not None:
        casebook_refuse_if_incomplete(participant)
    what = f"signing {scope} {target.get('object_id') or target.get('visit_id') or target['participant_id']}"
    problem = _credentials_problem(by=by, password=password, otp_token=otp_token, request=request, what=what)
    if problem:
        if "otp_token" in problem:  # a wrong password is logged by password_reentry
            access_event_record(kind=AccessEvent.Kind.SIGNATURE_FAILED, request=request, user=by,
                                detail=f"otp_token refused {what}")  # fmt: skip
        raise ValidationError(problem)
    with transaction.atomic():
        # Signing is serialised per casebook (a lock on the participant's row): the same person signing the same
        # thing from two pages at once signs it once; the other is told it is signed already.
        Participant.objects.select_for_update().filter(pk=target["participant_id"]).exists()
        if _in_force_of_target(scope, target).filter(signed_by=by).exists():
            raise ValidationError(_("You signed this already, and nothing has changed since."))
        signature = Signature(
            scope=scope,
            meaning=PROTOCOL.monitoring.signature_meaning,
            signed_by=by,
            printed_name=by.get_full_name() or by.get_username(),  # as at signing (Part 11 §11.50)
            signed_at=timezone.now(),
            **target,
        )
        signature.save(by=by)
    return signature


def casebook_problems(check: CasebookCheck) -> list[str]:
    """Each thing that stands in the way of signing a casebook, in words: the missing form with its visit, the
    query not closed with its form and field."""
    missing = [
        _("Required form missing: %(form)s, visit %(visit)s.") % {"form": form.form, "visit": form.visit}
        for form in check.missing
    ]
    unresolved = [
        _("Query %(status)s, not closed: %(form)s, field “%(field)s”.")
        % {"status": DataQuery.Status(query.status).label, "form": query.form, "field": query.field}
        for query in check.unresolved
    ]
    return missing + unresolved


def casebook_refuse_if_incomplete(participant: Participant) -> None:
    """Refuse (``ValidationError``, one message per problem) to sign a casebook while a form that is due is missing
    or a query is not closed (``clinical.casebook``)."""
    check = casebook_check_of(participant)
    if not check.may_sign:
        raise ValidationError(
            [_("The casebook cannot be signed as accurate and complete while:"), *casebook_problems(check)],
            code="casebook_incomplete",
        )


def signatures_invalidate_for_change(*, record: Any, by: Any, reason: str, created: bool) -> None:
    """After a record is saved (in its transaction): every signature in force that covers it is invalidated, with
    who changed what and why — the form's own signatures (when it changed), its visit's (a new form added to a
    signed visit too) and its participant's casebook signatures. A new signature is then needed. No query when the
    save's read of the row found none in force (``monitoring.services.probes``)."""
    if not created and probed(record, SIGNED) is False:
        return
    covered = covering(record, with_form=not created)
    if not covered:
        return
    what = record_label(record) if not isinstance(record, Visit) else _("visit %(code)s") % {"code": record.code}
    if created:
        what = _("%(form)s added") % {"form": what}
    why = (_("changed after signing by %(user)s: %(reason)s") % {"user": by.get_username(), "reason": reason or what})[
        :300
    ]
    now = timezone.now()
    for signature in Signature.objects.filter(covered, invalidated_at__isnull=True).select_for_update():
        signature.invalidated_at = now
        signature.invalidated_reason = why
        signature.save(by=by, reason=why)
