"""Screening pages: the log, registration with consent, the summary with the decision, the CRFs."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from clinical.mrss import MRSS_AREA_CODES
from screening import log, selectors, services
from screening.access import screening_form_access
from screening.forms import (
    ConsentForm,
    ParticipantForm,
    ReconsentForm,
    RescreenForm,
    ScreenFailureForm,
    WithdrawalForm,
    build_screening_form,
)
from screening.models import SCREENING_FORMS, ConsentWithdrawal, Participant, ScreeningMrss
from screening.status import ScreeningStatus
from trial_site.audit.errors import EditConflict
from trial_site.blinding import MRSS_CRITERIA, Hidden, shows
from trial_site.concurrency import VERSION_FIELD, form_after_conflict
from trial_site.confirmation import is_confirmed
from trial_site.forms import add_validation_error, add_validation_messages, read_only
from trial_site.models import Site
from trial_site.permissions import permission_required, user_can
from trial_site.scoping import get_scoped_object_or_404, scope_to_user_sites
from trial_site.submission import once_per_submission
from trial_site.text import sentence_start

FORMS_BY_SLUG = {form.slug: form for form in SCREENING_FORMS}
CONFLICT = 409  # the status of a form shown again because someone else saved the record after it was opened


def _participant(request: HttpRequest, number: str) -> Participant:
    queryset = selectors.participants_with_screening(Participant.objects.all())
    return get_scoped_object_or_404(queryset, request, screening_number=number)


def _cursor_value(request: HttpRequest, name: str) -> int | None:
    value = request.GET.get(name, "")
    return int(value) if value.isdigit() else None


@permission_required(log.VIEW_SCREENING)
def screening_log(request: HttpRequest) -> HttpResponse:
    """The screening log: one page of 50 (newest first, keyset paging), filtered by site, status and decision."""
    sites = list(scope_to_user_sites(Site.objects.all(), request.user, permission=log.VIEW_SCREENING))
    site_code = request.GET.get("site", "")
    site = next((site for site in sites if site.code == site_code), None)
    status = request.GET.get("status", "")
    if status not in ScreeningStatus.__members__.values():
        status = ""
    decision = request.GET.get("decision", "")
    if decision not in log.DECISIONS:
        decision = ""
    page = log.screening_log_page(
        request.user,
        filters=log.LogFilters(site_id=site.pk if site else None, status=status, decision=decision),
        cursor=log.LogCursor(after=_cursor_value(request, "after"), before=_cursor_value(request, "before")),
    )
    filters = {"site": site.code if site else "", "status": status, "decision": decision}
    shown = urlencode({name: value for name, value in filters.items() if value})
    return render(
        request,
        "screening/log.html",
        {
            "log": page,
            "sites": sites,
            "statuses": list(ScreeningStatus),
            "decisions": log.DECISIONS,
            "site_code": filters["site"],
            "status": status,
            "decision": decision,
            "filtered": shown,
            "register_sites": [site for site in sites if user_can(request.user, "screening.add_participant", site)],
        },
    )


@permission_required("screening.add_participant")
@require_http_methods(["GET", "POST"])
@once_per_submission
def participant_register(request: HttpRequest, site_code: str) -> HttpResponse:
    site = get_scoped_object_or_404(Site.objects.all(), request, site_field="site", code=site_code)
    if not user_can(request.user, "screening.add_participant", site):
        raise PermissionDenied(f"cannot register at {site.code}")
    data = request.POST if request.method == "POST" else None
    participant_form = ParticipantForm(data, site=site)
    consent_form = ConsentForm(data, site=site, user=request.user)
    if request.method == "POST" and participant_form.is_valid() and consent_form.is_valid():
        try:
            participant = services.participant_register(
                participant=participant_form.instance, consent=consent_form.instance, by=request.user
            )
        except ValidationError as error:
            add_validation_error(participant_form, error)
        else:
            messages.success(request, _("%(number)s registered with consent.") % {"number": participant})
            return redirect("screening:participant", number=participant.screening_number)
    return render(
        request,
        "screening/register.html",
        {"site": site, "participant_form": participant_form, "consent_form": consent_form},
    )


@permission_required("screening.view_participant")
def participant_summary(request: HttpRequest, number: str) -> HttpResponse:
    participant = _participant(request, number)
    row = selectors.screening_row(participant)
    site = participant.site
    forms = [
        {
            "slug": form.slug,
            "title": form._meta.verbose_name,
            "entered": selectors.form_of(participant, form) is not None,
            "can_edit": screening_form_access(request.user, participant, form).enters,
        }
        for form in SCREENING_FORMS
    ]
    context = {
        "participant": participant,
        "row": row,
        "decision": row.decision,
        "forms": forms,
        "confirmation": selectors.confirmation_in_force(participant),
        "voided": participant.confirmations.exclude(voided_at=None).select_related("confirmed_by"),
        "computed": selectors.computed_values(participant),
        "can_confirm": user_can(request.user, "screening.confirm_eligibility", site)
        and row.status == ScreeningStatus.ELIGIBLE,
        "can_fail": user_can(request.user, "screening.add_screenfailure", site)
        and row.decision.decision == "not_eligible"
        and row.status not in {ScreeningStatus.RANDOMISED, ScreeningStatus.SCREEN_FAILED, ScreeningStatus.WITHDRAWN},
        "can_withdraw": user_can(request.user, "screening.add_consentwithdrawal", site)
        and not hasattr(participant, "withdrawal"),
        "can_rescreen": user_can(request.user, "screening.add_participant", site)
        and row.status == ScreeningStatus.SCREEN_FAILED,
        "can_edit_details": user_can(request.user, "screening.change_participant", site),
        "concealed_criteria": _concealed_criteria(request, participant),
    }
    return render(request, "screening/summary.html", context)


def _concealed_criteria(request: HttpRequest, participant: Participant) -> frozenset[str]:
    return frozenset() if shows(request.user, participant.site, Hidden.EARLIER_MRSS) else MRSS_CRITERIA


@permission_required("screening.view_participant")
@require_http_methods(["GET", "POST"])
@once_per_submission
def screening_form_edit(request: HttpRequest, number: str, slug: str) -> HttpResponse:
    """Enter (the page carries a submission key) or change (the page carries the version opened) one screening
    form. A save against a form someone else saved since is refused and shown again with both entries (409)."""
    participant = _participant(request, number)
    model = FORMS_BY_SLUG.get(slug)
    if model is None:
        raise Http404("no such screening form")
    access = screening_form_access(request.user, participant, model)
    if not access.opens or (request.method == "POST" and not access.enters):
        raise PermissionDenied(f"cannot open {slug}" if not access.opens else f"cannot edit {slug}")
    can_edit = access.enters
    form = build_screening_form(
        model, participant=participant, user=request.user, data=request.POST if request.method == "POST" else None
    )
    if not can_edit:
        read_only(form)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            services.screening_form_save(
                record=form.instance, by=request.user, reason=form.cleaned_data.get("reason_for_change")
            )
        except EditConflict as conflict:
            messages.error(request, " ".join(conflict.messages))  # nothing saved; who changed it meanwhile
            form = form_after_conflict(
                form,
                conflict,
                lambda: build_screening_form(model, participant=_participant(request, number), user=request.user),
            )
            status = CONFLICT
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, _("%(form)s saved.") % {"form": sentence_start(model._meta.verbose_name)})
            return redirect("screening:participant", number=participant.screening_number)
    return render(
        request,
        "screening/crf.html",
        {
            "participant": participant,
            "form": form,
            "title": model._meta.verbose_name,
            "read_only": not can_edit,
            "live_total_fields": ",".join(MRSS_AREA_CODES) if model is ScreeningMrss else "",
        },
        status=status,
    )


def _to_summary(participant: Participant) -> HttpResponse:
    return redirect("screening:participant", number=participant.screening_number)


@permission_required("screening.confirm_eligibility")
@require_http_methods(["GET", "POST"])
@once_per_submission
def eligibility_confirm(request: HttpRequest, number: str) -> HttpResponse:
    """GET: the confirmation page (the participant, the decision with each criterion, what confirming permits).
    POST from it (``confirmed=yes``): confirm. A POST without the confirmation saves nothing (400, the page)."""
    participant = _participant(request, number)
    if request.method == "GET" or not is_confirmed(request):
        unconfirmed = request.method == "POST"
        if unconfirmed:
            messages.error(request, _("Eligibility not confirmed: confirm on this page first. Nothing was saved."))
        row = selectors.screening_row(participant)
        context = {
            "participant": participant,
            "decision": row.decision,
            "computed": selectors.computed_values(participant),
            "confirmation": selectors.confirmation_in_force(participant),
            "can_confirm": user_can(request.user, "screening.confirm_eligibility", participant.site)
            and row.status == ScreeningStatus.ELIGIBLE,
            "concealed_criteria": _concealed_criteria(request, participant),
        }
        return render(request, "screening/confirm.html", context, status=400 if unconfirmed else 200)
    try:
        services.eligibility_confirm(participant=participant, by=request.user)
    except ValidationError as error:
        add_validation_messages(request, error)
    else:
        messages.success(request, _("Eligibility confirmed."))
    return _to_summary(participant)


@permission_required("screening.add_screenfailure")
@require_POST
@once_per_submission
def screen_failure_record(request: HttpRequest, number: str) -> HttpResponse:
    participant = _participant(request, number)
    form = ScreenFailureForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        services.screen_failure_record(participant=participant, by=request.user, note=note)
    except ValidationError as error:
        add_validation_messages(request, error)
    else:
        messages.success(request, _("Screen failure recorded."))
    return _to_summary(participant)


@permission_required("screening.add_consentwithdrawal")
@require_http_methods(["GET", "POST"])
@once_per_submission
def consent_withdraw(request: HttpRequest, number: str) -> HttpResponse:
    participant = _participant(request, number)
    form = WithdrawalForm(
        request.POST if request.method == "POST" else None,
        instance=ConsentWithdrawal(participant=participant, site=participant.site),
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.consent_withdraw(withdrawal=form.instance, by=request.user)
        except ValidationError as error:  # a lock on the data, say
            add_validation_error(form, error)
        else:
            messages.success(request, _("Withdrawal of consent recorded."))
            return redirect("screening:participant", number=participant.screening_number)
    return render(request, "screening/withdraw.html", {"participant": participant, "form": form})


@permission_required("screening.add_participant")
@require_http_methods(["GET", "POST"])
@once_per_submission
def participant_rescreen(request: HttpRequest, number: str) -> HttpResponse:
    previous = _participant(request, number)
    data = request.POST if request.method == "POST" else None
    form = RescreenForm(data)
    consent_form = ConsentForm(data, site=previous.site, user=request.user)
    if request.method == "POST" and form.is_valid() and consent_form.is_valid():
        try:
            episode = services.participant_rescreen(
                previous=previous,
                screening_date=form.cleaned_data["screening_date"],
                consent=consent_form.instance,
                by=request.user,
            )
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, _("%(number)s: new screening of the same person.") % {"number": episode})
            return redirect("screening:participant", number=episode.screening_number)
    return render(
        request, "screening/rescreen.html", {"participant": previous, "form": form, "consent_form": consent_form}
    )


@permission_required("screening.change_participant")
@require_http_methods(["GET", "POST"])
def participant_details_edit(request: HttpRequest, number: str) -> HttpResponse:
    """Correct the participant's details or contact choices (a reason is asked: the data are saved already)."""
    participant = _participant(request, number)
    if not user_can(request.user, "screening.change_participant", participant.site):
        raise PermissionDenied(f"cannot change participants at {participant.site.code}")
    form = ParticipantForm(
        request.POST if request.method == "POST" else None, instance=participant, site=participant.site
    )
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            if set(form.changed_data) - {VERSION_FIELD}:  # the version carried is not a change
                services.participant_details_change(
                    participant=form.instance, by=request.user, reason=form.cleaned_data["reason_for_change"]
                )
                messages.success(request, _("Details of %(number)s saved.") % {"number": participant})
        except EditConflict as conflict:
            messages.error(request, " ".join(conflict.messages))  # nothing saved; who changed it meanwhile
            form = form_after_conflict(
                form, conflict, lambda: ParticipantForm(instance=_participant(request, number), site=participant.site)
            )
            status = CONFLICT
        except ValidationError as error:  # a lock on the data, say
            add_validation_error(form, error)
        else:
            return redirect("screening:participant", number=participant.screening_number)
    return render(
        request,
        "screening/crf.html",
        {"participant": participant, "form": form, "title": _("Participant details and reminders")},
        status=status,
    )


