"""Visit schedule pages: what is due and overdue, missing forms, a participant's schedule and grid."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import OuterRef, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from clinical.mrss import MRSS_AREA_CODES
from randomization.selectors import arm_visible_to, treatment_of
from screening.models import Participant
from screening.selectors import participants_with_screening, screening_row
from trial_site import registry
from trial_site.audit.errors import EditConflict
from trial_site.audit.versions import current_version
from trial_site.blinding import Hidden, mrss_values_shown, shows
from trial_site.concurrency import VERSION_FIELD, add_validation_error, form_after_conflict
from trial_site.forms import may_read_forms, read_only
from trial_site.permissions import permission_required, user_can
from trial_site.scoping import get_scoped_object_or_404
from trial_site.submission import once_per_submission
from trial_site.text import sentence_start
from visits import crf_services, selectors, services
from visits.charts import mrss_chart
from visits.crfs import VisitForm, VisitMrss, crf_by_code
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


def _refused(request: HttpRequest, conflict: EditConflict) -> None:
    """Say that nothing was saved and who changed the record meanwhile (the form below shows what)."""
    messages.error(request, " ".join(conflict.messages))


def _apply(request: HttpRequest, form: Any, action: Any) -> bool:
    """Run ``action(cleaned_data)`` for a valid form; put a refusal's messages next to the fields. An edit conflict
    propagates to the view, which shows the form again with the other person's values (``form_after_conflict``)."""
    if not form.is_valid():
        return False
    try:
        action(form.cleaned_data)
    except EditConflict:
        raise
    except ValidationError as error:
        add_validation_error(form, error)
        return False
    return True


@permission_required(selectors.VIEW_VISITS)
def index(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "visits/index.html",
        {
            "overdue": selectors.overdue_visits(request.user),
            "in_window": selectors.visits_in_window(request.user),
        },
    )


@permission_required(selectors.VIEW_VISITS)
def missing_forms(request: HttpRequest) -> HttpResponse:
    return render(request, "visits/missing_forms.html", {"rows": selectors.missing_forms(request.user)})


@permission_required("visits.view_visit")
def participant_schedule(request: HttpRequest, number: str) -> HttpResponse:
    """A participant's schedule; add an unscheduled visit, schedule the safety follow-up, record the end of study
    (each form once per submission key)."""
    participant = _participant(request, number)
    can_change = user_can(request.user, "visits.change_visit", participant.site)
    if request.method == "POST" and not can_change:
        raise PermissionDenied("cannot change visits")
    return _participant_schedule(request, participant, can_change)


@once_per_submission
def _participant_schedule(request: HttpRequest, participant: Participant, can_change: bool) -> HttpResponse:
    number = participant.screening_number
    rows = selectors.participant_schedule(participant)
    allocation = getattr(participant, "allocation", None)
    data = request.POST if request.method == "POST" else None
    action = request.POST.get("action") if data else None
    unscheduled = UnscheduledVisitForm(data if action == "unscheduled" else None)
    follow_up = FollowUpForm(data if action == "follow_up" else None)
    ending = EndOfStudyForm(data if action == "end" else None)
    if data:
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
        "shows_mrss": (shows_mrss := shows(request.user, participant.site, Hidden.EARLIER_MRSS)),
        "shows_laboratory": (shows_labs := shows(request.user, participant.site, Hidden.LABORATORY)),
        "shows_medications": shows(request.user, participant.site, Hidden.CONCOMITANT_MEDICATIONS),
        "mrss_chart": mrss_chart(points := selectors.mrss_points(participant)) if shows_mrss else None,
        "mrss_change": selectors.mrss_change_from_baseline(points) if shows_mrss else None,
        "lab_trends": selectors.lab_trends(participant) if shows_labs else [],
    }
    return render(request, "visits/participant.html", context)


VISIT_FORMS = {"done": VisitDoneForm, "missed": VisitMissedForm, "reschedule": RescheduleForm}


def _visit(pk: int, request: HttpRequest) -> Visit:
    return get_scoped_object_or_404(Visit.objects.select_related("participant", "site"), request, pk=pk)


