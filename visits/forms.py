"""Forms of the visit schedule."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from trial_site.forms import DateInput
from visits.models import EndOfStudy


class VisitDoneForm(forms.Form):
    done_on = forms.DateField(label=_("Date of the visit"), widget=DateInput())
    deviation_reason = forms.CharField(
        label=_("Protocol deviation (only if outside the window)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class VisitMissedForm(forms.Form):
    reason = forms.CharField(label=_("Why was the visit missed?"), widget=forms.Textarea(attrs={"rows": 2}))


class RescheduleForm(forms.Form):
    planned_date = forms.DateField(label=_("New planned date (within the window)"), widget=DateInput())
    reason = forms.CharField(label=_("Reason"), max_length=300)


class UnscheduledVisitForm(forms.Form):
    on = forms.DateField(label=_("Date"), widget=DateInput())
    reason = forms.CharField(label=_("Reason"), max_length=500)


class FollowUpForm(forms.Form):
    last_dose = forms.DateField(label=_("Date of the last dose of study drug"), widget=DateInput())


class EndOfStudyForm(forms.Form):
    ended_on = forms.DateField(label=_("Date"), widget=DateInput())
    reason = forms.ChoiceField(label=_("How the study ended"), choices=EndOfStudy.Reason.choices)
    details = forms.CharField(label=_("Details"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
