from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from reminders.models import Channel, Reminder


class SendNowForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for sending now"),
        max_length=300,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. the patient asked for it again by phone")}),
    )


class ReminderFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("Any status")), *Reminder.Status.choices]
    )
    channel = forms.ChoiceField(label=_("Channel"), required=False, choices=[("", _("Any channel")), *Channel.choices])
