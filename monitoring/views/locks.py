"""Lock pages: the locks in force and past (who, when, why), locking a form, a visit, a casebook or the whole
database, and unlocking with a reason. The work is done by ``monitoring.locks``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.apps import apps
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from monitoring.models import DataLock
from monitoring.selectors.locks import (
    LOCK_PERMISSION,
    VIEW_LOCKS,
    Scope,
    lock_target,
    lock_target_url,
    lock_versions,
    locks_in_force,
    locks_past,
    locks_visible,
)
from monitoring.selectors.records import record_label, record_participant_id
from monitoring.services.locks import LockChangedMeanwhile, lock_data, unlock_data
from screening.models import Participant
from trial_site.audit.base import ClinicalRecord
from trial_site.models import Site
from trial_site.permissions import permission_required, user_can
from trial_site.scoping import get_scoped_object_or_404, scope_to_user_sites
from trial_site.submission import once_per_submission
from visits.models import Visit

PAST_PAGE_SIZE = 50


class LockForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason for the lock"), max_length=300,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=gettext_lazy("For example: database lock before the final analysis."),
    )  # fmt: skip


class UnlockForm(forms.Form):
    unlock_reason = forms.CharField(
        label=gettext_lazy("Reason for unlocking"), max_length=300, widget=forms.Textarea(attrs={"rows": 2})
    )
    # The lock's version on the page: lifting a lock someone lifted since is refused, saying who and when.
    opened_version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=0)


def _errors_into(form: forms.Form, error: ValidationError) -> None:
    problems = error.error_dict if hasattr(error, "error_dict") else {None: error.error_list}
    for field, found in problems.items():
        form.add_error(field if field in form.fields else None, found)


@dataclass(frozen=True)
class LockRow:
    lock: DataLock
    target: str
    url: str
    can_unlock: bool
    version: int | None = None


def _rows(request: HttpRequest, locks: Any) -> list[LockRow]:
    user = request.user
    locks = list(locks)
    versions = lock_versions([lock for lock in locks if lock.unlocked_at is None])
    rows = []
    for lock in locks:
        can_unlock = lock.unlocked_at is None and user_can(user, LOCK_PERMISSION, lock.site)
        rows.append(
            LockRow(
                lock=lock, target=lock_target(lock), url=lock_target_url(lock), can_unlock=can_unlock,
                version=versions.get(lock.pk),
            )
        )  # fmt: skip
    return rows


@permission_required(VIEW_LOCKS)
def lock_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(locks_past(request.user), PAST_PAGE_SIZE).get_page(request.GET.get("page"))
    # The casebook form's example number is of a site where the user may lock (never another site's number).
    lock_site = (
        scope_to_user_sites(Site.objects.order_by("code"), request.user, permission=LOCK_PERMISSION)
        .values_list("code", flat=True)
        .first()
    )
    return render(
        request,
        "monitoring/locks.html",
        {
            "in_force": _rows(request, locks_in_force(request.user)),
            "past": _rows(request, page),
            "page": page,
            "query": "",
            "can_lock_database": user_can(request.user, LOCK_PERMISSION),
            "example_number": f"{lock_site}-S-0001" if lock_site else "",
        },
    )


@dataclass(frozen=True)
class Target:
    """What the lock page is about to lock, from its query string."""

    scope: str
    site: Any
    description: str
    service_arguments: dict[str, Any]


def _target(request: HttpRequest) -> Target:
    """Read ``scope`` and its target from the query string; a target of another site is not found (404)."""
    scope = request.GET.get("scope", "")
    if scope == Scope.DATABASE:
        return Target(scope, None, _("the whole database"), {})
    if scope == Scope.CASEBOOK:
        participant = get_scoped_object_or_404(
            Participant.objects.select_related("site"), request, screening_number=request.GET.get("participant", "")
        )
        preview = DataLock(scope=scope, participant=participant)
        return Target(scope, participant.site, lock_target(preview), {"participant": participant})
    if scope == Scope.VISIT:
        visit = get_scoped_object_or_404(
            Visit.objects.select_related("participant", "site"), request, pk=_number(request.GET.get("visit"))
        )
        preview = DataLock(scope=scope, participant=visit.participant, visit=visit)
        return Target(scope, visit.site, lock_target(preview), {"visit": visit})
    if scope == Scope.FORM:
        model = _clinical_model(request.GET.get("form", ""))
        record = get_scoped_object_or_404(
            model.objects.select_related("site"), request, pk=_number(request.GET.get("object"))
        )
        participant_id = record_participant_id(record)
        number = Participant.objects.get(pk=participant_id).screening_number if participant_id else ""
        description = _("the form %(form)s of %(number)s") % {"form": record_label(record), "number": number}
        return Target(scope, record.site, description, {"record": record})
    raise Http404("lock a form, a visit, a casebook or the database")


def _number(value: str | None) -> int:
    if not value or not value.isdigit():
        raise Http404("no such record")
    return int(value)


def _clinical_model(label: str) -> type[models.Model]:
    try:
        model = apps.get_model(label)
    except (LookupError, ValueError):
        raise Http404("no such form") from None
    if not issubclass(model, ClinicalRecord):
        raise Http404("not a clinical form")
    return model


@permission_required(LOCK_PERMISSION)
@once_per_submission
def lock_new(request: HttpRequest) -> HttpResponse:
    target = _target(request)
    if not user_can(request.user, LOCK_PERMISSION, target.site):
        raise PermissionDenied("cannot lock data of this site")
    form = LockForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                lock_data(
                    scope=target.scope, by=request.user, reason=form.cleaned_data["reason"], **target.service_arguments
                )
            except ValidationError as error:
                _errors_into(form, error)
            else:
                messages.success(request, _("Locked: %(target)s.") % {"target": target.description})
                return redirect("monitoring:locks")
        status = 400
    return render(request, "monitoring/lock_new.html", {"target": target, "form": form}, status=status)


def _visible_lock(request: HttpRequest, pk: int) -> DataLock:
    lock = locks_visible(request.user).filter(pk=pk).first()
    if lock is None:  # another site's lock is not found, and the attempt is logged
        get_scoped_object_or_404(DataLock.objects.all(), request, pk=pk)
        raise Http404("no such lock")
    return lock


@permission_required(LOCK_PERMISSION)
@once_per_submission
def lock_unlock(request: HttpRequest, pk: int) -> HttpResponse:
    lock = _visible_lock(request, pk)
    if not user_can(request.user, LOCK_PERMISSION, lock.site):
        raise PermissionDenied("cannot unlock data of this site")
    row = _rows(request, [lock])[0]
    form = UnlockForm(request.POST if request.method == "POST" else None, initial={"opened_version": row.version})
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                unlock_data(
                    lock=lock, by=request.user, reason=form.cleaned_data["unlock_reason"],
                    opened_version=form.cleaned_data["opened_version"],
                )  # fmt: skip
            except LockChangedMeanwhile as error:  # lifted by someone else since the page was opened
                status, row = 409, _rows(request, [_visible_lock(request, pk)])[0]
                _errors_into(form, error)
            except ValidationError as error:
                _errors_into(form, error)
            else:
                messages.success(request, _("Unlocked: %(target)s.") % {"target": lock_target(lock)})
                return redirect("monitoring:locks")
    return render(request, "monitoring/lock_unlock.html", {"row": row, "form": form}, status=status)


urlpatterns: list[URLPattern] = [
    path("locks/", lock_list, name="locks"),
    path("locks/new/", lock_new, name="lock_new"),
    path("locks/<int:pk>/unlock/", lock_unlock, name="lock_unlock"),
]
