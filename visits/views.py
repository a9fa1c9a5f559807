"""Visit schedule pages: what is due and overdue, missing forms, a participant's schedule and grid."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from clinical.mrss import MRSS_AREA_CODES
from randomization.selectors import arm_visible_to, treatment_of
from screening.models import Participant
from screening.selectors import participants_with_screening, screening_row
from trial_site.forms import may_read_forms, read_only
from trial_site.permissions import permission_required, user_can
from trial_site.scoping import get_scoped_object_or_404
from trial_site.text import sentence_start
from visits import crf_services, selectors, services
from visits.charts import mrss_chart
from visits.crfs import CRF_BY_CODE, VisitMrss
from visits.forms import (
    EndOfStudyForm,
    FollowUpForm,
    MedicationForm,
    MedicationStopForm,
    RescheduleForm,
    UnscheduledVisitForm,
    VisitDoneForm,
    VisitMissedForm,
    build_visit_crf_form,
)
from visits.models import ConcomitantMedication, Visit


def _participant(request: HttpRequest, number: str) -> Participant:
    queryset = participants_with_screening(Participant.objects.select_related("end_of_study"))
    return get_scoped_object_or_404(queryset, request, screening_number=number)


def _apply(request: HttpRequest, form: Any, action: Any) -> bool:
    """Run ``action(cleaned_data)`` for a valid form; put a refusal's messages next to the fields."""
    if not form.is_valid():
        return False
    try:
        action(form.cleaned_data)
    except ValidationError as error:
        problems_by_field = error.error_dict if hasattr(error, "error_dict") else {None: error.error_list}
        for field, problems in problems_by_field.items():
            form.add_error(field if field in form.fields else None, problems)
        return False
    return True


@permission_required("visits.view_visit")
def index(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "visits/index.html",
        {
            "overdue": selectors.overdue_visits(request.user),
            "in_window": selectors.visits_in_window(request.user),
        },
    )


@permission_required("visits.view_visit")
def missing_forms(request: HttpRequest) -> HttpResponse:
    return render(request, "visits/missing_forms.html", {"rows": selectors.missing_forms(request.user)})


@permission_required("visits.view_visit")
def participant_schedule(request: HttpRequest, number: str) -> HttpResponse:
    participant = _participant(request, number)
    rows = selectors.participant_schedule(participant)
    allocation = getattr(participant, "allocation", None)
    can_change = user_can(request.user, "visits.change_visit", participant.site)
    data = request.POST if request.method == "POST" else None
    action = request.POST.get("action") if data else None
    unscheduled = UnscheduledVisitForm(data if action == "unscheduled" else None)
    follow_up = FollowUpForm(data if action == "follow_up" else None)
    ending = EndOfStudyForm(data if action == "end" else None)
    if data:
        if not can_change:
            raise PermissionDenied("cannot change visits")
        done = {
            "unscheduled": lambda: _apply(request, unscheduled, lambda d: services.unscheduled_visit_add(
                participant=participant, by=request.user, on=d["on"], reason=d["reason"])),
            "follow_up": lambda: _apply(request, follow_up, lambda d: services.follow_up_schedule(
                participant=participant, by=request.user, last_dose=d["last_dose"])),
            "end": lambda: _apply(request, ending, lambda d: services.end_of_study_record(
                participant=participant, by=request.user, ended_on=d["ended_on"], reason=d["reason"],
                details=d["details"])),
        }.get(action, lambda: False)()  # fmt: skip
        if done:
            messages.success(request, _("Saved."))
            return redirect("visits:participant", number=number)
    context = {
        "participant": participant,
        "status": screening_row(participant).status,
        "allocation": allocation,
        "treatment": treatment_of(allocation) if allocation and arm_visible_to(request.user, allocation) else None,
        "rows": rows,
        "grid_forms": selectors.grid_forms(rows),
        "can_change": can_change,
        "unscheduled_form": unscheduled,
        "follow_up_form": follow_up,
        "end_form": ending,
        "has_follow_up": any(row.visit.code == selectors.follow_up_code() for row in rows),
        "mrss_chart": mrss_chart(points := selectors.mrss_points(participant)),
        "mrss_change": selectors.mrss_change_from_baseline(points),
        "lab_trends": selectors.lab_trends(participant),
    }
    return render(request, "visits/participant.html", context)