def _visit_forms(visit: Visit, data: Any = None, action: str | None = None) -> dict[str, Any]:
    """The forms of the visit page, each carrying the version of the visit; ``data`` binds the one of ``action``."""
    version = {VERSION_FIELD: current_version(visit)}
    initial = {
        "done": {"done_on": visit.done_on or visit.planned_date, "deviation_reason": visit.deviation_reason, **version},
        "missed": version,
        "reschedule": {"planned_date": visit.planned_date, **version},
    }
    return {
        name: form_class(data if name == action else None, instance=visit, initial=initial[name])
        for name, form_class in VISIT_FORMS.items()
    }


@permission_required("visits.view_visit")
def visit_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A visit: record it done (or correct its date), missed, or rescheduled within its window. Each form carries the
    version of the visit it was opened on: a change saved by someone else meanwhile is shown, not overwritten."""
    visit = _visit(pk, request)
    data = request.POST if request.method == "POST" else None
    action = request.POST.get("action") if data else None
    forms_ = _visit_forms(visit, data, action)
    status = 200
    if data:
        if not user_can(request.user, "visits.change_visit", visit.site):
            raise PermissionDenied("cannot change visits")
        change = {
            "done": lambda d: services.visit_record_done(
                visit=visit, by=request.user, done_on=d["done_on"], deviation_reason=d["deviation_reason"]),
            "missed": lambda d: services.visit_record_missed(visit=visit, by=request.user, reason=d["reason"]),
            "reschedule": lambda d: services.visit_reschedule(
                visit=visit, by=request.user, planned_date=d["planned_date"], reason=d["reason"]),
        }.get(action)  # fmt: skip
        try:
            saved = change is not None and _apply(request, forms_[action], change)
        except EditConflict as conflict:
            _refused(request, conflict)
            sent = forms_[action]
            visit = _visit(pk, request)  # as saved now
            forms_ = _visit_forms(visit)
            forms_[action] = form_after_conflict(
                sent, conflict, lambda: VISIT_FORMS[action](instance=visit, initial=sent.cleaned_data)
            )
            saved, status = False, 409
        if saved:
            messages.success(request, _("Visit %(code)s saved.") % {"code": visit.code})
            return redirect("visits:participant", number=visit.participant.screening_number)
        if status == 200:
            visit.refresh_from_db()  # a refused change may have altered the object in memory: show what is saved
    return render(
        request,
        "visits/visit.html",
        {
            "visit": visit,
            "state": selectors.state_today(visit),
            "done_form": forms_["done"],
            "missed_form": forms_["missed"],
            "reschedule_form": forms_["reschedule"],
            "can_change": user_can(request.user, "visits.change_visit", visit.site),
        },
        status=status,
    )


@permission_required("visits.view_visit")
def visit_crf(request: HttpRequest, pk: int, code: str) -> HttpResponse:
    """Enter or edit one case report form of a visit: save as a draft, or mark it complete.

    The first save creates the record (the new form carries a one-time submission key: a second click creates
    nothing); an edit carries the version it was opened on, and a save against a record changed since is refused
    (409) with the form shown again: the values saved now, the user's own changes on top, and who changed what.
    """
    visit = get_scoped_object_or_404(Visit.objects.select_related("participant__site", "site"), request, pk=pk)
    model = crf_by_code(code)
    if model is None or (not visit.required_forms.filter(form=code).exists() and not visit.is_unscheduled):
        raise Http404("this visit has no such form")
    can_enter = user_can(request.user, registry.permission(model, "change"), visit.site)
    if not can_enter and (request.method == "POST" or not may_read_forms(request.user, visit.site)):
        raise PermissionDenied(f"cannot enter {code}")
    if model is VisitMrss and not _mrss_shown(request.user, visit):
        raise PermissionDenied("blinded: an mRSS complete or followed by a later one")
    return _visit_crf(request, visit, model, can_enter)


def _mrss_shown(user: Any, visit: Visit) -> bool:
    """Whether ``user`` may open this visit's mRSS: a blinded assessor only the one being scored now."""
    if shows(user, visit.site, Hidden.EARLIER_MRSS):
        return True
    record = VisitMrss.objects.filter(visit=visit).only("status").first()
    later = VisitMrss.objects.filter(
        visit__participant_id=visit.participant_id, visit__sequence__gt=visit.sequence
    ).exists()
    complete = record is not None and record.status == VisitMrss.Status.COMPLETE
    return mrss_values_shown(user, visit.site, complete=complete, later_scored=later)


