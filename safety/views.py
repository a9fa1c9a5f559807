"""Safety pages: open SAE reports and laboratory alerts, a participant's adverse events, the summary by arm."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from safety import selectors, services
from safety.forms import AcknowledgeForm, AdverseEventForm, SaeSignForm, SaeSubmitForm
from safety.models import AdverseEvent, LabAlert, SaeReport
from screening.models import Participant
from trial_site.permissions import permission_required, user_can
from trial_site.scoping import get_scoped_object_or_404


def _errors_into(form: Any, error: ValidationError) -> None:
    problems = error.error_dict if hasattr(error, "error_dict") else {None: error.error_list}
    for field, messages_ in problems.items():
        form.add_error(field if field in form.fields else None, messages_)


@permission_required("safety.view_adverseevent")
def index(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "safety/index.html",
        {
            "reports": selectors.open_sae_reports(request.user),
            "alerts": selectors.open_lab_alerts(request.user),
            "acknowledge_form": AcknowledgeForm(),
        },
    )


@permission_required("safety.view_adverseevent")
def participant_events(request: HttpRequest, number: str) -> HttpResponse:
    participant = get_scoped_object_or_404(Participant.objects.select_related("site"), request, screening_number=number)
    can_add = user_can(request.user, "safety.add_adverseevent", participant.site)
    # A laboratory value of CTCAE grade 3 or more links here with the event pre-filled.
    prefill = {
        name: request.GET[name] for name in ("description", "grade", "onset_date", "visit") if name in request.GET
    }
    form = AdverseEventForm(request.POST or None, participant=participant, initial=prefill)
    if request.method == "POST":
        if not can_add:
            raise PermissionDenied("cannot record adverse events")
        if form.is_valid():
            try:
                event = services.adverse_event_record(event=form.instance, by=request.user)
            except ValidationError as error:
                _errors_into(form, error)
            else:
                messages.success(request, _("Adverse event recorded."))
                if event.serious:
                    messages.warning(request, _("Serious: the SAE report is due within 24 hours."))
                return redirect("safety:participant", number=number)
    events = participant.adverse_events.prefetch_related("sae_reports").order_by("-onset_date")
    return render(
        request,
        "safety/participant.html",
        {"participant": participant, "events": events, "form": form, "can_add": can_add},
    )


@permission_required("safety.view_adverseevent")
def event_detail(request: HttpRequest, pk: int) -> HttpResponse:
    event = get_scoped_object_or_404(AdverseEvent.objects.select_related("participant", "site"), request, pk=pk)
    action = request.POST.get("action") if request.method == "POST" else None
    form = AdverseEventForm(request.POST if action == "change" else None, instance=event, participant=event.participant)
    if action == "change" and form.is_valid():
        try:
            services.adverse_event_change(
                event=form.instance, by=request.user, reason=form.cleaned_data["reason_for_change"]
            )
        except ValidationError as error:
            _errors_into(form, error)
        else:
            messages.success(request, _("Adverse event saved."))
            return redirect("safety:event", pk=pk)
    return render(
        request,
        "safety/event.html",
        {
            "event": event,
            "form": form,
            "reports": event.sae_reports.select_related("signed_by").order_by("deadline"),
            "submit_form": SaeSubmitForm(),
            "sign_form": SaeSignForm(),
            "can_change": user_can(request.user, "safety.change_adverseevent", event.site),
            "can_sign": user_can(request.user, "safety.sign_saereport", event.site),
        },
    )


@permission_required("safety.change_saereport")
@require_POST
def report_action(request: HttpRequest, pk: int) -> HttpResponse:
    report = get_scoped_object_or_404(SaeReport.objects.select_related("site"), request, pk=pk)
    try:
        if request.POST.get("action") == "follow_up":
            services.sae_follow_up_open(event=report.adverse_event, by=request.user)
            messages.success(request, _("Follow-up report opened; it is due within 24 hours."))
            return redirect("safety:event", pk=report.adverse_event_id)
        if request.POST.get("action") == "sign":
            form = SaeSignForm(request.POST)
            if form.is_valid():
                services.sae_report_sign(report=report, by=request.user, causality=form.cleaned_data["causality"])
        else:
            form = SaeSubmitForm(request.POST)
            if form.is_valid():
                services.sae_report_submit(report=report, by=request.user, narrative=form.cleaned_data["narrative"])
        if not form.is_valid():
            messages.error(request, _("Complete the form: %(errors)s") % {"errors": form.errors.as_text()})
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    return redirect("safety:event", pk=report.adverse_event_id)


@permission_required("safety.acknowledge_labalert")
@require_POST
def alert_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_scoped_object_or_404(LabAlert.objects.select_related("site"), request, pk=pk)
    form = AcknowledgeForm(request.POST)
    if form.is_valid():
        try:
            services.lab_alert_acknowledge(alert=alert, by=request.user, action_taken=form.cleaned_data["action_taken"])
        except ValidationError as error:  # a lock on the data, say
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, _("Alert acknowledged."))
    else:
        messages.error(request, _("Say what was done about the alert."))
    return redirect("safety:index")


@permission_required("randomization.view_arm")
def summary(request: HttpRequest) -> HttpResponse:
    """Adverse events by arm: only for staff who may see arms."""
    if not user_can(request.user, "safety.view_adverseevent"):
        raise PermissionDenied("no safety access")
    return render(request, "safety/summary.html", {"arms": selectors.safety_summary(request.user)})
