"""The forms of the protocol amendment pages: propose a version (its JSON uploaded or pasted), approve one (a reason
and the password re-entered under the login's lockout policy)."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from trial_site.form_dates import IsoDateField
from trial_site.models import AccessEvent
from trial_site.services import Reentry, password_reentry, reentry_locked_message

MAX_FILE_BYTES = 512 * 1024


class ProposeForm(forms.Form):
    version = forms.CharField(
        label=_("Protocol version"), max_length=20, help_text=_("Higher than every version so far, e.g. 2.0.")
    )
    effective_from = IsoDateField(
        label=_("In force from"), help_text=_("Today or later: the first day the amended protocol applies.")
    )
    summary = forms.CharField(
        label=_("Summary"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("What the amendment changes and why (the ethics committee's approval reference, for example)."),
    )
    content_file = forms.FileField(
        label=_("Amendment file (JSON)"),
        required=False,
        help_text=_("The file written from the current protocol (manage.py protocol_amendment current)."),
    )
    content_text = forms.CharField(
        label=_("Or paste the JSON"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "class": "font-monospace", "spellcheck": "false"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        upload = data.get("content_file")
        field = "content_file" if upload else "content_text"
        if upload:
            if upload.size > MAX_FILE_BYTES:
                self.add_error(field, _("The file is too large for an amendment (at most 512 KB)."))
                return data
            raw = upload.read()
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                self.add_error(field, _("The file is not text in UTF-8."))
                return data
        else:
            text = data.get("content_text", "")
        if not text.strip():
            self.add_error("content_text", _("Upload the amendment file or paste its JSON."))
            return data
        try:
            data["content"] = json.loads(text)
        except json.JSONDecodeError as problem:
            self.add_error(
                field,
                _("This is not valid JSON (line %(line)s, column %(column)s): %(problem)s")
                % {"line": problem.lineno, "column": problem.colno, "problem": problem.msg},
            )
        data["content_field"] = field
        return data


class ApproveForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for approval"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("e.g. approved by the ethics committee on 2026-12-01, reference EC/2026/14"),
    )
    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args: Any, request: HttpRequest, version: str, **kwargs: Any) -> None:
        self.request = request
        self.version = version
        super().__init__(*args, **kwargs)

    def clean_password(self) -> str:
        password = self.cleaned_data.get("password", "")
        outcome = password_reentry(
            request=self.request,
            user=self.request.user,
            password=password,
            kind=AccessEvent.Kind.PASSWORD_REENTRY_FAILED,
            detail=f"approving protocol version {self.version}",
        )
        if outcome is Reentry.LOCKED:
            raise forms.ValidationError(reentry_locked_message(), code="locked")
        if outcome is Reentry.WRONG:
            raise forms.ValidationError(_("That password is not right: nothing was approved."), code="wrong")
        return password
