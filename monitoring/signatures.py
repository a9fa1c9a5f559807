"""Investigators' electronic signatures of a form, a visit or a whole casebook (21 CFR Part 11 style): two
components (the password, and the one-time code when two-factor is on), the signer's name, the time and the
meaning shown with the data. A later change to what a signature covers invalidates it, visibly and audited."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django_otp import devices_for_user

from monitoring.models import Signature
from monitoring.records import record_key, record_label, record_participant_id, record_visit_id
from monitoring.verification import display_name, form_name
from screening.models import Participant
from trial_site.models import AccessEvent
from trial_site.permissions import user_can
from trial_site.protocol import PROTOCOL
from trial_site.services import Reentry, access_event_record, password_reentry, reentry_locked_message
from visits.models import Visit


def _visit_id_of(record: Any) -> int | None:
    """The visit a record belongs to; a visit's own record is that visit."""
    return record.pk if isinstance(record, Visit) else record_visit_id(record)


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
            "site": record.site, "participant_id": record_participant_id(record), "visit_id": _visit_id_of(record),
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
    if not user_can(by, "monitoring.sign_data", target["site"]):
        raise PermissionDenied(f"{by} lacks monitoring.sign_data at {target['site']}")
    if scope == Signature.Scope.VISIT and visit is not None and visit.done_on is None:
        raise ValidationError(_("Only a visit that took place can be signed."))
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


def signatures_invalidate_for_change(record: Any, *, by: Any, reason: str, created: bool) -> None:
    """After a record is saved (in its transaction): every signature in force that covers it is invalidated, with
    who changed what and why — the form's own signatures (when it changed), its visit's (a new form added to a
    signed visit too) and its participant's casebook signatures. A new signature is then needed."""
    covering = _covering(record, with_form=not created)
    if not covering:
        return
    what = record_label(record) if not isinstance(record, Visit) else _("visit %(code)s") % {"code": record.code}
    if created:
        what = _("%(form)s added") % {"form": what}
    why = (_("changed after signing by %(user)s: %(reason)s") % {"user": by.get_username(), "reason": reason or what})[
        :300
    ]
    now = timezone.now()
    for signature in Signature.objects.filter(covering, invalidated_at__isnull=True).select_for_update():
        signature.invalidated_at = now
        signature.invalidated_reason = why
        signature.save(by=by, reason=why)


def _covering(record: Any, *, with_form: bool) -> Q:
    """The signatures that cover ``record``: its own (``with_form``), its visit's and its casebook's."""
    covering = Q()
    if with_form:
        content_type, object_id = record_key(record)
        covering |= Q(scope=Signature.Scope.FORM, content_type=content_type, object_id=object_id)
    visit_id = _visit_id_of(record)
    if visit_id is not None:
        covering |= Q(scope=Signature.Scope.VISIT, visit_id=visit_id)
    participant_id = record_participant_id(record)
    if participant_id is not None:
        covering |= Q(scope=Signature.Scope.CASEBOOK, participant_id=participant_id)
    return covering


def sign_url(scope: str, **params: Any) -> str:
    return f"{reverse('monitoring:sign')}?{urlencode({'scope': scope, **params})}"


def signatures_covering(record: Any) -> list[Signature]:
    """Every signature (in force or invalidated) of the record, of its visit and of its participant's casebook."""
    return list(
        Signature.objects.filter(_covering(record, with_form=True)).select_related("signed_by", "visit", "participant")
    )


def signature_panel(request: Any, record: Any) -> str:
    """On the record's page: each signature covering it (name, time, meaning; an invalidated one struck through
    with why, and "sign again"), and links to sign the form, its visit and the casebook for an investigator."""
    signatures = signatures_covering(record)
    user = getattr(request, "user", None)
    can_sign = user is not None and user_can(user, "monitoring.sign_data", record.site)
    links: list[tuple[str, str]] = []
    visit_id = _visit_id_of(record)
    participant_id = record_participant_id(record)
    if can_sign:
        if not isinstance(record, Visit | Participant):
            links.append((_("Sign this form"), sign_url("form", form=form_name(type(record)), object=record.pk)))
        if visit_id is not None:
            links.append((_("Sign the visit"), sign_url("visit", visit=visit_id)))
        if participant_id is not None:
            number = (
                record.screening_number
                if isinstance(record, Participant)
                else Participant.objects.filter(pk=participant_id).values_list("screening_number", flat=True).first()
            )
            links.append((_("Sign the casebook"), sign_url("casebook", participant=number)))
    again = {
        signature.pk: _sign_again_url(signature)
        for signature in signatures
        if signature.invalidated_at is not None and can_sign
    }
    return render_to_string(
        "monitoring/_signature_panel.html",
        {
            "rows": [
                (signature, signature.printed_name or display_name(signature.signed_by), again.get(signature.pk))
                for signature in signatures
            ],
            "links": links,
            "can_sign": can_sign,
        },
        request=request,
    )


def _sign_again_url(signature: Signature) -> str:
    if signature.scope == Signature.Scope.FORM:
        model = ContentType.objects.get_for_id(signature.content_type_id).model_class()
        return sign_url("form", form=model._meta.label_lower, object=signature.object_id)
    if signature.scope == Signature.Scope.VISIT:
        return sign_url("visit", visit=signature.visit_id)
    return sign_url("casebook", participant=signature.participant.screening_number)
