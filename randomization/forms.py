"""Forms of randomisation."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from randomization.models import Allocation
from trial_site.concurrency import VersionedFormMixin
from trial_site.form_numbers import NumberFieldsMixin
from trial_site.protocol import PROTOCOL


class GenerateListForm(NumberFieldsMixin, forms.Form):
    name = forms.CharField(label=_("Name of the list"), max_length=100)
    slots_per_stratum = forms.IntegerField(
        label=_("Slots per stratum"), min_value=2, max_value=1000, initial=PROTOCOL.planned_enrolment * 2
    )
    block_sizes = forms.CharField(
        label=_("Block sizes"),
        initial=", ".join(str(size) for size in PROTOCOL.block_sizes),
        help_text=_("Even numbers, separated by commas; each block's size is drawn at random from them."),
    )

    def clean_block_sizes(self) -> list[int]:
        try:
            sizes = sorted({int(part) for part in self.cleaned_data["block_sizes"].split(",") if part.strip()})
        except ValueError as error:
            raise forms.ValidationError(_("Give whole numbers separated by commas, e.g. 2, 4.")) from error
        if not sizes or any(size < 2 or size % 2 for size in sizes):
            raise forms.ValidationError(_("Each block size must be an even number, at least 2."))
        return sizes


class ImportListForm(forms.Form):
    name = forms.CharField(label=_("Name of the list"), max_length=100)
    csv_file = forms.FileField(
        label=_("CSV file"), help_text=_("Columns: stratum, sequence, block, arm (A or B); one row per slot.")
    )

    def clean_csv_file(self) -> str:
        upload = self.cleaned_data["csv_file"]
        if upload.size > 2_000_000:
            raise forms.ValidationError(_("The file is larger than 2 MB."))
        try:
            return upload.read().decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise forms.ValidationError(_("The file is not UTF-8 text.")) from error


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 2}), max_length=1000)


class FlagErrorForm(VersionedFormMixin, forms.ModelForm):
    """Flag an allocation as made in error: the reason, and the version of the allocation the page showed."""

    error_reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 2}), max_length=1000)

    class Meta:
        model = Allocation
        fields = ["error_reason"]


class UnblindForm(ReasonForm):
    password = forms.CharField(
        label=_("Your password, again"), widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )
