"""The protocol pages: the versions (in force, approved, proposed), a version's changes to the one before it with the
approval form for those who may approve, and the page on which a data manager proposes an amendment.

Proposing and approving carry a one-time submission key (sent twice, done once). Approving asks for a reason and the
password, re-entered under the login's lockout policy. Staff blinded to the allocation do not see the laboratory
rules (they name the drugs). A role without the permission gets a 403, logged by the 403 handler.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from clinical.amendments import GROUPS, Change
from trial_site import amendments
from trial_site.amendment_forms import ApproveForm, ProposeForm
from trial_site.forms import add_validation_error
from trial_site.models.protocol_versions import ProtocolVersion
from trial_site.permissions import permission_required, user_can
from trial_site.protocol_versions import amendable, base_protocol, protocol_today
from trial_site.roles import SEES_ARM
from trial_site.submission import once_per_submission

GROUP_LABELS = {
    "visits": gettext_lazy("Visits"),
    "forms": gettext_lazy("Forms at visits"),
    "lab_rules": gettext_lazy("Laboratory rules"),
    "eligibility": gettext_lazy("Eligibility thresholds"),
    "consent": gettext_lazy("Consent forms"),
}
EFFECT_LABELS = {
    "added": gettext_lazy("Added"),
    "removed": gettext_lazy("Removed"),
    "changed": gettext_lazy("Changed"),
}
APPLIED_LABELS = {
    "participants": gettext_lazy("Participants whose schedule changed"),
    "visits_added": gettext_lazy("Visits added"),
    "visits_cancelled": gettext_lazy("Visits cancelled"),
    "forms_added": gettext_lazy("Forms added to visits"),
    "forms_removed": gettext_lazy("Forms no longer asked"),
}
STATUS_LABELS = {
    "in_force": gettext_lazy("In force"),
    "approved": gettext_lazy("Approved"),
    "proposed": gettext_lazy("Proposed"),
}


@permission_required(amendments.VIEW_PERMISSION)
def protocol_list(request: HttpRequest) -> HttpResponse:
    rows = amendments.versions()
    return render(
        request,
        "trial_site/protocol_list.html",
        {
            "rows": [{"row": row, "status_label": STATUS_LABELS[row.status]} for row in rows],
            "can_propose": user_can(request.user, amendments.PROPOSE_PERMISSION),
            "base_version": base_protocol().version,
        },
    )


def _grouped(changes: list[Change], *, sees_arm: bool) -> tuple[list[dict[str, Any]], int]:
    """The changes by group (in ``GROUPS`` order), and how many were left out for a blinded user."""
    hidden = 0
    groups = []
    for group in GROUPS:
        rows = [change for change in changes if change.kind.group == group]
        if group == "lab_rules" and not sees_arm:
            hidden += len(rows)
            continue
        if rows:
            groups.append(
                {
                    "key": group,
                    "label": GROUP_LABELS[group],
                    "rows": [{"change": change, "effect": EFFECT_LABELS[change.kind.effect]} for change in rows],
                }
            )
    return groups, hidden


def _approval_state(request: HttpRequest, record: ProtocolVersion | None) -> str:
    """Why the approval form is (not) shown: ``form``, ``own`` (the proposer), ``past``, or ``""``."""
    if record is None or record.status != ProtocolVersion.Status.PROPOSED:
        return ""
    if not user_can(request.user, amendments.APPROVE_PERMISSION):
        return ""
    if record.proposed_by_id == request.user.pk:
        return "own"
    if record.effective_from < timezone.localdate():
        return "past"
    return "form"


@permission_required(amendments.VIEW_PERMISSION)
@require_http_methods(["GET", "POST"])
@once_per_submission
def protocol_version(request: HttpRequest, version: str) -> HttpResponse:
    record = ProtocolVersion.objects.select_related("proposed_by", "approved_by").filter(version=version).first()
    if record is None and version != base_protocol().version:
        raise Http404("no such protocol version")
    if request.method == "POST" and not user_can(request.user, amendments.APPROVE_PERMISSION):
        raise PermissionDenied(f"needs {amendments.APPROVE_PERMISSION}")
    form = ApproveForm(request.POST or None, request=request, version=version)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                approved = amendments.protocol_version_approve(
                    version=version, by=request.user, reason=form.cleaned_data["reason"]
                )
            except ValidationError as error:
                add_validation_error(form, error)
            else:
                messages.success(
                    request,
                    _("Protocol version %(version)s approved: in force from %(day)s.")
                    % {"version": approved.version, "day": approved.effective_from.isoformat()},
                )
                return redirect("protocol_version", version=approved.version)
        status = 400
    before, changes = amendments.changes_in(version) if record is not None else ("", [])
    groups, hidden = _grouped(changes, sees_arm=user_can(request.user, SEES_ARM))
    applied = [(APPLIED_LABELS.get(key, key), value) for key, value in (record.applied if record else {}).items()]
    in_force = next((row for row in amendments.versions() if row.in_force), None)
    return render(
        request,
        "trial_site/protocol_version.html",
        {
            "version": version,
            "record": record,
            "before": before,
            "groups": groups,
            "hidden": hidden,
            "applied": applied,
            "in_force": in_force is not None and in_force.version == version,
            "approval": _approval_state(request, record),
            "form": form,
            "base_effective_from": base_protocol().effective_from,
        },
        status=status,
    )


@permission_required(amendments.PROPOSE_PERMISSION)
@require_http_methods(["GET", "POST"])
@once_per_submission
def protocol_propose(request: HttpRequest) -> HttpResponse:
    form = ProposeForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            record = amendments.protocol_version_propose(
                by=request.user,
                version=data["version"],
                effective_from=data["effective_from"],
                summary=data["summary"],
                content=data["content"],
            )
        except ValidationError as error:
            if hasattr(error, "error_dict") and "content" in error.error_dict:
                error.error_dict[data["content_field"]] = error.error_dict.pop("content")
            add_validation_error(form, error)
        else:
            messages.success(
                request,
                _("Protocol version %(version)s proposed: someone else must now approve it.")
                % {"version": record.version},
            )
            return redirect("protocol_version", version=record.version)
    return render(
        request,
        "trial_site/protocol_propose.html",
        {"form": form},
        status=400 if request.method == "POST" else 200,
    )


@permission_required(amendments.PROPOSE_PERMISSION)
def protocol_current_json(request: HttpRequest) -> HttpResponse:
    """The amendable protocol in force today as a JSON file: the starting point of an amendment file."""
    protocol = protocol_today()
    response = JsonResponse(amendable(protocol), json_dumps_params={"indent": 2, "ensure_ascii": False})
    response["Content-Disposition"] = f'attachment; filename="protocol-{protocol.version}.json"'
    return response


urlpatterns = [
    path("protocol/", protocol_list, name="protocol_list"),
    path("protocol/propose/", protocol_propose, name="protocol_propose"),
    path("protocol/current.json", protocol_current_json, name="protocol_current_json"),
    path("protocol/<str:version>/", protocol_version, name="protocol_version"),
]