# --- Re-consent ----------------------------------------------------------------------------------------------


@permission_required(selectors.RECORD_RECONSENT)
def reconsent_due(request: HttpRequest) -> HttpResponse:
    """The coordinators' to-do list: the participants at the user's sites who must sign a new consent version."""
    return render(request, "screening/reconsent_due.html", {"rows": selectors.participants_to_reconsent(request.user)})


@permission_required(selectors.RECORD_RECONSENT)
@require_http_methods(["GET", "POST"])
@once_per_submission
def reconsent_record(request: HttpRequest, number: str) -> HttpResponse:
    """Record the participant's re-consent to the consent version asked of them (only while one is due)."""
    participant = _participant(request, number)
    if not user_can(request.user, selectors.RECORD_RECONSENT, participant.site):
        raise PermissionDenied(f"cannot record re-consent at {participant.site.code}")
    decision = selectors.reconsent_due(participant)
    if not decision.due:  # recorded meanwhile, or never asked: the page says so, nothing to send
        return render(request, "screening/reconsent.html", {"participant": participant, "decision": decision})
    form = ReconsentForm(
        request.POST if request.method == "POST" else None,
        participant=participant,
        user=request.user,
        required=decision.required,
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.reconsent_record(
                participant=participant,
                by=request.user,
                **{name: form.cleaned_data[name] for name in ReconsentForm.Meta.fields},
            )
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(
                request,
                _("Re-consent of %(number)s to consent form version %(version)s recorded.")
                % {"number": participant, "version": form.cleaned_data["form_version"]},
            )
            return redirect("screening:participant", number=participant.screening_number)
    return render(request, "screening/reconsent.html", {"participant": participant, "form": form, "decision": decision})
