"""Forms of screening: registration with consent, the screening CRFs, withdrawal, re-screening."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.forms import modelform_factory
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clinical.versions import version_key
from screening.models import Consent, ConsentWithdrawal, Participant, Reconsent
from screening.models.crfs import ScreeningForm, ScreeningMrss
from trial_site.concurrency import VERSION_FIELD
from trial_site.form_choices import ChoicesStartEmptyMixin, consent_takers_at, mrss_assessors_at, people_field
from trial_site.form_dates import IsoDateField, iso_formfield_callback
from trial_site.form_fit import FitFieldsMixin
from trial_site.form_numbers import NumberFieldsMixin
from trial_site.forms import ReasonForChangeMixin
from trial_site.models import Site
from trial_site.phone import mobile_e164
from trial_site.protocol import ConsentFormVersion
from trial_site.protocol_versions import protocol_today
from trial_site.submission import FIELD as SUBMISSION_KEY


class ParticipantForm(ReasonForChangeMixin, forms.ModelForm):
    class Meta:
        model = Participant
        fields = [
            "screening_date", "initials", "date_of_birth", "sex", "mobile_phone", "email", "preferred_language",
            "reminder_channel", "reminder_consent",
        ]  # fmt: skip
        formfield_callback = iso_formfield_callback

    def __init__(self, *args: Any, site: Site, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.instance.site = site

    def clean_initials(self) -> str:
        return self.cleaned_data["initials"].strip().upper()

    def clean_mobile_phone(self) -> str:
        return mobile_e164(self.cleaned_data["mobile_phone"])


def full_name(user: Any) -> str:
    return user.get_full_name() or user.get_username()


class ConsentForm(forms.ModelForm):
    prefix = "consent"

    class Meta:
        model = Consent
        fields = ["form_version", "consented_at", "obtained_by", "signature_method", "witness_name", "copy_given"]
        formfield_callback = iso_formfield_callback

    def __init__(self, *args: Any, site: Site, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.instance.site = site
        people_field(self, "obtained_by", consent_takers_at(site), default=user)
        self.fields["form_version"] = consent_version_field(site)
        self.fields["consented_at"].initial = timezone.localtime().replace(second=0, microsecond=0)


def consent_versions_in_effect(site: Site) -> list[ConsentFormVersion]:
    """The consent form versions in use today at ``site``, under the protocol version in force there today."""
    zone = ZoneInfo(site.time_zone)
    today = timezone.localdate(timezone.now(), zone)
    return [form for form in protocol_today(zone).consent_forms if form.in_effect_on(today)]


def consent_version_field(site: Site, *, at_least: str | None = None) -> forms.ChoiceField:
    """A choice of the consent form versions in use today at the site (``at_least``: none older than that); the
    latest is offered first, after a blank, and preselected. The model checks the version again against the day it
    was signed."""
    versions = [
        form
        for form in consent_versions_in_effect(site)
        if at_least is None or version_key(form.version) >= version_key(at_least)
    ]
    # As before versions came from amendments: a blank, the versions, and the latest in use preselected.
    return forms.ChoiceField(
        label=Consent._meta.get_field("form_version").verbose_name,
        choices=[("", "---------"), *((form.version, str(form)) for form in reversed(versions))],
        initial=versions[-1].version if versions else None,
    )


class ReconsentForm(forms.ModelForm):
    """The re-consent: the versions offered are those in use today, not older than the version asked for."""

    class Meta:
        model = Reconsent
        fields = ["form_version", "consented_at", "obtained_by", "signature_method", "witness_name", "copy_given"]
        formfield_callback = iso_formfield_callback

    def __init__(self, *args: Any, participant: Participant, user: Any, required: str | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.instance.participant = participant
        self.instance.site = participant.site
        self.fields["form_version"] = consent_version_field(participant.site, at_least=required)
        takers = consent_takers_at(participant.site, keep=self.instance.obtained_by_id)
        people_field(self, "obtained_by", takers, default=user)
        self.fields["consented_at"].initial = timezone.localtime().replace(second=0, microsecond=0)


class WithdrawalForm(forms.ModelForm):
    class Meta:
        model = ConsentWithdrawal
        fields = ["withdrawn_on", "scope", "note"]
        formfield_callback = iso_formfield_callback


class ScreenFailureForm(forms.Form):
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


class RescreenForm(forms.Form):
    screening_date = IsoDateField(label=_("Date of the new screening"))


class ScreeningFormBase(
    FitFieldsMixin, ChoicesStartEmptyMixin, NumberFieldsMixin, ReasonForChangeMixin, forms.ModelForm
):
    """Base of the screening CRF forms; the participant is set by the view."""


def screening_form_class(model: type[ScreeningForm]) -> type[forms.ModelForm]:
    """A ModelForm for one screening CRF: every editable field, dates in the one ISO date field, yes/no/unknown
    choices."""
    fields = [
        field.name
        for field in model._meta.get_fields()
        if getattr(field, "editable", False) and field.concrete and not field.auto_created
        and field.name not in {"participant", "site"}
    ]  # fmt: skip
    return modelform_factory(model, form=ScreeningFormBase, fields=fields, formfield_callback=iso_formfield_callback)


def build_screening_form(model: type[ScreeningForm], *, participant: Participant, user: Any, data: Any = None) -> Any:
    """The bound or unbound form for ``model``, editing the participant's saved record when there is one.

    A POST from a page opened as a new form (it carries a submission key and no version) stays a new form even if
    someone saved the record meanwhile: the save then refuses it as an edit conflict, their values beside the
    user's entries (``screening.services``), instead of reading it as an edit of their data without a reason."""
    accessor = model.participant_accessor()
    saved = getattr(participant, accessor, None)
    opened_as_new = data is not None and bool(data.get(SUBMISSION_KEY)) and not data.get(VERSION_FIELD)
    fresh = saved is None or opened_as_new
    instance = model(participant=participant, site=participant.site) if fresh else saved
    form = screening_form_class(model)(data, instance=instance)
    if "assessor" in form.fields:  # the screening mRSS, and the Day 1 baseline's mRSS
        assessors = mrss_assessors_at(participant.site, keep=instance.assessor_id)
        people_field(form, "assessor", assessors, default=user)
    if model is ScreeningMrss and instance.pk is None and not form.is_bound:
        form.initial["assessed_on"] = participant.screening_date
    return form