@permission_required("visits.view_visit")
def visit_detail(request: HttpRequest, pk: int) -> HttpResponse:
    visit = get_scoped_object_or_404(Visit.objects.select_related("participant", "site"), request, pk=pk)
    data = request.POST if request.method == "POST" else None
    action = request.POST.get("action") if data else None
    done = VisitDoneForm(data if action == "done" else None, initial={"done_on": visit.planned_date})
    missed = VisitMissedForm(data if action == "missed" else None)
    reschedule = RescheduleForm(data if action == "reschedule" else None, initial={"planned_date": visit.planned_date})
    if data:
        if not user_can(request.user, "visits.change_visit", visit.site):
            raise PermissionDenied("cannot change visits")
        saved = {
            "done": lambda: _apply(request, done, lambda d: services.visit_record_done(
                visit=visit, by=request.user, done_on=d["done_on"], deviation_reason=d["deviation_reason"])),
            "missed": lambda: _apply(request, missed, lambda d: services.visit_record_missed(
                visit=visit, by=request.user, reason=d["reason"])),
            "reschedule": lambda: _apply(request, reschedule, lambda d: services.visit_reschedule(
                visit=visit, by=request.user, planned_date=d["planned_date"], reason=d["reason"])),
        }.get(action, lambda: False)()  # fmt: skip
        if saved:
            messages.success(request, _("Visit %(code)s saved.") % {"code": visit.code})
            return redirect("visits:participant", number=visit.participant.screening_number)
        visit.refresh_from_db()  # a refused change may have altered the object in memory: show what is saved
    return render(
        request,
        "visits/visit.html",
        {
            "visit": visit,
            "state": selectors.state_today(visit),
            "done_form": done,
            "missed_form": missed,
            "reschedule_form": reschedule,
            "can_change": user_can(request.user, "visits.change_visit", visit.site),
        },
    )


@permission_required("visits.view_visit")
def visit_crf(request: HttpRequest, pk: int, code: str) -> HttpResponse:
    """Enter or edit one case report form of a visit: save as a draft, or mark it complete."""
    visit = get_scoped_object_or_404(Visit.objects.select_related("participant__site", "site"), request, pk=pk)
    model = CRF_BY_CODE.get(code)
    if model is None or (not visit.required_forms.filter(form=code).exists() and not visit.is_unscheduled):
        raise Http404("this visit has no such form")
    can_enter = user_can(request.user, f"visits.change_{model._meta.model_name}", visit.site)
    if not can_enter and (request.method == "POST" or not may_read_forms(request.user, visit.site)):
        raise PermissionDenied(f"cannot enter {code}")
    form = build_visit_crf_form(model, visit=visit, user=request.user, data=request.POST or None)
    if not can_enter:
        read_only(form)
    if request.method == "POST" and form.is_valid():
        try:
            warnings = crf_services.visit_form_save(
                record=form.instance,
                by=request.user,
                complete=request.POST.get("complete") == "1",
                reason=form.cleaned_data.get("reason_for_change"),
            )
        except ValidationError as error:
            problems = error.error_dict if hasattr(error, "error_dict") else {None: error.error_list}
            for field, messages_ in problems.items():
                form.add_error(field if field in form.fields else None, messages_)
        else:
            for warning in warnings:
                messages.warning(request, warning)
            messages.success(request, _("%(form)s saved.") % {"form": sentence_start(model._meta.verbose_name)})
            return redirect("visits:participant", number=visit.participant.screening_number)
    return render(
        request,
        "visits/crf.html",
        {
            "visit": visit,
            "form": form,
            "title": sentence_start(model._meta.verbose_name),
            "record": form.instance,
            "read_only": not can_enter,
            "live_total_fields": ",".join(MRSS_AREA_CODES) if model is VisitMrss else "",
        },
    )


@permission_required("visits.view_concomitantmedication")
def medications(request: HttpRequest, number: str) -> HttpResponse:
    """The participant's concomitant medications: add one, or record that one was stopped."""
    participant = _participant(request, number)
    can_change = user_can(request.user, "visits.change_concomitantmedication", participant.site)
    action = request.POST.get("action") if request.method == "POST" else None
    add_form = MedicationForm(
        request.POST if action == "add" else None,
        instance=ConcomitantMedication(participant=participant, site=participant.site),
    )
    stop_form = MedicationStopForm(request.POST if action == "stop" else None)
    if action and not can_change:
        raise PermissionDenied("cannot change medications")
    if action == "add" and _apply(
        request, add_form, lambda d: services.medication_add(medication=add_form.instance, by=request.user)
    ):
        messages.success(request, _("Medication added."))
        return redirect("visits:medications", number=number)
    if action == "stop" and stop_form.is_valid():
        medication = get_scoped_object_or_404(
            ConcomitantMedication.objects.filter(participant=participant),
            request,
            pk=stop_form.cleaned_data["medication"],
        )
        if _apply(request, stop_form, lambda d: services.medication_stop(
            medication=medication, by=request.user, stopped_on=d["stopped_on"])):  # fmt: skip
            messages.success(request, _("Medication stopped."))
            return redirect("visits:medications", number=number)
    return render(
        request,
        "visits/medications.html",
        {
            "participant": participant,
            "medications": participant.medications.order_by("-start_date", "drug"),
            "add_form": add_form,
            "stop_form": stop_form,
            "can_change": can_change,
        },
    )
