"""Forms of the visit schedule."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.forms import modelform_factory
from django.utils.translation import gettext_lazy as _

from trial_site.concurrency import VersionedFormMixin
from trial_site.form_choices import ChoicesStartEmptyMixin, mrss_assessors_at, people_field
from trial_site.form_dates import IsoDateField, iso_formfield_callback
from trial_site.form_fit import FitFieldsMixin
from trial_site.form_numbers import NumberFieldsMixin
from trial_site.forms import ReasonForChangeMixin
from trial_site.protocol_versions import protocol_today
from visits.crf_services import unusual_values
from visits.crfs import VisitForm
from visits.models import ConcomitantMedication, EndOfStudy, Visit


class VisitChangeForm(VersionedFormMixin):
    """A form of the visit page that changes the visit: carries the version of the visit it was opened on."""

    def __init__(self, *args: Any, instance: Visit, **kwargs: Any) -> None:
        self.instance = instance
        super().__init__(*args, **kwargs)


class VisitDoneForm(VisitChangeForm):
    done_on = IsoDateField(label=_("Date of the visit"))
    deviation_reason = forms.CharField(
        label=_("Protocol deviation (only if outside the window)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class VisitMissedForm(VisitChangeForm):
    reason = forms.CharField(label=_("Why was the visit missed?"), widget=forms.Textarea(attrs={"rows": 2}))


class RescheduleForm(VisitChangeForm):
    planned_date = IsoDateField(label=_("New planned date (within the window)"))
    reason = forms.CharField(label=_("Reason"), max_length=300)


class UnscheduledVisitForm(forms.Form):
    on = IsoDateField(label=_("Date"))
    reason = forms.CharField(label=_("Reason"), max_length=500)


class FollowUpForm(forms.Form):
    last_dose = IsoDateField(label=_("Date of the last dose of study drug"))


class EndOfStudyForm(ChoicesStartEmptyMixin, forms.Form):
    ended_on = IsoDateField(label=_("Date"))
    reason = forms.ChoiceField(label=_("How the study ended"), choices=EndOfStudy.Reason.choices)
    details = forms.CharField(label=_("Details"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


class ConfirmationBox(forms.CheckboxInput):
    """The "unusual values confirmed" box: a hidden nothing until a value entered is unusual (``shown``), then the
    checkbox. Read from the data as a checkbox either way (absent: not confirmed)."""

    shown = False

    @property
    def is_hidden(self) -> bool:  # type: ignore[override]
        return not self.shown

    def render(self, name: str, value: Any, attrs: Any = None, renderer: Any = None) -> Any:
        return super().render(name, value, attrs, renderer) if self.shown else ""


UNUSUAL = "unusual_values_confirmed"


class VisitCrfFormBase(
    FitFieldsMixin, ChoicesStartEmptyMixin, NumberFieldsMixin, ReasonForChangeMixin, forms.ModelForm
):
    """Base of the visit CRF forms: the reason for change is asked only when the saved form is complete; the
    confirmation of unusual values only when a value is unusual (outside its soft limit, ``PROTOCOL.soft_limits``):
    the first save with one shows the form again, a warning at the value and the box to tick."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        stored_complete = self.instance.pk is not None and self.instance.reason_required_for_change()
        if not stored_complete and "reason_for_change" in self.fields:
            del self.fields["reason_for_change"]
        self.changes_saved_data = stored_complete
        if UNUSUAL in self.fields:
            field = self.fields[UNUSUAL]
            field.widget = ConfirmationBox()
            field.help_text = _("Tick to confirm that each value marked unusual above was checked and is right.")
            if not self.is_bound and self.instance.unusual_values_confirmed and unusual_values(self.instance):
                field.widget.shown = True  # a saved form whose unusual values were confirmed shows it, ticked

    def _post_clean(self) -> None:
        super()._post_clean()
        if UNUSUAL not in self.fields:
            return
        found = {
            target: message
            for name, message in unusual_values(self.instance).items()
            # creatinine_mg_dl is derived from the value entered; a value refused already is not also unusual
            if (target := "creatinine" if name == "creatinine_mg_dl" else name) in self.fields
            and not self.has_error(target)
        }
        self.fields[UNUSUAL].widget.shown = bool(found)
        if found and not self.cleaned_data.get(UNUSUAL):
            for target, message in found.items():
                self.add_error(target, message)
            self.add_error(UNUSUAL, _("Confirm the unusual values to save them."))


def visit_crf_form_class(model: type[VisitForm]) -> type[forms.ModelForm]:
    fields = [
        field.name
        for field in model._meta.get_fields()
        if getattr(field, "editable", False) and field.concrete and not field.auto_created
        and field.name not in {"visit", "site", "status"}
    ]  # fmt: skip
    fields.remove("unusual_values_confirmed")
    fields.append("unusual_values_confirmed")
    return modelform_factory(model, form=VisitCrfFormBase, fields=fields, formfield_callback=iso_formfield_callback)


def build_visit_crf_form(
    model: type[VisitForm], *, visit: Any, user: Any, data: Any = None, opened_new: bool = False
) -> Any:
    """The form of ``model`` at ``visit``, on the record as saved now (read again from the database, so that it also
    rebuilds the form unbound after an edit conflict), or on a new record when there is none or when the page was
    opened on the new form (``opened_new``: a record saved since by someone else is then a conflict, not silently
    overwritten)."""
    saved = None if opened_new else model.objects.filter(visit=visit).first()
    if saved is not None:
        saved.visit = visit
    instance = saved or model(visit=visit, site=visit.site)
    if saved is None:  # a new form is made under the protocol version in force today at the site
        instance.protocol_version = protocol_today(ZoneInfo(visit.site.time_zone)).version
    form = visit_crf_form_class(model)(data, instance=instance)
    for name in [name for name in form.fields if name in model.form_spec.fields_since and not instance.asks(name)]:
        del form.fields[name]  # a field the form's protocol version does not ask
    if "assessor" in form.fields:
        people_field(form, "assessor", mrss_assessors_at(visit.site, keep=instance.assessor_id), default=user)
    return form


class MedicationForm(ChoicesStartEmptyMixin, NumberFieldsMixin, forms.ModelForm):
    class Meta:
        model = ConcomitantMedication
        fields = [
            "drug", "dose", "frequency", "route", "indication", "start_date", "stop_date", "steroid_drug",
            "steroid_daily_mg",
        ]  # fmt: skip
        formfield_callback = iso_formfield_callback


class MedicationStopForm(VersionedFormMixin):
    """Record that one medication of the list was stopped; carries the version of that medication it was opened on
    (``instance``: the medication, once the view knows which one)."""

    medication = forms.IntegerField(widget=forms.HiddenInput)
    stopped_on = IsoDateField(label=_("Stopped on"))

    def __init__(self, *args: Any, instance: ConcomitantMedication | None = None, **kwargs: Any) -> None:
        self.instance = instance
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        cleaned["stop_date"] = cleaned.get("stopped_on")  # the medication's name for it: an edit conflict shows it
        if self.instance is not None and cleaned.get("stopped_on") is not None:
            for name, message in self.instance.timeline_errors(
                self.instance.start_date, cleaned["stopped_on"], stop_field="stopped_on"
            ).items():
                self.add_error(name if name in self.fields else None, message)
        return cleaned
