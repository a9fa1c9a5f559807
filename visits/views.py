"""Visit schedule pages: what is due and overdue, missing forms, a participant's schedule and grid. Each action on a
schedule or a visit (add an unscheduled visit, schedule the follow-up, end the study; record a visit done or missed,
reschedule it) is a view of its own, at its own URL, that shows the page again with the errors beside the fields."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import OuterRef, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from clinical.mrss import MRSS_AREA_CODES
from randomization.selectors import arm_visible_to, treatment_of
from screening.models import Participant
from screening.selectors import participants_with_screening, screening_row
from trial_site import registry
from trial_site.audit.errors import EditConflict
from trial_site.audit.versions import current_version
from trial_site.blinding import Hidden, shows
from trial_site.concurrency import VERSION_FIELD, form_after_conflict
from trial_site.forms import add_validation_error, read_only
from trial_site.permissions import permission_required, user_can
from trial_site.scoping import get_scoped_object_or_404
from trial_site.submission import once_per_submission
from trial_site.text import sentence_start
from visits import crf_services, selectors, services
from visits.access import form_access
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
from visits.record_status import next_form, visit_form_entries


def _participant(request: HttpRequest, number: str) -> Participant:
    queryset = participants_with_screening(Participant.objects.select_related("end_of_study"))
    return get_scoped_object_or_404(queryset, request, screening_number=number)


def _refused(request: HttpRequest, conflict: EditConflict) -> None:
    """Say that nothing was saved and who changed the record meanwhile (the form below shows what)."""
    messages.error(request, " ".join(conflict.messages))


def _query_with(request: HttpRequest, **changed: str | None) -> str:
    """The page's query string with ``changed`` (a value None drops the parameter): the links to other pages."""
    query = request.GET.copy()
    for key, value in changed.items():
        query.pop(key, None)
        if value:
            query[key] = value
    return query.urlencode()


@permission_required(selectors.VIEW_VISITS)
@require_safe
def index(request: HttpRequest) -> HttpResponse:
    """The visits overdue and those in their window today, each list paged on its own (keyset)."""
    today = timezone.localdate()
    overdue = selectors.overdue_page(request.user, today=today, cursor=request.GET.get("overdue_after"))
    in_window = selectors.in_window_page(request.user, today=today, cursor=request.GET.get("window_after"))
    context = {
        "overdue": overdue,
        "in_window": in_window,
        "overdue_next": _query_with(request, overdue_after=overdue.next_cursor) if overdue.next_cursor else "",
        "overdue_first": _query_with(request, overdue_after=None),
        "window_next": _query_with(request, window_after=in_window.next_cursor) if in_window.next_cursor else "",
        "window_first": _query_with(request, window_after=None),
    }
    return render(request, "visits/index.html", context)


@permission_required(selectors.VIEW_VISITS)
@require_safe
def missing_forms(request: HttpRequest) -> HttpResponse:
    """The forms still required for visits that took place or whose window has closed, paged (keyset), one form
    or all."""
    labels = registry.visit_form_labels()
    form = request.GET.get("form", "")
    form = form if form in labels else ""
    page = selectors.missing_forms_page(
        request.user, today=timezone.localdate(), cursor=request.GET.get("after"), form=form
    )
    context = {
        "page": page,
        "forms": labels.items(),
        "form": form,
        "next_query": _query_with(request, after=page.next_cursor) if page.next_cursor else "",
        "first_query": _query_with(request, after=None),
    }
    return render(request, "visits/missing_forms.html", context)


@permission_required("visits.view_visit")
@require_safe
def participant_schedule(request: HttpRequest, number: str) -> HttpResponse:
    """A participant's schedule, with the forms that add an unscheduled visit, schedule the safety follow-up and
    record the end of study (each posts to its own view)."""
    return _schedule_page(request, _participant(request, number))


