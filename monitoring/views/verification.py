"""Source data verification pages: progress per site and participant, and marking one form verified."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from monitoring.selectors import verification as selectors
from monitoring.selectors.record_values import FieldValue, field_values
from monitoring.selectors.records import record_for_form, record_label, record_participant, record_url
from monitoring.selectors.sdv_plan import form_name, sdv_forms, sdv_full
from monitoring.services import verification as services
from trial_site.permissions import permission_required, user_can
from trial_site.protocol import PROTOCOL
from trial_site.reachable import may_open_url
from trial_site.scoping import get_scoped_object_or_404
from trial_site.submission import once_per_submission


class VerificationForm(forms.Form):
    """The fields the monitor compared with the source, as checkboxes; "all fields" (or none ticked) verifies the
    whole form."""

    all_fields = forms.BooleanField(
        label=gettext_lazy("All fields (the whole form)"),
        required=False,
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )
    fields = forms.MultipleChoiceField(
        label=gettext_lazy("Fields verified"),
        required=False,
        help_text=gettext_lazy("Tick the fields you compared with the source, or all fields."),
        widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
    )

    def __init__(self, *args: Any, record: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["fields"].choices = [
            (model_field.name, str(model_field.verbose_name).capitalize())
            for model_field in selectors.verifiable_fields(type(record))
        ]

    def verified_fields(self) -> list[str]:
        """The fields to record: none (the whole form) when "all fields" is ticked."""
        return [] if self.cleaned_data["all_fields"] else self.cleaned_data["fields"]


def record_values(record: Any, user: Any) -> list[FieldValue]:
    """Each field of the form a monitor may verify, with its value (identifying values only to those who may)."""
    return field_values(record, user, selectors.verifiable_fields(type(record)))


@permission_required(selectors.VIEW_VERIFICATION)
def progress(request: HttpRequest) -> HttpResponse:
    sites, participants = selectors.sdv_progress(request.user)
    return render(
        request,
        "monitoring/verification.html",
        {
            "sites": sites,
            "participants": participants,
            "plan": PROTOCOL.monitoring,
            "full_forms": [str(model._meta.verbose_name) for model in sdv_forms() if form_name(model) in sdv_full()],
        },
    )


def _record(request: HttpRequest, data: Any) -> Any:
    found = record_for_form(str(data.get("form", "")), data.get("object"))
    if found is None:
        raise Http404("no such form")
    model, object_id = found
    return get_scoped_object_or_404(model.objects.select_related("site"), request, pk=object_id)


@permission_required(selectors.VIEW_VERIFICATION)
@once_per_submission
def mark(request: HttpRequest) -> HttpResponse:
    """One form: its verification state, and (for a monitor) the form to mark it verified."""
    record = _record(request, request.POST if request.method == "POST" else request.GET)
    can_verify = user_can(request.user, "monitoring.verify_source", record.site)
    form = VerificationForm(request.POST or None, record=record)
    status = 200
    if request.method == "POST":
        if not can_verify:
            raise PermissionDenied("cannot verify source data here")
        if form.is_valid():
            try:
                services.verification_record(record=record, fields=form.verified_fields(), by=request.user)
            except ValidationError as error:
                for field, problems in error.message_dict.items():
                    form.add_error(field if field in form.fields else None, problems)
            else:
                messages.success(request, _("%(form)s marked verified.") % {"form": record_label(record)})
                return redirect(record_url(record) or "monitoring:verification")
        status = 400
    return render(
        request,
        "monitoring/verification_mark.html",
        {
            "record": record,
            "label": record_label(record),
            "participant": record_participant(record),
            "values": record_values(record, request.user),
            "record_url": may_open_url(request.user, record_url(record), record.site_id),
            "form": form,
            "form_name": form_name(type(record)),
            "verification": selectors.verification_in_force(record),
            "can_verify": can_verify,
        },
        status=status,
    )


urlpatterns: list[URLPattern] = [
    path("verification/", progress, name="verification"),
    path("verification/mark/", mark, name="verification_mark"),
]
