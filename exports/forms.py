"""The export centre's form: what to export (format, one form or all), where from (sites), as at when (cut-off),
and how identifying data are treated. Statisticians see only the analysis formats, de-identified."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from exports.catalogue import datasets
from exports.formats import FORMATS
from exports.scope import DateMode, ExportScope
from exports.services import export_site_ids
from trial_site.form_dates import IsoDateField
from trial_site.models import Site

DEIDENTIFIED, IDENTIFIED = "deidentified", "identified"
CODES, LABELS = "codes", "labels"


class ExportForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Format"), widget=forms.RadioSelect, error_messages={"invalid_choice": _("Choose one of the formats.")}
    )
    dataset = forms.ChoiceField(
        label=_("Form"),
        required=False,
        help_text=_("For CSV only: one form as a single CSV file, or every form (a ZIP of CSV files)."),
    )
    site = forms.ChoiceField(label=_("Sites"), required=False)
    cut_off = IsoDateField(
        label=_("Cut-off date"),
        required=False,
        help_text=_("The data as they stood at the end of this day. Leave empty for the data as they are now."),
    )
    identified = forms.ChoiceField(
        label=_("Identifying data"),
        widget=forms.RadioSelect,
        initial=DEIDENTIFIED,
        error_messages={"invalid_choice": _("You may export de-identified data only.")},
    )
    free_text = forms.BooleanField(
        label=_("Keep free text"),
        required=False,
        help_text=_("De-identified exports leave free text out unless you tick this; check it holds no names."),
    )
    date_mode = forms.ChoiceField(
        label=_("Dates"), widget=forms.RadioSelect, choices=DateMode.choices, initial=DateMode.STUDY_DAY
    )
    codes = forms.ChoiceField(
        label=_("Coded values"),
        widget=forms.RadioSelect,
        choices=[(CODES, _("Codes")), (LABELS, _("Labels"))],
        initial=CODES,
    )

    def __init__(self, *args: Any, user: Any, kinds: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.full_access = any(not FORMATS[key].analysis for key in kinds)
        self.fields["kind"].choices = [
            (key, format_html("<strong>{}</strong> <span class='text-muted'>— {}</span>", FORMATS[key].label,
                              FORMATS[key].description))
            for key in kinds
        ]  # fmt: skip
        self.fields["dataset"].choices = [("", _("Every form"))] + [(d.key, f"{d.label} ({d.key})") for d in datasets()]
        # Only the sites where a role the user holds there allows an export (a role counts at its own site only).
        mine = Site.objects.filter(id__in=sorted(export_site_ids(user))).order_by("code")
        self.sites = list(mine.values_list("id", "code", "name"))
        self.fields["site"].choices = [("", _("All my sites"))] + [
            (str(pk), f"{code} — {name}") for pk, code, name in self.sites
        ]
        # Identified data only for a role that sees participants' identifying data at one of these sites.
        may_identify = self.full_access and bool(export_site_ids(user, identified=True))
        self.fields["identified"].choices = [(DEIDENTIFIED, _("De-identified"))] + (
            [(IDENTIFIED, _("Identified (names, numbers, actual dates)"))] if may_identify else []
        )
        if not self.full_access:
            del self.fields["free_text"]

    def clean_cut_off(self) -> Any:
        cut_off = self.cleaned_data.get("cut_off")
        if cut_off and cut_off > timezone.localdate():
            raise forms.ValidationError(_("The cut-off cannot be in the future."))
        return cut_off

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        identified = data.get("identified") == IDENTIFIED
        if data.get("date_mode") == DateMode.ACTUAL and not identified and "identified" not in self.errors:
            self.add_error(
                "date_mode", _("Actual dates only in an identified export: choose shifted dates or study days.")
            )
        if data.get("dataset") and data.get("kind") and data["kind"] != "csv":
            self.add_error("dataset", _("A single form is exported as CSV only: choose CSV, or every form."))
        if not self.sites:
            self.add_error("site", _("You hold no role at any site, so there is nothing to export."))
        site_ids: tuple[int, ...] = ()
        if not self.errors:
            # "All my sites" is every site where this export is allowed; one site must be one of them.
            permitted = export_site_ids(
                self.user, kind=data["kind"], identified=identified, free_text=bool(data.get("free_text"))
            )
            chosen = (int(data["site"]),) if data.get("site") else tuple(pk for pk, _c, _n in self.sites)
            site_ids = tuple(pk for pk in chosen if pk in permitted)
            if data.get("site") and site_ids != chosen:
                self.add_error("site", _("Your role at this site does not allow this export."))
            elif not site_ids:
                self.add_error("site", _("Your roles allow this export at none of your sites."))
        if not self.errors:
            data["scope"] = ExportScope(
                site_ids=site_ids,
                cut_off=data.get("cut_off"),
                identified=identified,
                free_text=bool(data.get("free_text")) and not identified,
                date_mode=data["date_mode"],
                codes_as_labels=data["codes"] == LABELS,
            )
        return data
