"""Forms of the data-query pages: raise, answer / close / re-open, and the list's filters."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from monitoring.models import DataQuery
from monitoring.selectors.queries import assignable_users, queryable_fields
from screening.forms import full_name
from trial_site.form_dates import IsoDateField
from trial_site.models import Site


class QueryRaiseForm(forms.Form):
    field = forms.ChoiceField(label=_("Field"), required=False)
    message = forms.CharField(label=_("Question"), widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)
    assignee = forms.ModelChoiceField(label=_("Assign to"), required=False, queryset=None)
    due_date = IsoDateField(label=_("Answer by"), required=False)

    def __init__(self, *args: Any, record: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["field"].choices = [("", _("The whole form")), *queryable_fields(type(record))]
        self.fields["assignee"].queryset = assignable_users(record.site)
        self.fields["assignee"].label_from_instance = full_name


class QueryStepForm(forms.Form):
    """The text of an answer, a closing note or the reason for re-opening, and the version of the query the page
    showed (``opened_version``): acting on a query that changed since is refused, naming who did what when."""

    ACTIONS = ("answer", "close", "reopen")
    action = forms.ChoiceField(choices=[(action, action) for action in ACTIONS], widget=forms.HiddenInput)
    text = forms.CharField(label=_("Text"), widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=4000)
    opened_version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=0)

    def __init__(self, *args: Any, action: str, version: int | None = None, text: str = "", **kwargs: Any) -> None:
        # Several of these forms share a page: ids of their own, the same field names.
        initial = {"action": action, "opened_version": version, "text": text}
        super().__init__(*args, initial=initial, auto_id=f"id_{action}_%s", **kwargs)
        self.fields["text"].label = {
            "answer": _("Your answer"),
            "close": _("Closing note (optional)"),
            "reopen": _("Why re-open it"),
        }[action]


class QueryFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("Any status")), *DataQuery.Status.choices]
    )
    site = forms.ModelChoiceField(
        label=_("Site"), required=False, queryset=Site.objects.none(), empty_label=_("Any site")
    )
    participant = forms.CharField(label=_("Participant"), required=False, max_length=30)
    form = forms.ChoiceField(label=_("Form"), required=False)
    assignee = forms.ModelChoiceField(label=_("Assigned to"), required=False, queryset=None, empty_label=_("Anyone"))

    def __init__(self, *args: Any, sites: Any, staff: Any, forms_queried: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites
        self.fields["form"].choices = [("", _("Any form")), *forms_queried]
        self.fields["assignee"].queryset = staff
        self.fields["assignee"].label_from_instance = full_name
