"""Request middleware of the kernel: nothing kept in caches, NUL bytes refused, the acting user, the site's time
zone, and mandatory two-factor."""

from __future__ import annotations

import logging
import zoneinfo
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import BadRequest
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.http import urlencode
from django_otp.plugins.otp_totp.models import TOTPDevice

from trial_site.audit.actor import acting_as
from trial_site.permissions import user_time_zone

logger = logging.getLogger(__name__)


class NoStoreMiddleware:
    """Every answer of the application says ``Cache-Control: no-store`` (and ``Pragma: no-cache`` for old proxies):
    pages, downloads and errors, the login page too, so no browser, shared computer or proxy keeps a copy of
    participant data. Static files never reach it (WhiteNoise, placed before it, answers them with its own long
    cache headers); a view's own ``Cache-Control`` is merged into it (``private``, ``max-age=0``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        add_never_cache_headers(response)  # max-age=0, no-cache, no-store, must-revalidate, private; Expires
        response["Pragma"] = "no-cache"
        return response


class RefuseNulBytesMiddleware:
    """A NUL byte in the path or the query string is refused (400) before any view runs.

    PostgreSQL cannot hold or compare text with a NUL byte: a participant number or a filter value carrying one
    would reach a query and fail as a server error. Form fields refuse it themselves (Django's ``CharField``).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path or any(
            "\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists()
        ):
            raise BadRequest("a NUL byte in the address")
        return self.get_response(request)


class ActingUserMiddleware:
    """Every change made while handling a request is attributed to the request's user."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with acting_as(request.user):
            return self.get_response(request)


class SiteTimeZoneMiddleware:
    """Times are stored in UTC and shown in the time zone of the user's site."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        zone_name = user_time_zone(request.user)  # with the roles: one query for both, kept for the request
        if zone_name:
            timezone.activate(zoneinfo.ZoneInfo(zone_name))
        else:
            timezone.deactivate()
        return self.get_response(request)


TWO_FACTOR_EXEMPT_URL_NAMES = ("two_factor_setup", "two_factor_verify", "logout", "set_language", "login")


class TwoFactorRequiredMiddleware:
    """With ``TWO_FACTOR_REQUIRED``, a logged-in user must pass a TOTP check before any other page.

    A user without a confirmed device is sent to enrolment, one with a device to verification.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if settings.TWO_FACTOR_REQUIRED and user.is_authenticated and not user.is_verified():
            exempt = {reverse(name) for name in TWO_FACTOR_EXEMPT_URL_NAMES}
            if request.path not in exempt and not request.path.startswith(settings.STATIC_URL):
                has_device = TOTPDevice.objects.filter(user=user, confirmed=True).exists()
                target = "two_factor_verify" if has_device else "two_factor_setup"
                return redirect(f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)


class UniqueRaceMiddleware:
    """A unique constraint that fires because two requests saved the same thing at the same instant (a double click
    on a form without a submission key, say) is a 409 with a clear page, never a 500. The transaction was rolled
    back, so nothing was saved in part; the log keeps the constraint that fired."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, IntegrityError):
            return None
        logger.warning("unique race on %s by %s: %s", request.path, getattr(request, "user", None), exception)
        return render(request, "409.html", status=409)
