"""Receivers of the authentication library's signals: they only append to the access log.

Django and django-axes announce logins, logouts, failures and lockouts through signals; there is no other
hook. Nothing here makes a business decision.
"""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

from trial_site.models import AccessEvent
from trial_site.services import access_event_record


def on_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    access_event_record(kind=AccessEvent.Kind.LOGIN, request=request, user=user)


def on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    access_event_record(kind=AccessEvent.Kind.LOGOUT, request=request, user=user)


def on_login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    access_event_record(
        kind=AccessEvent.Kind.LOGIN_FAILED, request=request, username=str(credentials.get("username", ""))
    )


def on_locked_out(sender: Any, request: Any, username: str, ip_address: str, **kwargs: Any) -> None:
    access_event_record(
        kind=AccessEvent.Kind.LOCKOUT,
        request=request,
        username=username or "",
        detail=f"locked for 30 minutes after repeated failures from {ip_address}",
    )


def connect() -> None:
    user_logged_in.connect(on_login, dispatch_uid="trial_site.access_log.login")
    user_logged_out.connect(on_logout, dispatch_uid="trial_site.access_log.logout")
    user_login_failed.connect(on_login_failed, dispatch_uid="trial_site.access_log.login_failed")
    user_locked_out.connect(on_locked_out, dispatch_uid="trial_site.access_log.locked_out")
