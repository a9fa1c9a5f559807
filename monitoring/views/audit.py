"""Audit-trail review pages: recent changes at the user's sites, a participant's timeline, the history of one
field, and the CSV export (kept in the access log). Reading needs ``monitoring.review_audit`` at the site."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from monitoring.selectors.audit import (
    CSV_COLUMNS,
    PAGE_SIZE,
    AuditFilters,
    AuditSource,
    AuditTrail,
    AuditViewer,
    amendment_source,
    audit_source,
    audit_sources,
    csv_rows,
    day_bounds,
    participant_trail,
    record_field_trail,
    site_trail,
    sites_for_review,
)
from screening.models import Participant
from trial_site.form_dates import IsoDateField
from trial_site.models import AccessEvent, Site
from trial_site.permissions import permission_required, user_can
from trial_site.scoping import get_scoped_object_or_404
from trial_site.services import access_event_record
from visits.paging import CappedPaginator

REVIEW = "monitoring.review_audit"


class AuditFilterForm(forms.Form):
    form = forms.ChoiceField(label=gettext_lazy("Form"), required=False)
    user = forms.CharField(label=gettext_lazy("User"), required=False, max_length=150)
    date_from = IsoDateField(label=gettext_lazy("From"), required=False)
    date_to = IsoDateField(label=pgettext_lazy("date range", "To"), required=False)
    field = forms.CharField(
        label=gettext_lazy("Field"),
        required=False,
        max_length=60,
        help_text=gettext_lazy("The field's name, e.g. weight_kg."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["form"].choices = [("", _("All forms")), *((s.key, s.name) for s in self.sources())]

    def sources(self) -> tuple[AuditSource, ...]:
        """What this trail lists (a participant's: their records)."""
        return audit_sources()

    def source(self, key: str) -> AuditSource | None:
        return next((source for source in self.sources() if source.key == key), None)

    def clean_user(self) -> int | None:
        username = self.cleaned_data["user"].strip()
        if not username:
            return None
        user_id = get_user_model()._default_manager.filter(username=username).values_list("pk", flat=True).first()
        if user_id is None:
            raise ValidationError(_("No user has this username."))
        return user_id

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", _("The end of the range is before its start."))
        name = (data.get("field") or "").strip()
        data["field"] = name
        if name:
            source = self.source(data.get("form") or "")
            if source is not None and name not in source.fields:
                self.add_error("field", _("This form has no field “%(name)s”.") % {"name": name})
            elif source is None and not any(name in s.fields for s in self.sources()):
                self.add_error("field", _("No form has a field “%(name)s”.") % {"name": name})
        return data

    def filters(self, tz: dt.tzinfo) -> AuditFilters:
        data = self.cleaned_data
        start, end = day_bounds(data.get("date_from"), data.get("date_to"), tz)
        return AuditFilters(form=data.get("form") or "", user_id=data.get("user"), start=start, end=end,
                            field=data.get("field") or "")  # fmt: skip


class RecentFilterForm(AuditFilterForm):
    site = forms.ChoiceField(label=gettext_lazy("Site"), required=False)

    def __init__(self, *args: Any, sites: list[Site], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sites = sites
        self.fields["site"].choices = [("", _("All my sites")), *((s.code, str(s)) for s in sites)]
        self.order_fields(["site"])

    def sources(self) -> tuple[AuditSource, ...]:
        """The records at the sites, and the trial's protocol amendments."""
        return (*audit_sources(), amendment_source())

    def chosen_sites(self) -> list[Site]:
        code = self.cleaned_data.get("site")
        return [s for s in self.sites if s.code == code] if code else self.sites


class ExportForm(forms.Form):
    participant = forms.CharField(label=gettext_lazy("Participant (screening number)"), required=False, max_length=20)
    site = forms.CharField(label=gettext_lazy("Site code"), required=False, max_length=10)
    date_from = IsoDateField(label=gettext_lazy("From"), required=False)
    date_to = IsoDateField(label=pgettext_lazy("date range", "To"), required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("participant") and data.get("site"):
            self.add_error("site", _("Export a participant or a site, not both."))
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", _("The end of the range is before its start."))
        return data


class FieldHistoryForm(forms.Form):
    form = forms.ChoiceField(label=gettext_lazy("Form"))
    object = forms.IntegerField(label=pgettext_lazy("the record of a form", "Record"), min_value=1)
    field = forms.CharField(label=gettext_lazy("Field"), max_length=60)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["form"].choices = [(s.key, s.name) for s in audit_sources()]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        source = audit_source(data.get("form") or "")
        if source is not None and data.get("field") and data["field"] not in source.fields:
            self.add_error("field", _("This form has no field “%(name)s”.") % {"name": data["field"]})
        data["source"] = source
        return data


def _require_review(user: Any, site: Site) -> None:
    if not user_can(user, REVIEW, site):
        raise PermissionDenied(f"needs {REVIEW} at {site.code}")


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


def _page(trail: AuditTrail | list, request: HttpRequest, *, capped: bool = False) -> Any:
    """The page asked for; ``capped``: the count stops at ``COUNT_CAP`` (a site's whole history is not counted, its
    newest changes are what the page is for)."""
    paginator = (CappedPaginator if capped else Paginator)(trail, PAGE_SIZE)
    return paginator.get_page(request.GET.get("page"))


@permission_required(REVIEW)
def audit_recent(request: HttpRequest) -> HttpResponse:
    sites = sites_for_review(request.user)
    if not sites:
        raise PermissionDenied(f"needs {REVIEW} at a site")
    form = RecentFilterForm(request.GET or None, sites=sites)
    valid = not form.is_bound or form.is_valid()
    trail: AuditTrail | list = []
    if valid:
        chosen = form.chosen_sites() if form.is_bound else sites
        filters = form.filters(timezone.get_current_timezone()) if form.is_bound else None
        trail = site_trail(sites=chosen, viewer=AuditViewer(request.user), filters=filters)
    page = _page(trail, request, capped=True)
    context = {"form": form, "page": page, "query": _query_without_page(request), "sites": sites}
    return render(request, "monitoring/audit_recent.html", context, status=200 if valid else 400)


@permission_required(REVIEW)
def audit_participant(request: HttpRequest, number: str) -> HttpResponse:
    participant = get_scoped_object_or_404(Participant.objects.select_related("site"), request, screening_number=number)
    _require_review(request.user, participant.site)
    form = AuditFilterForm(request.GET or None)
    valid = not form.is_bound or form.is_valid()
    trail: AuditTrail | list = []
    if valid:
        filters = form.filters(ZoneInfo(participant.site.time_zone)) if form.is_bound else None
        trail = participant_trail(participant=participant, viewer=AuditViewer(request.user), filters=filters)
    context = {
        "participant": participant,
        "form": form,
        "page": _page(trail, request),
        "query": _query_without_page(request),
    }
    return render(request, "monitoring/audit_participant.html", context, status=200 if valid else 400)


@permission_required(REVIEW)
def audit_field(request: HttpRequest, number: str) -> HttpResponse:
    participant = get_scoped_object_or_404(Participant.objects.select_related("site"), request, screening_number=number)
    _require_review(request.user, participant.site)
    form = FieldHistoryForm(request.GET)
    context: dict[str, Any] = {"participant": participant, "form": form, "query": _query_without_page(request)}
    if not form.is_valid():
        return render(request, "monitoring/audit_field.html", context, status=400)
    source: AuditSource = form.cleaned_data["source"]
    object_id, field_name = form.cleaned_data["object"], form.cleaned_data["field"]
    if not source.history.filter(source.for_participant(participant.pk), id=object_id).exists():
        raise Http404("no such record of this participant")
    trail = record_field_trail(
        participant=participant, source=source, object_id=object_id, field_name=field_name,
        viewer=AuditViewer(request.user),
    )  # fmt: skip
    model_field = source.fields[field_name]
    context |= {
        "source": source,
        "object_id": object_id,
        "field_label": str(model_field.verbose_name)[:1].upper() + str(model_field.verbose_name)[1:],
        "field_name": field_name,
        "page": _page(trail, request),
    }
    return render(request, "monitoring/audit_field.html", context)


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_lines(trail: AuditTrail) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for chunk in trail.chunks():
        for entry in chunk:
            for row in csv_rows(entry):
                yield writer.writerow(row)


@permission_required(REVIEW)
def audit_export(request: HttpRequest) -> HttpResponse:
    if not request.GET:
        return render(request, "monitoring/audit_export.html", {"form": ExportForm()})
    form = ExportForm(request.GET)
    if not form.is_valid():
        return render(request, "monitoring/audit_export.html", {"form": form}, status=400)
    data = form.cleaned_data
    viewer = AuditViewer(request.user, export=True)
    if data["participant"]:
        participant = get_scoped_object_or_404(
            Participant.objects.select_related("site"), request, screening_number=data["participant"]
        )
        _require_review(request.user, participant.site)
        start, end = day_bounds(data["date_from"], data["date_to"], ZoneInfo(participant.site.time_zone))
        filters = AuditFilters(start=start, end=end)
        trail = participant_trail(participant=participant, viewer=viewer, filters=filters, newest_first=False)
        scope = f"participant {participant.screening_number}"
        name = participant.screening_number
    else:
        if data["site"]:
            site = get_scoped_object_or_404(Site.objects.all(), request, code=data["site"])
            _require_review(request.user, site)
            sites, scope, name = [site], f"site {site.code}", site.code
        else:
            sites, scope, name = sites_for_review(request.user), "all my sites", "sites"
        tz = ZoneInfo(sites[0].time_zone) if len(sites) == 1 else timezone.get_current_timezone()
        start, end = day_bounds(data["date_from"], data["date_to"], tz)
        trail = site_trail(sites=sites, viewer=viewer, filters=AuditFilters(start=start, end=end), newest_first=False)
    period = f"{data['date_from'] or '…'} to {data['date_to'] or '…'}"
    access_event_record(kind=AccessEvent.Kind.EXPORT, request=request, detail=f"audit trail CSV: {scope}, {period}")
    response = StreamingHttpResponse(_csv_lines(trail), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-trail-{name}-{timezone.localdate():%Y%m%d}.csv"'
    return response


urlpatterns: list[URLPattern] = [
    path("audit/", audit_recent, name="audit_recent"),
    path("audit/export.csv", audit_export, name="audit_export"),
    path("audit/participants/<str:number>/", audit_participant, name="audit_participant"),
    path("audit/participants/<str:number>/field/", audit_field, name="audit_field"),
]