def _schedule_page(
    request: HttpRequest, participant: Participant, *, status: int = 200, **sent: forms.Form
) -> HttpResponse:
    """The schedule page; ``sent``: a form as sent (``unscheduled_form``, ``follow_up_form`` or ``end_form``),
    shown again with its errors."""
    rows = selectors.participant_schedule(participant)
    allocation = getattr(participant, "allocation", None)
    context = {
        "participant": participant,
        "status": screening_row(participant).status,
        "allocation": allocation,
        "treatment": treatment_of(allocation) if allocation and arm_visible_to(request.user, allocation) else None,
        "rows": rows,
        "grid_forms": selectors.grid_forms(rows),
        "can_change": user_can(request.user, "visits.change_visit", participant.site),
        "unscheduled_form": sent.get("unscheduled_form") or UnscheduledVisitForm(),
        "follow_up_form": sent.get("follow_up_form") or FollowUpForm(),
        "end_form": sent.get("end_form") or EndOfStudyForm(),
        "has_follow_up": any(row.visit.code == selectors.follow_up_code() for row in rows),
        "shows_mrss": (shows_mrss := shows(request.user, participant.site, Hidden.EARLIER_MRSS)),
        "shows_laboratory": (shows_labs := shows(request.user, participant.site, Hidden.LABORATORY)),
        "shows_medications": shows(request.user, participant.site, Hidden.CONCOMITANT_MEDICATIONS),
        "mrss_chart": mrss_chart(points := selectors.mrss_points(participant)) if shows_mrss else None,
        "mrss_change": selectors.mrss_change_from_baseline(points) if shows_mrss else None,
        "lab_trends": selectors.lab_trends(participant) if shows_labs else [],
    }
    return render(request, "visits/participant.html", context, status=status)


def _changing_participant(request: HttpRequest, number: str) -> Participant:
    """The participant of a schedule action: 404 at another site, 403 where the user may not change visits."""
    participant = _participant(request, number)
    if not user_can(request.user, "visits.change_visit", participant.site):
        raise PermissionDenied("cannot change visits")
    return participant


def _schedule_saved(participant: Participant, request: HttpRequest) -> HttpResponse:
    messages.success(request, _("Saved."))
    return redirect("visits:participant", number=participant.screening_number)


@permission_required("visits.change_visit")
@require_POST
@once_per_submission
def unscheduled_visit_add(request: HttpRequest, number: str) -> HttpResponse:
    """Add an unscheduled visit (once per submission key)."""
    participant = _changing_participant(request, number)
    form = UnscheduledVisitForm(request.POST)
    if form.is_valid():
        try:
            services.unscheduled_visit_add(
                participant=participant, by=request.user, on=form.cleaned_data["on"], reason=form.cleaned_data["reason"]
            )
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            return _schedule_saved(participant, request)
    return _schedule_page(request, participant, unscheduled_form=form)


@permission_required("visits.change_visit")
@require_POST
@once_per_submission
def follow_up_schedule(request: HttpRequest, number: str) -> HttpResponse:
    """Schedule the safety follow-up from the date of the last dose (once per submission key)."""
    participant = _changing_participant(request, number)
    form = FollowUpForm(request.POST)
    if form.is_valid():
        try:
            services.follow_up_schedule(
                participant=participant, by=request.user, last_dose=form.cleaned_data["last_dose"]
            )
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            return _schedule_saved(participant, request)
    return _schedule_page(request, participant, follow_up_form=form)


