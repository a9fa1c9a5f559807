"""The Staff pages (administrators, at their own sites) and one's own password (everyone).

Administrators list the accounts that work at their sites, create an account with its first role, correct its
name or e-mail, deactivate or activate it, grant and end roles at their sites, and reset a password with a
one-time link: each through a service of ``trial_site.services``, with a reason kept in the history. Permissions
and flags are never edited here or anywhere else in the application. An account that works at none of the
administrator's sites is "not found" (404, logged), as another site's record is.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.encoding import force_str
from django.utils.http import urlsafe_base64_decode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from trial_site import services
from trial_site.forms import add_validation_error, add_validation_messages
from trial_site.models import AccessEvent, StaffMembership
from trial_site.permissions import permission_required
from trial_site.roles import Role
from trial_site.staff import selectors
from trial_site.staff.forms import (
    LinkPasswordForm,
    OwnPasswordChangeForm,
    ReasonForm,
    RoleGrantForm,
    StaffAccountForm,
    StaffFilterForm,
    StaffNamesForm,
)
from trial_site.submission import once_per_submission

logger = logging.getLogger("trial_site.security")

PAGE_SIZE = 50
LINK_SESSION_KEY = "_password_link"


def _account(request: HttpRequest, pk: int) -> Any:
    """The account if it works (or worked) at one of the administrator's sites; 404 otherwise, logged when the
    account exists (it works elsewhere)."""
    account = selectors.staff_account(request.user, pk)
    if account is None:
        if selectors.account_exists(pk):
            logger.warning("cross-site access refused: user=%s path=%s account", request.user, request.path)
            services.access_event_record(
                kind=AccessEvent.Kind.ACCESS_DENIED, request=request, detail="staff account at another site"
            )
        raise Http404("No such staff account at your sites.")
    return account


@permission_required(selectors.SEE_STAFF)
def staff_list(request: HttpRequest) -> HttpResponse:
    form = StaffFilterForm(request.GET or None)
    search = form.cleaned_data["q"] if form.is_valid() else ""
    page = Paginator(selectors.staff_at_sites(request.user, search=search), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "trial_site/staff/list.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "can_add": selectors.sites_for(request.user, selectors.ADD_ACCOUNT).exists(),
        },
    )


@permission_required(selectors.ADD_ACCOUNT)
@require_http_methods(["GET", "POST"])
@once_per_submission
def staff_create(request: HttpRequest) -> HttpResponse:
    form = StaffAccountForm(request.POST or None, sites=selectors.sites_for(request.user, selectors.ADD_ACCOUNT))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            account = services.staff_account_create(
                by=request.user,
                site=data["site"],
                role=Role(data["role"]),
                username=data["username"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                email=data["email"],
                reason=data["reason"],
            )
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(
                request,
                _("Account %(username)s created. Give them a one-time link to choose their password.")
                % {"username": account.username},
            )
            return redirect("staff_detail", pk=account.pk)
    return render(request, "trial_site/staff/create.html", {"form": form}, status=400 if form.errors else 200)


@permission_required(selectors.SEE_STAFF)
def staff_detail(request: HttpRequest, pk: int) -> HttpResponse:
    account = _account(request, pk)
    user = request.user
    return render(
        request,
        "trial_site/staff/detail.html",
        {
            "account": account,
            "manageable": services.account_manageable(user, account),
            "own": account.pk == user.pk,
            "grant_form": RoleGrantForm(sites=selectors.sites_for(user, selectors.GRANT_ROLE)),
            "reason_form": ReasonForm(),
            "history": selectors.account_history(user, account),
        },
    )


@permission_required("auth.change_user")
@require_http_methods(["GET", "POST"])
def staff_edit(request: HttpRequest, pk: int) -> HttpResponse:
    account = _account(request, pk)
    if not services.account_manageable(request.user, account):
        raise PermissionDenied("the account works at a site the administrator does not manage, or is their own")
    initial = {"first_name": account.first_name, "last_name": account.last_name, "email": account.email}
    form = StaffNamesForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.staff_account_update(
                user=account, by=request.user, first_name=data["first_name"], last_name=data["last_name"],
                email=data["email"], reason=data["reason"],
            )  # fmt: skip
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, _("Saved."))
            return redirect("staff_detail", pk=account.pk)
    return render(
        request, "trial_site/staff/edit.html", {"account": account, "form": form}, status=400 if form.errors else 200
    )


@permission_required(selectors.GRANT_ROLE)
@require_POST
def staff_grant(request: HttpRequest, pk: int) -> HttpResponse:
    account = _account(request, pk)
    form = RoleGrantForm(request.POST, sites=selectors.sites_for(request.user, selectors.GRANT_ROLE))
    if not form.is_valid():
        for problems in form.errors.values():
            for problem in problems:
                messages.error(request, problem)
        return redirect("staff_detail", pk=account.pk)
    data = form.cleaned_data
    try:
        services.staff_role_grant(
            user=account, site=data["site"], role=Role(data["role"]), by=request.user, reason=data["reason"]
        )
    except ValidationError as error:
        add_validation_messages(request, error)
    else:
        messages.success(
            request, _("%(role)s at %(site)s granted.") % {"role": Role(data["role"]).label, "site": data["site"].code}
        )
    return redirect("staff_detail", pk=account.pk)


@permission_required("trial_site.change_staffmembership")
@require_POST
def staff_role_end(request: HttpRequest, pk: int) -> HttpResponse:
    sites = selectors.staff_site_ids(request.user, "trial_site.change_staffmembership")
    membership = StaffMembership.objects.select_related("user", "site").filter(pk=pk, site_id__in=sites).first()
    if membership is None:
        if StaffMembership.objects.filter(pk=pk).exists():
            logger.warning("cross-site access refused: user=%s path=%s membership", request.user, request.path)
            services.access_event_record(
                kind=AccessEvent.Kind.ACCESS_DENIED, request=request, detail="staff membership at another site"
            )
        raise Http404("No such role at your sites.")
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give the reason: it is kept in the history."))
        return redirect("staff_detail", pk=membership.user_id)
    try:
        services.staff_role_end(membership=membership, by=request.user, reason=form.cleaned_data["reason"])
    except ValidationError as error:
        add_validation_messages(request, error)
    else:
        messages.success(
            request,
            _("%(role)s at %(site)s ended.") % {"role": membership.get_role_display(), "site": membership.site.code},
        )
    return redirect("staff_detail", pk=membership.user_id)


@permission_required("auth.change_user")
@require_POST
def staff_active(request: HttpRequest, pk: int) -> HttpResponse:
    """Deactivate the account, or activate it again (``active`` = "1")."""
    account = _account(request, pk)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give the reason: it is kept in the history."))
        return redirect("staff_detail", pk=account.pk)
    active = request.POST.get("active") == "1"
    try:
        services.staff_account_set_active(
            user=account, by=request.user, active=active, reason=form.cleaned_data["reason"]
        )
    except ValidationError as error:
        add_validation_messages(request, error)
    else:
        messages.success(request, _("Account activated.") if active else _("Account deactivated: it cannot log in."))
    return redirect("staff_detail", pk=account.pk)


@permission_required("auth.change_user")
@require_POST
@never_cache
def staff_password_link(request: HttpRequest, pk: int) -> HttpResponse:
    """Reset the password: the old one stops working; the page shows the one-time link, once."""
    account = _account(request, pk)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give the reason: it is kept in the history."))
        return redirect("staff_detail", pk=account.pk)
    try:
        path = services.staff_password_link(user=account, by=request.user, reason=form.cleaned_data["reason"])
    except ValidationError as error:
        add_validation_messages(request, error)
        return redirect("staff_detail", pk=account.pk)
    hours = settings.PASSWORD_RESET_TIMEOUT // 3600
    return render(
        request,
        "trial_site/staff/password_link.html",
        {"account": account, "link": request.build_absolute_uri(path), "hours": hours},
    )


# --- One's own password -----------------------------------------------------------------------------------------


@login_required
@sensitive_post_parameters("old_password", "new_password1", "new_password2")
@require_http_methods(["GET", "POST"])
@never_cache
def password_change(request: HttpRequest) -> HttpResponse:
    """Change one's own password: the current one first (as at login: 5 wrong lock it for 30 minutes), then the new
    one twice, checked by the password rules."""
    form = OwnPasswordChangeForm(request.user, request.POST or None, request=request)
    if request.method == "POST" and form.is_valid():
        user = services.own_password_set(
            user=request.user, password=form.cleaned_data["new_password1"], reason="password changed by its owner"
        )
        update_session_auth_hash(request, user)
        messages.success(request, _("Your password is changed."))
        return redirect("home")
    return render(request, "registration/password_change.html", {"form": form}, status=400 if form.errors else 200)


def _linked_account(request: HttpRequest) -> Any | None:
    """The account of the one-time link kept in the session, if the link still holds."""
    uid, _dot, token = str(request.session.get(LINK_SESSION_KEY, "")).partition(".")
    try:
        pk = int(force_str(urlsafe_base64_decode(uid)))
    except (TypeError, ValueError, OverflowError, UnicodeDecodeError):
        return None
    account = get_user_model().objects.filter(pk=pk, is_active=True).first()
    if account is None or not default_token_generator.check_token(account, token):
        return None
    return account


@sensitive_post_parameters("new_password1", "new_password2")
@require_http_methods(["GET", "POST"])
@never_cache
def password_set(request: HttpRequest) -> HttpResponse:
    """Choose a password with a one-time link (``?key=…``). The key is moved into the session and the address
    without it is shown, so that it leaves no trace in the browser's history or a Referer header."""
    key = request.GET.get("key")
    if key is not None:
        request.session[LINK_SESSION_KEY] = key[:300]
        return redirect("password_set")
    account = _linked_account(request)
    if account is None:
        return render(request, "registration/password_set.html", {"form": None}, status=400 if key == "" else 200)
    form = LinkPasswordForm(account, request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.own_password_set(
            user=account, password=form.cleaned_data["new_password1"], reason="password chosen with a one-time link"
        )
        request.session.pop(LINK_SESSION_KEY, None)
        messages.success(request, _("Your password is set. Log in with it."))
        return redirect(reverse("login"))
    status = 400 if form.errors else 200
    return render(request, "registration/password_set.html", {"form": form, "account": account}, status=status)


urlpatterns = [
    path("staff/", staff_list, name="staff_list"),
    path("staff/new/", staff_create, name="staff_create"),
    path("staff/<int:pk>/", staff_detail, name="staff_detail"),
    path("staff/<int:pk>/edit/", staff_edit, name="staff_edit"),
    path("staff/<int:pk>/roles/", staff_grant, name="staff_grant"),
    path("staff/<int:pk>/active/", staff_active, name="staff_active"),
    path("staff/<int:pk>/password-link/", staff_password_link, name="staff_password_link"),
    path("staff/roles/<int:pk>/end/", staff_role_end, name="staff_role_end"),
    path("accounts/password/", password_change, name="password_change"),
    path("accounts/set-password/", password_set, name="password_set"),
]
