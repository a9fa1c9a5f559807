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
from monitoring.selectors.records import record_for_form, record_label, record_url
from monitoring.selectors.sdv_plan import form_name, sdv_forms, sdv_full
from monitoring.services import verification as services
from trial_site.permissions import may_see_identifiers, permission_required, user_can
from trial_site.protocol import PROTOCOL
from trial_site.scoping import get_scoped_object_or_404
from trial_site.submission import once_per_submission

IDENTIFYING_HIDDEN = gettext_lazy("(identifying: not shown)")


class VerificationForm(forms.Form):
    fields = forms.MultipleChoiceField(
        label=gettext_lazy("Fields verified"),
        required=False,
        help_text=gettext_lazy("None selected: the whole form."),
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )

    def __init__(self, *args: Any, record: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["fields"].choices = [
            (model_field.name, str(model_field.verbose_name).capitalize())
            for model_field in selectors.verifiable_fields(type(record))
        ]


def _shown(record: Any, model_field: Any) -> str:
    """A field's value as a person reads it: the choice's label, the related record's name, or the value."""
    if model_field.choices:
        return str(getattr(record, f"get_{model_field.name}_display")())
    value = getattr(record, model_field.name)
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return str(value)


def record_values(record: Any, user: Any) -> list[tuple[str, str, str]]:
    """(field name, label, value shown) of each field of the form a monitor may verify; an identifying field's value
    only to a user who may see identifying data at the record's site."""
    identifying = (
        set(getattr(record, "identifying_fields", ())) if not may_see_identifiers(user, record.site_id) else set()
    )
    return [
        (
            model_field.name,
            str(model_field.verbose_name).capitalize(),
            str(IDENTIFYING_HIDDEN) if model_field.name in identifying else _shown(record, model_field),
        )
        for model_field in selectors.verifiable_fields(type(record))
    ]


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
                services.verification_record(record=record, fields=form.cleaned_data["fields"], by=request.user)
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
            "values": record_values(record, request.user),
            "record_url": record_url(record),
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
