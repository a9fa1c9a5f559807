"""Trial reports: the CONSORT flow diagram, enrolment against the target, visit compliance, data completeness,
data queries, SAEs, and the primary endpoint table. Pooled for blinded users; arms for those who may see them."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from clinical.consort import consort_svg as draw_consort
from exports import reports
from exports.charts import enrolment_chart
from trial_site.permissions import permission_required
from trial_site.protocol import PROTOCOL

SEE_REPORTS = "randomization.view_allocation"


def consort_text() -> dict[str, str]:
    """The diagram's labels, translated; ``{n}``, ``{arm}`` and ``{code}`` are filled by the layout."""
    return {
        "title": _("CONSORT 2010 flow diagram"),
        "enrolment": _("Enrolment"),
        "allocation": _("Allocation"),
        "follow_up": _("Follow-up"),
        "analysis": _("Analysis"),
        "assessed": _("Assessed for eligibility (n = {n})"),
        "episodes": _("people; {n} screening episodes"),
        "excluded": _("Excluded or not randomised (n = {n})"),
        "not_meeting": _("Not meeting the eligibility criteria (n = {n})"),
        "criterion": _("{code} (n = {n})"),
        "declined": _("Declined or withdrew consent (n = {n})"),
        "other": _("Other reasons (n = {n})"),
        "still_screening": _("Still in screening (n = {n})"),
        "randomised": _("Randomised (n = {n})"),
        "in_error": _("of whom randomised in error (n = {n})"),
        "allocated": _("Allocated to {arm} (n = {n})"),
        "allocated_pooled": _("Allocated, arms pooled (n = {n})"),
        "received": _("Received allocated intervention (n = {n})"),
        "not_received": _("Did not receive it (n = {n})"),
        "lost": _("Lost to follow-up (n = {n})"),
        "discontinued": _("Discontinued (n = {n})"),
        "withdrew": _("withdrew from the study (n = {n})"),
        "died": _("died (n = {n})"),
        "stopped_treatment": _("stopped treatment, followed up (n = {n})"),
        "analysed": _("Analysed (n = {n})"),
        "not_analysed": _("No baseline and week-24 mRSS (n = {n})"),
    }


def _consort(request: HttpRequest) -> tuple[reports.ConsortFlow, bool, str]:
    show_arms = reports.arms_visible(request.user)
    flow = reports.consort_flow(request.user, by_arm=show_arms)
    labels = tuple(reports.arm_label(arm) for arm in PROTOCOL.arms) if show_arms else None
    return flow, show_arms, draw_consort(flow, arm_labels=labels, text=consort_text())


@permission_required(SEE_REPORTS)
def index(request: HttpRequest) -> HttpResponse:
    """Visit compliance, data completeness, data queries and SAEs."""
    show_arms = reports.arms_visible(request.user)
    tallies = reports.visit_tallies(request.user)
    return render(
        request,
        "exports/reports.html",
        {
            "show_arms": show_arms,
            "compliance": reports.visit_compliance(request.user, tallies=tallies),
            "completeness": reports.data_completeness(request.user, tallies=tallies),
            "queries": reports.data_queries(request.user),
            "saes": reports.sae_summary(request.user, by_arm=show_arms),
        },
    )


@permission_required(SEE_REPORTS)
def consort(request: HttpRequest) -> HttpResponse:
    flow, show_arms, svg = _consort(request)
    return render(
        request,
        "exports/consort.html",
        {"flow": flow, "show_arms": show_arms, "svg": mark_safe(svg)},  # noqa: S308 - every text is escaped
    )


@permission_required(SEE_REPORTS)
def consort_svg(request: HttpRequest) -> HttpResponse:
    _flow, _show_arms, svg = _consort(request)
    response = HttpResponse('<?xml version="1.0" encoding="UTF-8"?>\n' + svg, content_type="image/svg+xml")
    response["Content-Disposition"] = 'attachment; filename="consort.svg"'
    return response


@permission_required(SEE_REPORTS)
def enrolment(request: HttpRequest) -> HttpResponse:
    data = reports.enrolment(request.user)
    return render(
        request,
        "exports/enrolment.html",
        {
            "show_arms": reports.arms_visible(request.user),
            "data": data,
            "chart": enrolment_chart(data),
            "months": [month for month in data.months if month.screened >= 0],
            "recruitment_months": PROTOCOL.recruitment_months,
        },
    )


@permission_required(SEE_REPORTS)
def primary_endpoint(request: HttpRequest) -> HttpResponse:
    if not reports.arms_visible(request.user):
        raise PermissionDenied("the primary endpoint by arm needs randomization.view_arm at every site")
    baseline, primary = reports.BASELINE_VISIT, reports.PRIMARY_VISIT
    return render(
        request,
        "exports/primary_endpoint.html",
        {
            "show_arms": True,
            "rows": [
                {
                    "arm": row.arm,
                    "randomised": row.randomised,
                    "measures": [
                        (_("mRSS at %(visit)s") % {"visit": baseline}, row.baseline),
                        (_("mRSS at %(visit)s") % {"visit": primary}, row.week24),
                        (_("Change, %(later)s − %(earlier)s") % {"later": primary, "earlier": baseline}, row.change),
                    ],
                }
                for row in reports.primary_endpoint(request.user)
            ],
            "baseline": baseline,
            "primary": primary,
        },
    )
