"""What monitoring adds to the other apps, through the kernel's settings (the apps never import monitoring):

- ``FOLLOW_UPS["clinical_write"]``: ``refuse_locked_write``, the data locks' guard before every clinical write;
- ``FOLLOW_UPS["clinical_record_changed"]``: ``clinical_record_changed``, after every save in its transaction;
- ``RECORD_PANELS``: the lock, signatures, verification and queries panels on a record's page;
- ``RECORD_FIELD_FLAGS``: a badge next to a field with an unresolved query.

Each is thin: reads from ``monitoring.selectors``, writes through ``monitoring.services``.
"""

from __future__ import annotations

from typing import Any

from django.db import models, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from monitoring.selectors.locks import LOCK_PERMISSION, Scope, covering_lock, lock_message, visit_id_of
from monitoring.selectors.queries import (
    UNRESOLVED,
    VIEW_QUERIES,
    field_label,
    is_overdue,
    raise_url,
    record_queries,
)
from monitoring.selectors.records import record_key, record_label, record_participant_id
from monitoring.selectors.sdv_plan import form_name, sdv_full, sdv_required
from monitoring.selectors.signatures import sign_again_url, sign_url, signatures_covering
from monitoring.selectors.signatures import visit_id_of as signed_visit_id_of
from monitoring.selectors.verification import display_name, verifiable_fields, verification_latest
from monitoring.services.edit_checks import EDIT_CHECKS, edit_checks_run
from monitoring.services.locks import locked_write_refuse
from monitoring.services.probes import record_changed_probe
from monitoring.services.queries import queries_link_correction, query_raise_automatic
from monitoring.services.signatures import signatures_invalidate_for_change
from monitoring.services.verification import verification_clear_for_change
from screening.models import Participant
from trial_site.permissions import user_can
from visits.models import Visit

# ------------------------------------------------------------------------------------------------ follow-ups


# The write guard of every clinical record: raise ``DataLocked`` when a lock in force covers it.
refuse_locked_write = locked_write_refuse


def clinical_record_changed(record: models.Model, *, created: bool, by: Any, reason: str) -> None:
    """What a change to clinical data sets off in monitoring, in the change's own transaction: verification of the
    form is cleared, signatures that cover it are invalidated, an open query on it gets the correction linked, and
    the protocol's edit checks run."""
    if not created:
        verification_clear_for_change(record=record, by=by, reason=reason)
        queries_link_correction(record=record, by=by, reason=reason)
    signatures_invalidate_for_change(record=record, by=by, reason=reason, created=created)
    edit_checks_run(record, by=by)


clinical_record_changed.probe = record_changed_probe  # type: ignore[attr-defined]


def clinical_records_created(records: list[models.Model], *, by: Any, reason: str) -> None:
    """``clinical_record_changed`` for records created together by the audited bulk path
    (``trial_site.audit.bulk``): the signatures covering their casebook or visit invalidated (one look-up per
    casebook and visit: new records have no signature of their own), and every edit check on every record in one
    savepoint; when anything fails there, each record again with a savepoint per check, as a single save has."""
    first_of_scope: dict[Any, models.Model] = {}
    for record in records:
        first_of_scope.setdefault(record.lock_scope(), record)  # type: ignore[attr-defined]
    for record in first_of_scope.values():
        signatures_invalidate_for_change(record=record, by=by, reason=reason, created=True)
    try:
        with transaction.atomic():
            for record in records:
                for check in EDIT_CHECKS:
                    for finding in check(record):
                        query_raise_automatic(
                            record=finding.record, field=finding.field, edit_check=finding.check,
                            message=finding.message, by=by,
                        )  # fmt: skip
    except Exception:
        for record in records:
            edit_checks_run(record, by=by)


clinical_record_changed.together = clinical_records_created  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------- the record's page


def lock_panel(request: Any, record: models.Model) -> str:
    """A red "Locked" banner with the lock's reason on a covered record; links to lock it for data managers."""
    lock = covering_lock(record)
    user = getattr(request, "user", None)
    site = getattr(record, "site", None)
    can_lock = user is not None and site is not None and user_can(user, LOCK_PERMISSION, site)
    if lock is None and not can_lock:
        return ""
    links: list[tuple[str, str]] = []
    if can_lock and not (lock is not None and lock.scope == Scope.FORM):
        content_type, object_id = record_key(record)
        links.append((
            _("Lock this form"),
            reverse("monitoring:lock_new") + "?" + urlencode(
                {"scope": Scope.FORM, "form": f"{content_type.app_label}.{content_type.model}", "object": object_id}
            ),
        ))  # fmt: skip
        visit_id = visit_id_of(record)
        if visit_id is not None and not isinstance(record, Visit) and lock is None:
            links.append((_("Lock this visit"), reverse("monitoring:lock_new") + "?" + urlencode(
                {"scope": Scope.VISIT, "visit": visit_id})))  # fmt: skip
    return render_to_string(
        "monitoring/_lock_panel.html",
        {
            "lock": lock,
            "message": lock_message(lock) if lock else "",
            "label": record_label(record),
            "links": links,
            "can_lock": can_lock,
        },
        request=request,
    )


def signature_panel(request: Any, record: Any) -> str:
    """On the record's page: each signature covering it (name, time, meaning; an invalidated one struck through
    with why, and "sign again"), and links to sign the form, its visit and the casebook for an investigator."""
    signatures = signatures_covering(record)
    user = getattr(request, "user", None)
    can_sign = user is not None and user_can(user, "monitoring.sign_data", record.site)
    links: list[tuple[str, str]] = []
    visit_id = signed_visit_id_of(record)
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
        signature.pk: sign_again_url(signature)
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


def verification_panel(request: Any, record: Any) -> str:
    """On the record's page: verified (by whom, when, which fields), cleared (when, why) or not verified, with
    what the SDV plan asks of this form, and the "Mark verified" form for a monitor."""
    _content_type, object_id = record_key(record)
    latest = verification_latest(record)
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
            "in_full": form in sdv_full(),
            "can_verify": user is not None and user_can(user, "monitoring.verify_source", record.site),
            "mark_url": reverse("monitoring:verification_mark"),
            "form": form,
            "object_id": object_id,
            "field_choices": list(labels.items()),
        },
        request=request,
    )


def _may_see_queries(request: Any, record: models.Model) -> bool:
    user = getattr(request, "user", None)
    site = getattr(record, "site", None)
    return user is not None and site is not None and user_can(user, VIEW_QUERIES, site)


def query_panel(request: Any, record: Any) -> str:
    """The record's queries (status, field, question, link) and, for monitors, a link to raise one."""
    if not _may_see_queries(request, record):
        return ""
    model = type(record)
    today = timezone.localdate()
    rows = [
        {"query": query, "field_label": field_label(model, query.field), "overdue": is_overdue(query, today)}
        for query in record_queries(record)
    ]
    can_raise = user_can(request.user, "monitoring.raise_query", record.site)
    if not rows and not can_raise:
        return ""
    return render_to_string(
        "monitoring/_query_panel.html",
        {"rows": rows, "can_raise": can_raise, "raise_url": raise_url(record) if can_raise else ""},
        request=request,
    )


def query_field_flags(request: Any, record: Any, field_name: str) -> str:
    """A badge next to ``field_name`` for each unresolved query on that field, linking to the query."""
    if not _may_see_queries(request, record):
        return ""
    queries = [query for query in record_queries(record) if query.field == field_name and query.status in UNRESOLVED]
    if not queries:
        return ""
    return render_to_string(
        "monitoring/_query_flags.html", {"queries": queries, "field_name": field_name}, request=request
    )
