"""Forms of safety."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from safety.models import AdverseEvent
from trial_site.concurrency import VersionedFormMixin
from trial_site.form_choices import ChoicesStartEmptyMixin
from trial_site.form_dates import iso_formfield_callback
from trial_site.form_fit import FitFieldsMixin
from trial_site.forms import ReasonForChangeMixin


class AdverseEventForm(FitFieldsMixin, ChoicesStartEmptyMixin, ReasonForChangeMixin, forms.ModelForm):
    class Meta:
        model = AdverseEvent
        fields = [
            "description", "onset_date", "ongoing", "stop_date", "grade", "serious_death", "serious_life_threatening",
            "serious_hospitalisation", "serious_disability", "serious_congenital_anomaly",
            "serious_important_medical_event", "relationship", "expected", "action_taken", "outcome",
            "special_interest", "treatment_given", "learned_at", "visit",
        ]  # fmt: skip
        formfield_callback = iso_formfield_callback

    def __init__(self, *args: Any, participant: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.instance.participant = participant
        self.fields["visit"].queryset = participant.visits.order_by("sequence")
        # The participant is known: the visit's code and target date say which one it is (not its database id).
        self.fields["visit"].label_from_instance = lambda visit: f"{visit.code} ({visit.target_date:%Y-%m-%d})"

    def clean_learned_at(self) -> Any:
        """The moment is shown to the minute: sent back unchanged, it keeps its saved seconds (saving the form
        unchanged changes nothing, and an edit of another field does not move the SAE clock)."""
        entered = self.cleaned_data.get("learned_at")
        saved = self.instance.learned_at if self.instance.pk else None
        if entered and saved and entered == saved.replace(second=0, microsecond=0):
            return saved
        return entered


class OneRecordForm(VersionedFormMixin):
    """A small form that changes one saved record (``instance``: an SAE report, a laboratory alert): it carries the
    version of the record it was shown with, so a change saved by someone else meanwhile is shown, not overwritten.
    A page shows one per record: the ids of its fields name the record."""

    def __init__(self, *args: Any, instance: Any, **kwargs: Any) -> None:
        self.instance = instance
        kwargs.setdefault("auto_id", f"id_{type(self).__name__.lower()}_{instance.pk}_%s")
        super().__init__(*args, **kwargs)


class SaeSubmitForm(OneRecordForm):
    narrative = forms.CharField(label=_("Narrative"), widget=forms.Textarea(attrs={"rows": 4}))


class SaeSignForm(ChoicesStartEmptyMixin, OneRecordForm):
    causality = forms.ChoiceField(label=_("Your causality assessment"), choices=AdverseEvent.RelationshipChoice.choices)


class AcknowledgeForm(OneRecordForm):
    action_taken = forms.CharField(label=_("Action taken"), max_length=1000)
