"""The monitoring section's front page: what needs the user, by role."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from monitoring.queries import query_counts
from trial_site.navigation import SECTIONS
from trial_site.permissions import user_roles


@login_required
def index(request: HttpRequest) -> HttpResponse:
    section = next(section for section in SECTIONS if section.key == "monitoring")
    if not request.user.is_superuser and not (section.roles & user_roles(request.user)):
        raise PermissionDenied("the monitoring section is not for the user's roles")
    counts = query_counts(request.user) if request.user.has_perm("monitoring.view_dataquery") else None
    return render(request, "monitoring/index.html", {"counts": counts})
