"""Safety pages: open SAE reports and laboratory alerts, a participant's adverse events, the summary by arm.

Every form that changes a saved record carries the version it was opened on: a save against a record changed since
is refused (409) and the form comes back with the values saved now, the user's own changes on top, and a panel
naming who changed what (``trial_site.concurrency``). Every form that creates something (an adverse event, a
follow-up SAE report, an acknowledgement) carries a one-time submission key: sent twice, it creates once.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Max, Model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from safety import selectors, services
from safety.forms import AcknowledgeForm, AdverseEventForm, OneRecordForm, SaeSignForm, SaeSubmitForm
from safety.models import AdverseEvent, LabAlert, SaeReport
from screening.models import Participant
from trial_site.audit.errors import EditConflict
from trial_site.concurrency import VERSION_FIELD, form_after_conflict
from trial_site.forms import add_validation_error, add_validation_messages
from trial_site.permissions import permission_required, user_can
from trial_site.scoping import get_scoped_object_or_404
from trial_site.submission import once_per_submission


def _versions(model: type[Model], records: Iterable[Model]) -> dict[int, int]:
    """The version (latest history row) of each record, in one query."""
    rows = (
        model.history.model.objects.filter(id__in=[record.pk for record in records])  # type: ignore[attr-defined]
        .values("id")
        .annotate(version=Max("history_id"))
    )
    return {row["id"]: row["version"] for row in rows}


def _refused(request: HttpRequest, conflict: EditConflict) -> None:
    """Say that nothing was saved and who changed the record meanwhile (the form shows what)."""
    messages.error(request, " ".join(conflict.messages))


@permission_required("safety.view_adverseevent")
def index(request: HttpRequest) -> HttpResponse:
    return _index_page(request)


def _index_page(request: HttpRequest, shown: OneRecordForm | None = None, status: int = 200) -> HttpResponse:
    """The safety front page; ``shown``: the acknowledgement form of one alert as sent (with its errors)."""
    alerts = selectors.open_lab_alerts(request.user)
    versions = _versions(LabAlert, alerts)
    for alert in alerts:
        if shown is not None and shown.instance.pk == alert.pk:
            alert.acknowledge_form = shown
        else:
            alert.acknowledge_form = AcknowledgeForm(instance=alert, initial={VERSION_FIELD: versions.get(alert.pk)})
    return render(
        request,
        "safety/index.html",
        {
            "reports": selectors.open_sae_reports(request.user),
            "alerts": alerts,
            "shown_form": shown,
        },
        status=status,
    )


@permission_required("safety.view_adverseevent")
def participant_events(request: HttpRequest, number: str) -> HttpResponse:
    """A participant's adverse events, and the form to record one (once per submission key: a serious event sent
    twice opens one SAE report and sends one e-mail)."""
    participant = get_scoped_object_or_404(
        Participant.objects.select_related("site"), request, permission=selectors.SEE_EVENTS, screening_number=number
    )
    can_add = user_can(request.user, "safety.add_adverseevent", participant.site)
    if request.method == "POST" and not can_add:
        raise PermissionDenied("cannot record adverse events")
    return _participant_events(request, participant, can_add)


@once_per_submission
def _participant_events(request: HttpRequest, participant: Participant, can_add: bool) -> HttpResponse:
    number = participant.screening_number
    # A laboratory value of CTCAE grade 3 or more links here with the event pre-filled.
    prefill = {
        name: request.GET[name] for name in ("description", "grade", "onset_date", "visit") if name in request.GET
    }
    form = AdverseEventForm(request.POST or None, participant=participant, initial=prefill)
    if request.method == "POST" and form.is_valid():
        try:
            event = services.adverse_event_record(event=form.instance, by=request.user)
        except ValidationError as error:
            add_validation_error(form, error)
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


def _event(request: HttpRequest, pk: int) -> AdverseEvent:
    return get_scoped_object_or_404(
        AdverseEvent.objects.select_related("participant", "site"), request, permission=selectors.SEE_EVENTS, pk=pk
    )


def _event_page(
    request: HttpRequest,
    event: AdverseEvent,
    *,
    form: AdverseEventForm | None = None,
    shown: OneRecordForm | None = None,
    status: int = 200,
) -> HttpResponse:
    """The page of an adverse event: its SAE reports (each with its own send and sign forms, carrying the report's
    version) and the form that changes the event. ``form``/``shown``: a form as sent, shown again."""
    reports = list(event.sae_reports.select_related("signed_by").order_by("deadline"))
    versions = _versions(SaeReport, reports)
    for report in reports:
        initial = {VERSION_FIELD: versions.get(report.pk)}
        report.submit_form = SaeSubmitForm(instance=report, initial=initial)
        report.sign_form = SaeSignForm(instance=report, initial=initial)
        if shown is not None and shown.instance.pk == report.pk:
            setattr(report, "submit_form" if isinstance(shown, SaeSubmitForm) else "sign_form", shown)
    return render(
        request,
        "safety/event.html",
        {
            "event": event,
            "form": form or AdverseEventForm(instance=event, participant=event.participant),
            "reports": reports,
            "shown_form": shown,
            "can_change": user_can(request.user, "safety.change_adverseevent", event.site),
            "can_sign": user_can(request.user, "safety.sign_saereport", event.site),
        },
        status=status,
    )


@permission_required("safety.view_adverseevent")
def event_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """An adverse event; its form (posted here) changes it, with a reason, against the version the page showed."""
    event = _event(request, pk)
    if request.method != "POST" or request.POST.get("action") != "change":
        return _event_page(request, event)
    if not user_can(request.user, "safety.change_adverseevent", event.site):
        raise PermissionDenied("cannot change adverse events")
    form = AdverseEventForm(request.POST, instance=event, participant=event.participant)
    if form.is_valid():
        try:
            services.adverse_event_change(
                event=form.instance, by=request.user, reason=form.cleaned_data["reason_for_change"]
            )
        except EditConflict as conflict:
            _refused(request, conflict)
            saved = _event(request, pk)
            form = form_after_conflict(
                form, conflict, lambda: AdverseEventForm(instance=saved, participant=saved.participant)
            )
            return _event_page(request, _event(request, pk), form=form, status=409)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, _("Adverse event saved."))
            return redirect("safety:event", pk=pk)
    return _event_page(request, _event(request, pk), form=form)


def _report(request: HttpRequest, pk: int) -> tuple[SaeReport, AdverseEvent]:
    """The SAE report of an action, and its adverse event (each a 404 where the user may not reach it)."""
    report = get_scoped_object_or_404(
        SaeReport.objects.select_related("site"), request, permission="safety.change_saereport", pk=pk
    )
    return report, _event(request, report.adverse_event_id)


@permission_required("safety.change_saereport")
@require_POST
@once_per_submission
def report_follow_up(request: HttpRequest, pk: int) -> HttpResponse:
    """Open a follow-up SAE report of the report's event (once per submission key)."""
    _sae_report, event = _report(request, pk)
    try:
        services.sae_follow_up_open(event=event, by=request.user)
    except ValidationError as error:
        add_validation_messages(request, error)
        return _event_page(request, event)
    messages.success(request, _("Follow-up report opened; it is due within 24 hours."))
    return redirect("safety:event", pk=event.pk)


