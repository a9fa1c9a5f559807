"""Kernel pages: home per role, sites and staff, the access log, two-factor enrolment, error pages."""

from __future__ import annotations

import base64
import logging
import sys
from typing import Any

import segno
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template import loader
from django.urls import NoReverseMatch, reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from trial_site import selectors
from trial_site.forms import AccessLogFilterForm, OneTimeCodeForm
from trial_site.home import home_lists
from trial_site.models import AccessEvent, Site
from trial_site.navigation import ROLE_DUTIES, SECTIONS, sections_for
from trial_site.permissions import permission_required, section_required, user_can, user_roles
from trial_site.roles import Role
from trial_site.scoping import get_scoped_object_or_404, log_cross_site_refusal
from trial_site.services import access_event_record

logger = logging.getLogger("trial_site.security")

ACCESS_LOG_PAGE_SIZE = 50


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The user's to-do lists per role (``trial_site.home``), then the sections of their roles."""
    roles = user_roles(request.user)
    duties = [(role.label, ROLE_DUTIES[role]) for role in Role if role in roles]
    return render(
        request,
        "trial_site/home.html",
        {
            "duties": duties,
            "todo_lists": home_lists(request.user),
            "calendar_url": _calendar_url(request.user),
            "sections": sections_for(roles),
        },
    )


def _calendar_url(user: Any) -> str:
    """The visit calendar, for users who may read visits (its page's permission), when the calendar exists."""
    if not user_can(user, "visits.view_visit"):
        return ""
    try:
        return reverse("visits:calendar")
    except NoReverseMatch:
        return ""


@permission_required("trial_site.view_site")
def site_list(request: HttpRequest) -> HttpResponse:
    return render(request, "trial_site/site_list.html", {"sites": selectors.sites_for_user(request.user)})


@permission_required("trial_site.view_site")
def site_detail(request: HttpRequest, code: str) -> HttpResponse:
    site = get_scoped_object_or_404(Site.objects.all(), request, site_field="site", code=code)
    return render(
        request, "trial_site/site_detail.html", {"site": site, "memberships": selectors.site_with_staff(site)}
    )


@permission_required("trial_site.view_accessevent")
def access_log(request: HttpRequest) -> HttpResponse:
    form = AccessLogFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    events = selectors.access_events(
        reader=request.user, kind=filters.get("kind", ""), username=filters.get("username", "")
    )
    page = Paginator(events, ACCESS_LOG_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "trial_site/access_log.html", {"form": form, "page": page, "query": query.urlencode()})


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse(settings.LOGIN_REDIRECT_URL)


@login_required
@require_http_methods(["GET", "POST"])
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    """Enrol a TOTP device: scan the QR code (or type the key), then confirm with one code."""
    if TOTPDevice.objects.filter(user=request.user, confirmed=True).exists():
        return redirect(f"{reverse('two_factor_verify')}?{urlencode({'next': _safe_next(request)})}")
    device, _created = TOTPDevice.objects.get_or_create(
        user=request.user, confirmed=False, defaults={"name": "authenticator"}
    )
    form = OneTimeCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["token"]):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            otp_login(request, device)
            access_event_record(kind=AccessEvent.Kind.TWO_FACTOR_ENROLLED, request=request)
            return redirect(_safe_next(request))
        access_event_record(kind=AccessEvent.Kind.TWO_FACTOR_FAILED, request=request, detail="enrolment")
        form.add_error("token", _("That code is not right. Check the time on your phone and try the new code."))
    qr_svg = segno.make(device.config_url, error="m").svg_inline(scale=5, dark="#212529")
    secret = base64.b32encode(device.bin_key).decode()
    return render(
        request,
        "registration/two_factor_setup.html",
        {"form": form, "qr_svg": qr_svg, "secret": secret, "next": _safe_next(request)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    """Second step of login for a user with a confirmed device."""
    devices = list(TOTPDevice.objects.filter(user=request.user, confirmed=True))
    if not devices:
        return redirect(f"{reverse('two_factor_setup')}?{urlencode({'next': _safe_next(request)})}")
    form = OneTimeCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        for device in devices:
            allowed, _why = device.verify_is_allowed()
            if allowed and device.verify_token(form.cleaned_data["token"]):
                otp_login(request, device)
                return redirect(_safe_next(request))
        access_event_record(kind=AccessEvent.Kind.TWO_FACTOR_FAILED, request=request, detail="login")
        form.add_error("token", _("That code is not right. Wait for the next code and try again."))
    return render(request, "registration/two_factor_verify.html", {"form": form, "next": _safe_next(request)})


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """403: friendly page; the refusal is logged and kept in the access log."""
    logger.warning("permission denied: user=%s path=%s reason=%s", request.user, request.path, exception)
    if getattr(request, "user", None) is not None and request.user.is_authenticated:
        access_event_record(kind=AccessEvent.Kind.ACCESS_DENIED, request=request, detail=str(exception or "")[:500])
    return render(request, "403.html", status=403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    log_cross_site_refusal(request, exception)
    return render(request, "404.html", status=404)


# What Django raises when the database connection is lost or refused (PostgreSQL restarted, the connection
# killed, the network gone). A transaction open at that moment is rolled back: a save is whole or absent.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
DATABASE_RETRY_AFTER_SECONDS = 30


def server_error(request: HttpRequest) -> HttpResponse:
    """500, or 503 when the error in flight is a lost database connection (Django calls this handler inside its
    ``except`` block and logs the exception with the status; wherever the connection broke, view or middleware).
    No context processors or database access: the error may be the database itself."""
    if isinstance(sys.exc_info()[1], DATABASE_UNAVAILABLE):
        response = HttpResponse(loader.get_template("503.html").render({}), status=503)
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
        return response
    return HttpResponse(loader.get_template("500.html").render({}), status=500)


def section_placeholder(section_key: str, *, issue: str) -> Any:
    """A page that says what a section will hold, for the roles that use it; ``issue`` names the work that
    replaces it."""
    section = next(section for section in SECTIONS if section.key == section_key)

    @section_required(section_key)
    def view(request: HttpRequest) -> HttpResponse:
        return render(request, "trial_site/section_placeholder.html", {"section": section})

    return view
