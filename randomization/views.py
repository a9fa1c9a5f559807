"""Randomisation pages: the overview, a participant's allocation and treatment, unblinding, the lists."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from randomization import selectors, services
from randomization.forms import FlagErrorForm, GenerateListForm, ImportListForm, UnblindForm
from randomization.models import Allocation, AllocationList
from screening.models import Participant
from screening.selectors import participants_with_screening, site_today
from trial_site.audit.errors import EditConflict
from trial_site.concurrency import form_after_conflict
from trial_site.confirmation import is_confirmed
from trial_site.forms import add_validation_messages
from trial_site.permissions import permission_required, user_can
from trial_site.scoping import get_scoped_object_or_404
from trial_site.submission import once_per_submission

CONFLICT = 409  # the status of a form shown again because someone else saved the record after it was opened


def _participant(request: HttpRequest, number: str) -> Participant:
    queryset = participants_with_screening(Participant.objects.select_related("allocation"))
    return get_scoped_object_or_404(queryset, request, screening_number=number)


@permission_required(selectors.VIEW_ALLOCATIONS)
def overview(request: HttpRequest) -> HttpResponse:
    """Who awaits randomisation and the allocations, one page at a time (newest first), optionally at one site;
    counts per site. A fixed number of queries whatever the size of the trial (``selectors.randomisation_overview``).
    """
    site = request.GET.get("site", "")
    data = selectors.randomisation_overview(
        request.user, site_id=int(site) if site.isdigit() else None, page=request.GET.get("page", 1)
    )
    return render(
        request,
        "randomization/overview.html",
        {
            "data": data,
            "query": urlencode({"site": data.site_id}) if data.site_id else "",
            "can_keep_lists": user_can(request.user, "randomization.view_allocationlist"),
        },
    )


@permission_required("randomization.view_allocation")
def participant_allocation(request: HttpRequest, number: str) -> HttpResponse:
    participant = _participant(request, number)
    return render(request, "randomization/participant.html", _allocation_page(request, participant))


def _allocation_page(
    request: HttpRequest, participant: Participant, *, flag_form: FlagErrorForm | None = None
) -> dict[str, Any]:
    allocation = getattr(participant, "allocation", None)
    site = participant.site
    visible = allocation is not None and selectors.arm_visible_to(request.user, allocation)
    can_flag_error = (
        allocation is not None and not allocation.in_error and user_can(request.user, "randomization.flag_error", site)
    )
    if flag_form is None and can_flag_error:
        flag_form = FlagErrorForm(instance=allocation)
    return {
        "participant": participant,
        "allocation": allocation,
        "treatment": selectors.treatment_of(allocation) if visible else None,
        "refusal": services.randomisation_refusal(participant) if allocation is None else None,
        "can_randomise": allocation is None and user_can(request.user, "randomization.randomise", site),
        "can_flag_error": can_flag_error,
        "can_unblind": allocation is not None and not visible and user_can(request.user, "randomization.unblind", site),
        "reason_form": flag_form,
    }


@permission_required("randomization.randomise")
@require_http_methods(["GET", "POST"])
@once_per_submission
def randomise(request: HttpRequest, number: str) -> HttpResponse:
    """GET: the confirmation page (the participant, the stratum, the list in use, that it cannot be undone; not
    the arm). POST from that page (``confirmed=yes``): randomise. A POST without the confirmation saves nothing
    (400, the page again)."""
    participant = _participant(request, number)
    if not user_can(request.user, "randomization.randomise", participant.site):
        raise PermissionDenied("cannot randomise at this site")
    refusal = services.randomisation_refusal(participant) if not hasattr(participant, "allocation") else None
    if request.method == "POST" and refusal:
        raise PermissionDenied(refusal)
    if request.method == "GET" or not is_confirmed(request):
        unconfirmed = request.method == "POST"
        if unconfirmed:
            messages.error(request, _("Not randomised: confirm on this page first. Nothing was saved."))
        context = {
            "participant": participant,
            "allocation": getattr(participant, "allocation", None),
            "refusal": refusal,
            "preview": selectors.randomisation_preview(participant),
            "day1": site_today(participant),
        }
        return render(request, "randomization/randomise_confirm.html", context, status=400 if unconfirmed else 200)
    try:
        allocation = services.participant_randomize(participant=participant, by=request.user)
    except ValidationError as error:
        add_validation_messages(request, error)
    else:
        messages.success(request, _("Randomised: %(number)s.") % {"number": allocation.randomisation_number})
    return redirect("randomization:participant", number=number)


@permission_required("randomization.flag_error")
@require_POST
def flag_error(request: HttpRequest, number: str) -> HttpResponse:
    """Flag the allocation as made in error. The form carries the allocation's version: when someone else changed
    it since the page was opened, the page comes back (409) with their change beside the reason given."""
    participant = _participant(request, number)
    allocation = getattr(participant, "allocation", None)
    form = FlagErrorForm(request.POST, instance=allocation) if allocation is not None else None
    if form is None or not form.is_valid():
        messages.error(request, _("Give the reason the randomisation was made in error."))
        return redirect("randomization:participant", number=number)
    try:
        services.allocation_flag_error(
            allocation=form.instance, by=request.user, reason=form.cleaned_data["error_reason"]
        )
    except EditConflict as conflict:
        messages.error(request, " ".join(conflict.messages))  # nothing saved; who changed it meanwhile
        form = form_after_conflict(
            form, conflict, lambda: FlagErrorForm(instance=Allocation.objects.get(pk=allocation.pk))
        )
        page = _allocation_page(request, _participant(request, number), flag_form=form)
        return render(request, "randomization/participant.html", page, status=CONFLICT)
    except ValidationError as error:
        add_validation_messages(request, error)
    else:
        messages.warning(request, _("Flagged as randomised in error. The allocation and its slot are kept."))
    return redirect("randomization:participant", number=number)


@permission_required("randomization.unblind")
@require_http_methods(["GET", "POST"])
@once_per_submission
def unblind(request: HttpRequest, number: str) -> HttpResponse:
    participant = _participant(request, number)
    allocation = getattr(participant, "allocation", None)
    if allocation is None:
        return redirect("randomization:participant", number=number)
    form = UnblindForm(request.POST or None)
    status = 400 if request.method == "POST" else 200  # sent without its reason or password: nothing unblinded
    if request.method == "POST" and form.is_valid():
        try:
            services.allocation_unblind(
                allocation=allocation,
                by=request.user,
                reason=form.cleaned_data["reason"],
                password=form.cleaned_data["password"],
                request=request,
            )
        except ValidationError as error:
            for field, problems in error.message_dict.items():
                form.add_error(field, problems)
        else:
            messages.warning(request, _("Unblinded. The investigator and the administrator have been told."))
            return redirect("randomization:participant", number=number)
    return render(
        request, "randomization/unblind.html", {"participant": participant, "allocation": allocation, "form": form},
        status=status,
    )  # fmt: skip


@permission_required("randomization.view_allocationlist")
@require_http_methods(["GET", "POST"])
@once_per_submission
def lists(request: HttpRequest) -> HttpResponse:
    generate_form = GenerateListForm(request.POST if request.POST.get("action") == "generate" else None)
    import_form = ImportListForm(
        request.POST if request.POST.get("action") == "import" else None,
        request.FILES if request.POST.get("action") == "import" else None,
    )
    for form, action in ((generate_form, "generate"), (import_form, "import")):
        if request.method == "POST" and request.POST.get("action") == action and form.is_valid():
            try:
                created = _store(request, action, form.cleaned_data)
            except ValidationError as error:
                for message in error.messages:
                    form.add_error(None, message)
            else:
                messages.success(request, _("List %(name)s stored.") % {"name": created.name})
                return redirect("randomization:list", pk=created.pk)
    return render(
        request,
        "randomization/lists.html",
        {"lists": selectors.allocation_lists(), "generate_form": generate_form, "import_form": import_form},
    )


def _store(request: HttpRequest, action: str, data: dict[str, Any]) -> AllocationList:
    if action == "generate":
        return services.allocation_list_generate(
            name=data["name"], slots_per_stratum=data["slots_per_stratum"], block_sizes=data["block_sizes"],
            by=request.user,
        )  # fmt: skip
    return services.allocation_list_import(name=data["name"], csv_text=data["csv_file"], by=request.user)


@permission_required("randomization.view_allocationlist")
def list_detail(request: HttpRequest, pk: int) -> HttpResponse:
    allocation_list = get_object_or_404(AllocationList, pk=pk)
    return render(
        request,
        "randomization/list_detail.html",
        {"list": allocation_list, "usage": selectors.list_usage(allocation_list)},
    )


@permission_required("randomization.change_allocationlist")
@require_POST
@once_per_submission
def list_activate(request: HttpRequest, pk: int) -> HttpResponse:
    allocation_list = get_object_or_404(AllocationList, pk=pk)
    services.allocation_list_activate(allocation_list=allocation_list, by=request.user)
    messages.success(request, _("%(name)s is now in use.") % {"name": allocation_list.name})
    return redirect("randomization:list", pk=pk)