@once_per_submission
def _visit_crf(request: HttpRequest, visit: Visit, model: type[VisitForm], can_enter: bool) -> HttpResponse:
    posted = request.method == "POST"
    form = build_visit_crf_form(
        model,
        visit=visit,
        user=request.user,
        data=request.POST if posted else None,
        opened_new=posted and VERSION_FIELD not in request.POST,  # the page was opened before the form existed
    )
    status = 200
    if not can_enter:
        read_only(form)
    if posted and form.is_valid():
        try:
            warnings = crf_services.visit_form_save(
                record=form.instance,
                by=request.user,
                complete=request.POST.get("complete") == "1",
                reason=form.cleaned_data.get("reason_for_change"),
            )
        except EditConflict as conflict:
            _refused(request, conflict)
            form = form_after_conflict(
                form, conflict, lambda: build_visit_crf_form(model, visit=visit, user=request.user)
            )
            status = 409
        except ValidationError as error:
            add_validation_error(form, error)
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
        status=status,
    )


def _medication_stopped(request: HttpRequest, participant: Participant) -> ConcomitantMedication | None:
    """The medication a "stopped" form names (a 404 for another participant's), or None when it names none."""
    try:
        pk = int(request.POST.get("medication", ""))
    except ValueError:
        return None
    return get_scoped_object_or_404(ConcomitantMedication.objects.filter(participant=participant), request, pk=pk)


def _with_versions(medications: Any) -> Any:
    """The medications with the version each was shown at (``version``), for their "stopped" forms: one query."""
    latest = ConcomitantMedication.history.model.objects.filter(id=OuterRef("pk")).order_by("-history_id")
    return medications.annotate(version=Subquery(latest.values("history_id")[:1]))


@permission_required("visits.view_concomitantmedication")
def medications(request: HttpRequest, number: str) -> HttpResponse:
    """The participant's concomitant medications: add one (once per submission key), or record that one was stopped
    (with the version of the medication the page showed: a change saved since is shown, not overwritten)."""
    participant = _participant(request, number)
    if not shows(request.user, participant.site, Hidden.CONCOMITANT_MEDICATIONS):
        raise PermissionDenied("concomitant medications are hidden from blinded staff")
    can_change = user_can(request.user, "visits.change_concomitantmedication", participant.site)
    if request.method == "POST" and request.POST.get("action") and not can_change:
        raise PermissionDenied("cannot change medications")
    return _medications(request, participant, can_change)


@once_per_submission
def _medications(request: HttpRequest, participant: Participant, can_change: bool) -> HttpResponse:
    number = participant.screening_number
    action = request.POST.get("action") if request.method == "POST" else None
    add_form = MedicationForm(
        request.POST if action == "add" else None,
        instance=ConcomitantMedication(participant=participant, site=participant.site),
    )
    stopped = _medication_stopped(request, participant) if action == "stop" else None
    stop_form = MedicationStopForm(request.POST if action == "stop" else None, instance=stopped)
    status = 200
    if action == "add" and _apply(
        request, add_form, lambda d: services.medication_add(medication=add_form.instance, by=request.user)
    ):
        messages.success(request, _("Medication added."))
        return redirect("visits:medications", number=number)
    if action == "stop":
        try:
            done = _apply(request, stop_form, lambda d: services.medication_stop(
                medication=stopped, by=request.user, stopped_on=d["stopped_on"]))  # fmt: skip
        except EditConflict as conflict:
            _refused(request, conflict)
            fresh = ConcomitantMedication.objects.get(pk=stopped.pk)
            stop_form = form_after_conflict(
                stop_form, conflict, lambda: MedicationStopForm(instance=fresh, initial=stop_form.cleaned_data)
            )
            done, status = False, 409
        if done:
            messages.success(request, _("Medication stopped."))
            return redirect("visits:medications", number=number)
    return render(
        request,
        "visits/medications.html",
        {
            "participant": participant,
            "medications": _with_versions(participant.medications.order_by("-start_date", "drug")),
            "add_form": add_form,
            "stop_form": stop_form,
            "can_change": can_change,
        },
        status=status,
    )