def _report_refused(
    request: HttpRequest, event: AdverseEvent, form: OneRecordForm, conflict: EditConflict | None = None
) -> HttpResponse:
    """The event page again with the report's ``form`` as sent: with its errors, or (409) after ``conflict``, the
    report as saved now with the user's entries on top."""
    if conflict is None:
        return _event_page(request, event, shown=form)
    _refused(request, conflict)
    form = form_after_conflict(form, conflict, lambda: type(form)(instance=SaeReport.objects.get(pk=form.instance.pk)))
    return _event_page(request, event, shown=form, status=409)


def _report_saved(request: HttpRequest, event: AdverseEvent) -> HttpResponse:
    messages.success(request, _("SAE report saved."))
    return redirect("safety:event", pk=event.pk)


@permission_required("safety.change_saereport")
@require_POST
def report_submit(request: HttpRequest, pk: int) -> HttpResponse:
    """Record the SAE report as sent to the sponsor, with its narrative (against the version the page showed)."""
    report, event = _report(request, pk)
    form = SaeSubmitForm(request.POST, instance=report)
    if form.is_valid():
        try:
            services.sae_report_submit(report=report, by=request.user, narrative=form.cleaned_data["narrative"])
        except EditConflict as conflict:
            return _report_refused(request, event, form, conflict)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            return _report_saved(request, event)
    return _report_refused(request, event, form)


@permission_required("safety.change_saereport")
@require_POST
def report_sign(request: HttpRequest, pk: int) -> HttpResponse:
    """The investigator signs the SAE report with their causality (against the version the page showed)."""
    report, event = _report(request, pk)
    form = SaeSignForm(request.POST, instance=report)
    if form.is_valid():
        try:
            services.sae_report_sign(report=report, by=request.user, causality=form.cleaned_data["causality"])
        except EditConflict as conflict:
            return _report_refused(request, event, form, conflict)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            return _report_saved(request, event)
    return _report_refused(request, event, form)


@permission_required("safety.acknowledge_labalert")
@require_POST
def alert_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    """Acknowledge a laboratory alert (once per submission key, against the version of the alert shown)."""
    alert = get_scoped_object_or_404(
        LabAlert.objects.select_related("site"), request, permission="safety.acknowledge_labalert", pk=pk
    )
    if alert.site_id not in selectors.alert_site_ids(request.user):
        raise PermissionDenied("the alerts of this site are only for staff who may see the arm there")
    return _alert_acknowledge(request, alert)


@once_per_submission
def _alert_acknowledge(request: HttpRequest, alert: LabAlert) -> HttpResponse:
    form = AcknowledgeForm(request.POST, instance=alert)
    if form.is_valid():
        try:
            services.lab_alert_acknowledge(alert=alert, by=request.user, action_taken=form.cleaned_data["action_taken"])
        except EditConflict as conflict:
            _refused(request, conflict)
            form = form_after_conflict(
                form, conflict, lambda: AcknowledgeForm(instance=LabAlert.objects.get(pk=alert.pk))
            )
            return _index_page(request, shown=form, status=409)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, _("Alert acknowledged."))
            return redirect("safety:index")
    return _index_page(request, shown=form)


@permission_required("randomization.view_arm")
def summary(request: HttpRequest) -> HttpResponse:
    """Adverse events by arm: only for staff who may see arms, counting the sites where they may read adverse
    events and see arms (a role counts at its own site only)."""
    if not selectors.summary_site_ids(request.user):
        raise PermissionDenied("no site where the user may read adverse events and see arms")
    return render(request, "safety/summary.html", {"arms": selectors.safety_summary(request.user)})
