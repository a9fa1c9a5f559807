"""Forms of the staff pages and of one's own password. Every change to an account or a role asks for a reason."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import PasswordChangeForm, SetPasswordForm
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from trial_site.models import AccessEvent, Site
from trial_site.roles import Role
from trial_site.services import Reentry, password_reentry, reentry_locked_message

REASON_HELP = _("Kept in the history with your name and the time.")


def reason_field(placeholder: str | Any = "") -> forms.CharField:
    return forms.CharField(
        label=_("Reason"),
        max_length=300,
        help_text=REASON_HELP,
        widget=forms.TextInput(attrs={"placeholder": placeholder}) if placeholder else forms.TextInput(),
    )


class StaffFilterForm(forms.Form):
    q = forms.CharField(label=_("Name or username"), required=False, max_length=150)


class StaffAccountForm(forms.Form):
    """A new account: who, and the first role at one of the administrator's sites."""

    username = forms.CharField(
        label=_("Username"),
        max_length=150,
        help_text=_("Letters, digits and @ . + - _ only. It never changes: the audit trail names people by it."),
        validators=get_user_model()._meta.get_field("username").validators,
    )
    first_name = forms.CharField(label=_("First name"), max_length=150)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    email = forms.EmailField(label=_("E-mail"), required=False, help_text=_("For the trial's e-mails to this person."))
    site = forms.ModelChoiceField(label=_("Site"), queryset=Site.objects.none(), empty_label=None)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
    reason = reason_field(_("e.g. new research nurse at DHK"))

    def __init__(self, *args: Any, sites: QuerySet[Site], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites  # type: ignore[attr-defined]


class StaffNamesForm(forms.Form):
    """Correct the name or the e-mail of an account (the username never changes)."""

    first_name = forms.CharField(label=_("First name"), max_length=150)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    email = forms.EmailField(label=_("E-mail"), required=False)
    reason = reason_field(_("e.g. name changed after marriage"))


class RoleGrantForm(forms.Form):
    site = forms.ModelChoiceField(label=_("Site"), queryset=Site.objects.none(), empty_label=None)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
    reason = reason_field(_("e.g. delegation log signed by the investigator"))

    def __init__(self, *args: Any, sites: QuerySet[Site], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites  # type: ignore[attr-defined]


class ReasonForm(forms.Form):
    reason = reason_field()


class OwnPasswordChangeForm(PasswordChangeForm):
    """Django's password change (the new password twice, checked by ``AUTH_PASSWORD_VALIDATORS``), with the current
    password re-entered under the login's lockout policy (``trial_site.services.password_reentry``)."""

    def __init__(self, user: Any, *args: Any, request: HttpRequest, **kwargs: Any) -> None:
        self.request = request
        super().__init__(user, *args, **kwargs)

    def clean_old_password(self) -> str:
        old_password = self.cleaned_data.get("old_password", "")
        outcome = password_reentry(
            request=self.request,
            user=self.user,
            password=old_password,
            kind=AccessEvent.Kind.PASSWORD_REENTRY_FAILED,
            detail="changing the password",
        )
        if outcome is Reentry.LOCKED:
            raise forms.ValidationError(reentry_locked_message(), code="locked")
        if outcome is Reentry.WRONG:
            raise forms.ValidationError(self.error_messages["password_incorrect"], code="password_incorrect")
        return old_password


class LinkPasswordForm(SetPasswordForm):
    """The password chosen with a one-time link (twice, checked by ``AUTH_PASSWORD_VALIDATORS``)."""
