"""Signature pages: signatures in force and invalidated, visits still to sign, and the sign page."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_otp import devices_for_user

from monitoring.models import Signature
from monitoring.selectors.records import record_for_form, record_label, record_url
from monitoring.selectors.signatures import VIEW_SIGNATURES, casebook_check_of, signature_lists
from monitoring.services.signatures import casebook_problems, signature_sign
from screening.models import Participant
from trial_site.forms import BANGLA_DIGITS
from trial_site.permissions import permission_required
from trial_site.protocol import PROTOCOL
from trial_site.scoping import get_scoped_object_or_404
from trial_site.submission import once_per_submission
from visits.models import Visit

LIST_LIMIT = 100


class SignForm(forms.Form):
    password = forms.CharField(
        label=gettext_lazy("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )
    otp_token = forms.CharField(
        label=gettext_lazy("6-digit code from your authenticator app"),
        required=False,
        max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def __init__(self, *args: Any, needs_code: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not needs_code:
            del self.fields["otp_token"]

    def clean_otp_token(self) -> str:
        return self.cleaned_data["otp_token"].strip().translate(BANGLA_DIGITS)


@permission_required(VIEW_SIGNATURES)
def index(request: HttpRequest) -> HttpResponse:
    """Signatures in force, invalidated ones (to sign again), and visits done that no signature covers."""
    lists = signature_lists(request.user, limit=LIST_LIMIT)
    return render(request, "monitoring/signatures.html", {**lists, "limit": LIST_LIMIT})


def _what_to_sign(request: HttpRequest) -> dict[str, Any]:
    """The scope and the form, visit or participant the query string names (404 if none, or another site's)."""
    data = request.GET
    scope = data.get("scope", "")
    if scope == Signature.Scope.FORM:
        found = record_for_form(data.get("form", ""), data.get("object"))
        if found is None:
            raise Http404("no such form")
        model, object_id = found
        record = get_scoped_object_or_404(model.objects.select_related("site"), request, pk=object_id)
        return {"scope": scope, "record": record, "label": record_label(record), "back": record_url(record)}
    if scope == Signature.Scope.VISIT:
        try:
            visit_id = int(data.get("visit", ""))
        except ValueError:
            raise Http404("no such visit") from None
        visit = get_scoped_object_or_404(Visit.objects.select_related("participant", "site"), request, pk=visit_id)
        label = _("Visit %(code)s of %(number)s") % {"code": visit.code, "number": visit.participant.screening_number}
        return {"scope": scope, "visit": visit, "label": label, "back": reverse("visits:visit", args=[visit.pk])}
    if scope == Signature.Scope.CASEBOOK:
        participant = get_scoped_object_or_404(
            Participant.objects.select_related("site"), request, screening_number=data.get("participant", "")
        )
        label = _("The whole casebook of %(number)s") % {"number": participant.screening_number}
        back = reverse("screening:participant", args=[participant.screening_number])
        return {"scope": scope, "participant": participant, "label": label, "back": back}
    raise Http404("a signature covers a form, a visit or a casebook")


@permission_required("monitoring.sign_data")
@once_per_submission
def sign(request: HttpRequest) -> HttpResponse:
    target = _what_to_sign(request)
    needs_code = settings.TWO_FACTOR_REQUIRED or any(True for _device in devices_for_user(request.user, confirmed=True))
    form = SignForm(request.POST or None, needs_code=needs_code)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                signature_sign(
                    scope=target["scope"],
                    by=request.user,
                    password=form.cleaned_data["password"],
                    otp_token=form.cleaned_data.get("otp_token", ""),
                    record=target.get("record"),
                    visit=target.get("visit"),
                    participant=target.get("participant"),
                    request=request,
                )
            except ValidationError as error:
                problems = error.error_dict if hasattr(error, "error_dict") else {None: error.error_list}
                for field, messages_ in problems.items():
                    form.add_error(field if field in form.fields else None, messages_)
            else:
                messages.success(request, _("Signed: %(what)s.") % {"what": target["label"]})
                return redirect(target["back"] or "monitoring:signatures")
        status = 400
    problems = casebook_problems(casebook_check_of(target["participant"])) if "participant" in target else []
    return render(
        request,
        "monitoring/signature_sign.html",
        {**target, "form": form, "meaning": PROTOCOL.monitoring.signature_meaning, "casebook_problems": problems},
        status=status,
    )


urlpatterns: list[URLPattern] = [
    path("signatures/", index, name="signatures"),
    path("signatures/sign/", sign, name="sign"),
]
