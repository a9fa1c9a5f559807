"""The pages of a site's laboratory reference ranges: the list (ranges in force today, planned, replaced) for the
site's staff, and the forms with which its data manager or administrator records a range or changes one.

A new range carries a one-time submission key (sent twice, recorded once); a change carries the version it was opened
on and a reason, and a change saved by someone else meanwhile is refused (409) with the form shown again
(``trial_site.concurrency``). Another site's ranges are a 404; a role without the permission, a 403.
"""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from trial_site import lab_ranges
from trial_site.audit.errors import EditConflict
from trial_site.concurrency import form_after_conflict
from trial_site.forms import add_validation_error
from trial_site.lab_range_forms import UNIT_CHOICES_ID, LabReferenceRangeForm
from trial_site.models import LabReferenceRange, Site
from trial_site.permissions import permission_required, user_can
from trial_site.scoping import get_scoped_object_or_404
from trial_site.submission import once_per_submission


def _site_today(site: Site) -> date:
    """Today at the site (its own time zone): what is in force "now" on its page."""
    return timezone.now().astimezone(ZoneInfo(site.time_zone)).date()


@permission_required(lab_ranges.VIEW_PERMISSION)
def lab_range_list(request: HttpRequest, code: str) -> HttpResponse:
    site = get_scoped_object_or_404(Site.objects.all(), request, code=code)
    today = _site_today(site)
    return render(
        request,
        "trial_site/lab_ranges.html",
        {
            "site": site,
            "today": today,
            "tests": lab_ranges.site_ranges_overview(site, today),
            "can_add": user_can(request.user, lab_ranges.ADD_PERMISSION, site),
            "can_change": user_can(request.user, lab_ranges.CHANGE_PERMISSION, site),
        },
    )


def _form_page(request: HttpRequest, site: Site, form: LabReferenceRangeForm, status: int = 200) -> HttpResponse:
    return render(
        request,
        "trial_site/lab_range_form.html",
        {"site": site, "form": form, "units_id": UNIT_CHOICES_ID},
        status=status,
    )


@permission_required(lab_ranges.ADD_PERMISSION)
@require_http_methods(["GET", "POST"])
@once_per_submission
def lab_range_add(request: HttpRequest, code: str) -> HttpResponse:
    site = get_scoped_object_or_404(Site.objects.all(), request, code=code)
    form = LabReferenceRangeForm(request.POST or None, site=site, initial=request.GET.dict() or None)
    if request.method == "POST" and form.is_valid():
        try:
            lab_ranges.lab_reference_range_save(record=form.instance, by=request.user)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, _("Reference range recorded."))
            return redirect("lab_range_list", code=site.code)
    return _form_page(request, site, form, status=400 if request.method == "POST" else 200)


@permission_required(lab_ranges.CHANGE_PERMISSION)
@require_http_methods(["GET", "POST"])
def lab_range_edit(request: HttpRequest, code: str, pk: int) -> HttpResponse:
    record = get_scoped_object_or_404(LabReferenceRange.objects.select_related("site"), request, pk=pk, site__code=code)
    site = record.site
    form = LabReferenceRangeForm(request.POST or None, instance=record)
    if request.method == "POST" and form.is_valid():
        try:
            lab_ranges.lab_reference_range_save(
                record=form.instance, by=request.user, reason=form.cleaned_data.get("reason_for_change")
            )
        except EditConflict as conflict:
            messages.error(request, " ".join(conflict.messages))
            saved = LabReferenceRange.objects.select_related("site").get(pk=record.pk)
            fresh = form_after_conflict(form, conflict, lambda: LabReferenceRangeForm(instance=saved))
            return _form_page(request, site, fresh, status=409)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, _("Reference range changed."))
            return redirect("lab_range_list", code=site.code)
    return _form_page(request, site, form, status=400 if request.method == "POST" else 200)


urlpatterns = [
    path("sites/<str:code>/lab-ranges/", lab_range_list, name="lab_range_list"),
    path("sites/<str:code>/lab-ranges/new/", lab_range_add, name="lab_range_add"),
    path("sites/<str:code>/lab-ranges/<int:pk>/", lab_range_edit, name="lab_range_edit"),
]
