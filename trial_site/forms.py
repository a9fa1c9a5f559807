"""Kernel forms: the login (and the username django-axes records), the one-time code of two-factor login, the
access-log filter, and the one way a service's refusal (``ValidationError``) reaches a form or a page."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from trial_site.concurrency import VersionedFormMixin
from trial_site.form_dates import (  # noqa: F401  (the one date field and its widgets, re-exported)
    DateInput,
    DateTimeInput,
    IsoDateField,
    IsoDateTimeField,
    iso_formfield_callback,
)
from trial_site.models import AccessEvent
from trial_site.permissions import user_can


def add_validation_error(form: forms.Form, error: ValidationError) -> None:
    """Put a service's refusal on ``form``: each message next to the field it names when the form has that field,
    the rest (a refusal of the whole, or one about a field the form does not show) above the form. The one way every
    view shows a ``ValidationError`` on a form."""
    problems = error.error_dict if hasattr(error, "error_dict") else {None: error.error_list}
    for field, errors in problems.items():
        form.add_error(field if field in form.fields else None, errors)


def add_validation_messages(request: HttpRequest, error: ValidationError) -> None:
    """Put a service's refusal above the next page, one message each, for an action that has no form to show it on
    (a button that redirects: randomise, confirm eligibility, end a role)."""
    for message in error.messages:
        messages.error(request, message)


class LoginForm(AuthenticationForm):
    """Django's login form; the username field is focused and described for screen readers."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _(
            "That username and password do not match. After 5 failed attempts the account is locked for 30 minutes."
        ),
    }


AXES_USERNAME_LENGTH = 255  # django-axes' AccessAttempt.username


def axes_username(request: HttpRequest, credentials: dict[str, Any] | None = None) -> str | None:
    """The username django-axes records for a login attempt (``AXES_USERNAME_CALLABLE``): as typed, from the
    credentials or the login form, cut to the length its attempt log holds. Django's login form does not limit the
    username's length, and a longer one (no account has it) would fail the insert with a server error."""
    source = credentials if credentials else getattr(request, "POST", {})
    username = source.get("username")
    return username[:AXES_USERNAME_LENGTH] if isinstance(username, str) else username


BANGLA_DIGITS = str.maketrans("০১২৩৪৫৬৭৮৯", "0123456789")


class OneTimeCodeForm(forms.Form):
    """Six digits, typed with Latin or Bangla digits (a Bangla keyboard gives ০–৯)."""

    token = forms.RegexField(
        label=_("6-digit code from your authenticator app"),
        regex=r"^\s*[0-9০-৯]{6}\s*$",
        error_messages={"invalid": _("Enter the 6 digits your authenticator app shows now.")},
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )

    def clean_token(self) -> str:
        return self.cleaned_data["token"].strip().translate(BANGLA_DIGITS)


class AccessLogFilterForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Event"), required=False, choices=[("", _("All events")), *AccessEvent.Kind.choices]
    )
    username = forms.CharField(label=_("Username"), required=False, max_length=150)


class ReasonForChangeMixin(VersionedFormMixin):
    """For a form that edits saved clinical data: asks for the reason for change (required then), and carries the
    version the record was opened on (``trial_site.concurrency``)."""

    reason_for_change = forms.CharField(
        label=_("Reason for change"),
        required=False,
        max_length=500,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. transcription error, corrected from the source")}),
        help_text=_("Needed because saved data are changed; it is kept in the audit trail."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        instance = getattr(self, "instance", None)
        self.changes_saved_data = instance is not None and instance.pk is not None
        if not self.changes_saved_data:
            del self.fields["reason_for_change"]

    def clean_reason_for_change(self) -> str:
        reason = self.cleaned_data.get("reason_for_change", "").strip()
        if self.changes_saved_data and self.has_changed() and not reason:
            raise forms.ValidationError(_("Give the reason for changing saved data."))
        return reason


def may_read_forms(user: Any, site: Any) -> bool:
    """Whether ``user`` may read (not enter) the case report forms of ``site``: the unblinded monitoring roles
    (monitor, data manager, administrator), who review, query, verify and lock them. Blinded staff may not: a
    form such as the study drug's would tell them the arm."""
    return user_can(user, "monitoring.view_sourceverification", site) and user_can(user, "randomization.view_arm", site)


def read_only(form: forms.Form) -> None:
    """Show the form's values without letting them be changed."""
    for field in form.fields.values():
        field.disabled = True