@permission_required("visits.change_visit")
@require_POST
@once_per_submission
def end_of_study_record(request: HttpRequest, number: str) -> HttpResponse:
    """Record the end of study (once per submission key)."""
    participant = _changing_participant(request, number)
    form = EndOfStudyForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.end_of_study_record(
                participant=participant, by=request.user, ended_on=data["ended_on"], reason=data["reason"],
                details=data["details"],
            )  # fmt: skip
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            return _schedule_saved(participant, request)
    return _schedule_page(request, participant, end_form=form)


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
@require_safe
def visit_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A visit, with the forms that record it done (or correct its date), missed, or rescheduled within its window;
    each posts to its own view and carries the version of the visit it was opened on: a change saved by someone
    else meanwhile is shown, not overwritten."""
    visit = _visit(pk, request)
    return _visit_page(request, visit, _visit_forms(visit))


def _visit_page(request: HttpRequest, visit: Visit, forms_: dict[str, Any], status: int = 200) -> HttpResponse:
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
            "visit_forms": visit_form_entries(request.user, visit),
        },
        status=status,
    )


def _changing_visit(request: HttpRequest, pk: int, action: str) -> tuple[Visit, forms.Form]:
    """The visit of an action (404 at another site, 403 where the user may not change visits) and the action's form,
    bound to what was sent."""
    visit = _visit(pk, request)
    if not user_can(request.user, "visits.change_visit", visit.site):
        raise PermissionDenied("cannot change visits")
    return visit, _visit_forms(visit, request.POST, action)[action]


def _visit_saved(request: HttpRequest, visit: Visit) -> HttpResponse:
    """Back to the visit page, where its forms are listed: the next step after recording the visit."""
    messages.success(request, _("Visit %(code)s saved.") % {"code": visit.code})
    return redirect("visits:visit", pk=visit.pk)


def _visit_refused(request: HttpRequest, pk: int, action: str, form: forms.Form) -> HttpResponse:
    """The visit page again with ``form`` as sent and its errors (the other forms on the visit as saved: a refused
    change may have altered the object the form holds)."""
    visit = _visit(pk, request)
    return _visit_page(request, visit, {**_visit_forms(visit), action: form})


def _visit_conflict(
    request: HttpRequest, pk: int, action: str, sent: forms.Form, conflict: EditConflict
) -> HttpResponse:
    """409: nothing saved; the visit page with the visit as saved now, and the form of ``action`` holding the user's
    entries on top of it beside who changed what meanwhile."""
    _refused(request, conflict)
    visit = _visit(pk, request)  # as saved now
    forms_ = _visit_forms(visit)
    forms_[action] = form_after_conflict(
        sent, conflict, lambda: VISIT_FORMS[action](instance=visit, initial=sent.cleaned_data)
    )
    return _visit_page(request, visit, forms_, status=409)


@permission_required("visits.change_visit")
@require_POST
def visit_done(request: HttpRequest, pk: int) -> HttpResponse:
    """Record the visit done (or correct its date); outside its window with the deviation's reason."""
    visit, form = _changing_visit(request, pk, "done")
    if form.is_valid():
        try:
            services.visit_record_done(
                visit=visit, by=request.user, done_on=form.cleaned_data["done_on"],
                deviation_reason=form.cleaned_data["deviation_reason"],
            )  # fmt: skip
        except EditConflict as conflict:
            return _visit_conflict(request, pk, "done", form, conflict)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            return _visit_saved(request, visit)
    return _visit_refused(request, pk, "done", form)


@permission_required("visits.change_visit")
@require_POST
def visit_missed(request: HttpRequest, pk: int) -> HttpResponse:
    """Record the visit missed, with the reason."""
    visit, form = _changing_visit(request, pk, "missed")
    if form.is_valid():
        try:
            services.visit_record_missed(visit=visit, by=request.user, reason=form.cleaned_data["reason"])
        except EditConflict as conflict:
            return _visit_conflict(request, pk, "missed", form, conflict)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            return _visit_saved(request, visit)
    return _visit_refused(request, pk, "missed", form)


@permission_required("visits.change_visit")
@require_POST
def visit_reschedule(request: HttpRequest, pk: int) -> HttpResponse:
    """Move the planned date of the visit within its window, with the reason."""
    visit, form = _changing_visit(request, pk, "reschedule")
    if form.is_valid():
        try:
            services.visit_reschedule(
                visit=visit, by=request.user, planned_date=form.cleaned_data["planned_date"],
                reason=form.cleaned_data["reason"],
            )  # fmt: skip
        except EditConflict as conflict:
            return _visit_conflict(request, pk, "reschedule", form, conflict)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            return _visit_saved(request, visit)
    return _visit_refused(request, pk, "reschedule", form)


@permission_required("visits.view_visit")
def visit_crf(request: HttpRequest, pk: int, code: str) -> HttpResponse:
    """Enter or edit one case report form of a visit: save as a draft, or mark it complete, then back to the visit
    page or, posted to ``?then=next``, on to the next form of the visit to enter (``next_form``).

    The first save creates the record (the new form carries a one-time submission key: a second click creates
    nothing); an edit carries the version it was opened on, and a save against a record changed since is refused
    (409) with the form shown again: the values saved now, the user's own changes on top, and who changed what.
    """
    visit = get_scoped_object_or_404(Visit.objects.select_related("participant__site", "site"), request, pk=pk)
    model = crf_by_code(code)
    if model is None or (not visit.required_forms.filter(form=code).exists() and not visit.is_unscheduled):
        raise Http404("this visit has no such form")
    opens, can_enter = form_access(request.user, visit.site, model, **_mrss_facts(request.user, visit, model))
    if not opens or (request.method == "POST" and not can_enter):
        raise PermissionDenied(f"cannot open {code}" if not opens else f"cannot enter {code}")
    return _visit_crf(request, visit, model, can_enter)


