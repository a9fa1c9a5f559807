"""Reads of electronic signatures: the signatures that cover a record (its own, its visit's, its casebook's), the
lists of the signature page, and the links to sign."""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils.http import urlencode

from clinical.casebook import CasebookCheck, FormOfVisit, QueryOnForm, casebook_check
from monitoring.models import DataQuery, Signature
from monitoring.selectors.queries import field_label
from monitoring.selectors.records import record_key, record_label, record_participant_id, record_visit_id
from screening.selectors import site_today
from trial_site.scoping import scope_to_user_sites
from visits.models import RequiredForm, Visit

# The signature list names the sites where a role the user holds there may read signatures.
VIEW_SIGNATURES = "monitoring.view_signature"


def visit_id_of(record: Any) -> int | None:
    """The visit a record belongs to; a visit's own record is that visit."""
    return record.pk if isinstance(record, Visit) else record_visit_id(record)


def covering(record: Any, *, with_form: bool) -> Q:
    """The signatures that cover ``record``: its own (``with_form``), its visit's and its casebook's."""
    found = Q()
    if with_form:
        content_type, object_id = record_key(record)
        found |= Q(scope=Signature.Scope.FORM, content_type=content_type, object_id=object_id)
    visit_id = visit_id_of(record)
    if visit_id is not None:
        found |= Q(scope=Signature.Scope.VISIT, visit_id=visit_id)
    participant_id = record_participant_id(record)
    if participant_id is not None:
        found |= Q(scope=Signature.Scope.CASEBOOK, participant_id=participant_id)
    return found


def signatures_covering(record: Any) -> list[Signature]:
    """Every signature (in force or invalidated) of the record, of its visit and of its participant's casebook."""
    return list(
        Signature.objects.filter(covering(record, with_form=True)).select_related("signed_by", "visit", "participant")
    )


def signature_lists(user: Any, *, limit: int) -> dict[str, list[Any]]:
    """At the sites where the user may read signatures: the signatures in force, the invalidated ones (newest
    first, to sign again) and the visits done that no signature in force covers; at most ``limit`` of each."""
    signatures = scope_to_user_sites(Signature.objects.all(), user, permission=VIEW_SIGNATURES).select_related(
        "signed_by", "participant", "visit", "content_type"
    )
    signed = Signature.objects.filter(invalidated_at__isnull=True, scope=Signature.Scope.VISIT, visit_id=OuterRef("pk"))
    unsigned = (
        scope_to_user_sites(Visit.objects.filter(done_on__isnull=False), user, permission=VIEW_SIGNATURES)
        .filter(~Exists(signed))
        .select_related("participant", "site")
        .order_by("participant__screening_number", "sequence")
    )
    return {
        "in_force": list(signatures.filter(invalidated_at__isnull=True)[:limit]),
        "invalidated": list(signatures.exclude(invalidated_at=None).order_by("-invalidated_at")[:limit]),
        "unsigned": list(unsigned[:limit]),
    }


def sign_url(scope: str, **params: Any) -> str:
    return f"{reverse('monitoring:sign')}?{urlencode({'scope': scope, **params})}"


def sign_again_url(signature: Signature) -> str:
    if signature.scope == Signature.Scope.FORM:
        model = ContentType.objects.get_for_id(signature.content_type_id).model_class()
        return sign_url("form", form=model._meta.label_lower, object=signature.object_id)
    if signature.scope == Signature.Scope.VISIT:
        return sign_url("visit", visit=signature.visit_id)
    return sign_url("casebook", participant=signature.participant.screening_number)


def casebook_check_of(participant: Any) -> CasebookCheck:
    """What stands in the way of signing ``participant``'s casebook today at the site (``clinical.casebook``):
    the forms due and missing, by visit, and the queries not closed, with their form and field."""
    required = (
        RequiredForm.objects.filter(visit__participant=participant)
        .select_related("visit")
        .order_by("visit__sequence", "visit__target_date", "form")
    )
    forms = [
        FormOfVisit(
            visit=row.visit.code,
            form=str(row.label),
            entered=row.status == RequiredForm.Status.ENTERED,
            not_required=row.status == RequiredForm.Status.NOT_REQUIRED,
            visit_done_on=row.visit.done_on,
            window_closes=row.visit.latest,
            visit_not_due=row.visit.missed or row.visit.cancelled,
        )
        for row in required
    ]
    queries = [
        QueryOnForm(form=_query_form(query), field=field_label(query.content_type.model_class(), query.field),
                    status=query.status)
        for query in DataQuery.objects.filter(participant=participant)
        .exclude(status=DataQuery.Status.CLOSED)
        .select_related("content_type")
        .order_by("raised_at", "pk")
    ]  # fmt: skip
    return casebook_check(forms, queries, today=site_today(participant))


def _query_form(query: DataQuery) -> str:
    record = query.record
    if record is not None:
        return record_label(record)
    model = query.content_type.model_class()
    return str(model._meta.verbose_name) if model is not None else query.content_type.model