def _mrss_facts(user: Any, visit: Visit, model: type[VisitForm]) -> dict[str, bool]:
    """What ``form_access`` needs to know of an mRSS for a user blinded at the visit's site (whether this visit's is
    complete, whether a later visit's is scored); nothing is read for other forms or users."""
    if model is not VisitMrss or shows(user, visit.site, Hidden.EARLIER_MRSS):
        return {"complete": False, "later_scored": False}
    record = VisitMrss.objects.filter(visit=visit).only("status").first()
    later = VisitMrss.objects.filter(
        visit__participant_id=visit.participant_id, visit__sequence__gt=visit.sequence
    ).exists()
    return {"complete": record is not None and record.status == VisitMrss.Status.COMPLETE, "later_scored": later}


def _crf_saved(request: HttpRequest, visit: Visit, model: type[VisitForm]) -> HttpResponse:
    """Where a saved form goes: with "then=next" the next form to enter (or, none left, the visit page saying so),
    otherwise the visit page."""
    messages.success(request, _("%(form)s saved.") % {"form": sentence_start(model._meta.verbose_name)})
    if request.GET.get("then") == "next":
        code = next_form(request.user, visit, model.form_code)
        if code is not None:
            return redirect("visits:crf", pk=visit.pk, code=code)
        messages.info(request, _("Every form of this visit that you enter is complete."))
    return redirect("visits:visit", pk=visit.pk)


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
            return _crf_saved(request, visit, model)
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


def _medications_participant(request: HttpRequest, number: str) -> Participant:
    """The participant of the medications page: 404 at another site, 403 for blinded staff (folic acid names the
    arm)."""
    participant = _participant(request, number)
    if not shows(request.user, participant.site, Hidden.CONCOMITANT_MEDICATIONS):
        raise PermissionDenied("concomitant medications are hidden from blinded staff")
    return participant


@permission_required("visits.view_concomitantmedication")
@require_safe
def medications(request: HttpRequest, number: str) -> HttpResponse:
    """The participant's concomitant medications, with the forms that add one and record one stopped (each posts
    to its own view)."""
    return _medications_page(request, _medications_participant(request, number))


def _medications_page(
    request: HttpRequest,
    participant: Participant,
    *,
    add_form: MedicationForm | None = None,
    stop_form: MedicationStopForm | None = None,
    status: int = 200,
) -> HttpResponse:
    """The medications page; ``add_form``/``stop_form``: a form as sent, shown again with its errors."""
    return render(
        request,
        "visits/medications.html",
        {
            "participant": participant,
            "medications": _with_versions(participant.medications.order_by("-start_date", "drug")),
            "add_form": add_form
            or MedicationForm(instance=ConcomitantMedication(participant=participant, site=participant.site)),
            "stop_form": stop_form or MedicationStopForm(),
            "can_change": user_can(request.user, "visits.change_concomitantmedication", participant.site),
        },
        status=status,
    )


def _changing_medications(request: HttpRequest, number: str) -> Participant:
    participant = _medications_participant(request, number)
    if not user_can(request.user, "visits.change_concomitantmedication", participant.site):
        raise PermissionDenied("cannot change medications")
    return participant


@permission_required("visits.change_concomitantmedication")
@require_POST
@once_per_submission
def medication_add(request: HttpRequest, number: str) -> HttpResponse:
    """Add a concomitant medication (once per submission key)."""
    participant = _changing_medications(request, number)
    form = MedicationForm(request.POST, instance=ConcomitantMedication(participant=participant, site=participant.site))
    if form.is_valid():
        try:
            services.medication_add(medication=form.instance, by=request.user)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, _("Medication added."))
            return redirect("visits:medications", number=number)
    return _medications_page(request, participant, add_form=form)


@permission_required("visits.change_concomitantmedication")
@require_POST
def medication_stop(request: HttpRequest, number: str) -> HttpResponse:
    """Record that a medication (named by the form) was stopped, against the version of the medication the page
    showed: a change saved since is shown (409), not overwritten."""
    participant = _changing_medications(request, number)
    stopped = _medication_stopped(request, participant)
    form = MedicationStopForm(request.POST, instance=stopped)
    if form.is_valid():
        try:
            services.medication_stop(medication=stopped, by=request.user, stopped_on=form.cleaned_data["stopped_on"])
        except EditConflict as conflict:
            _refused(request, conflict)
            fresh = ConcomitantMedication.objects.get(pk=stopped.pk)
            form = form_after_conflict(
                form, conflict, lambda: MedicationStopForm(instance=fresh, initial=form.cleaned_data)
            )
            return _medications_page(request, participant, stop_form=form, status=409)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, _("Medication stopped."))
            return redirect("visits:medications", number=number)
    return _medications_page(request, participant, stop_form=form)
