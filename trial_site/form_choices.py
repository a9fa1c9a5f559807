"""No silent defaults: a choice or a yes/no question of a form starts empty and must be chosen.

A clinical or safety judgement (causality, seriousness, severity grade, outcome, expectedness, action taken, the
yes/no questions of the CRFs) is never pre-selected: one careless click must not record an answer nobody gave.
``ChoicesStartEmptyMixin`` gives a form, whatever its fields:

- every choice list a blank first option ("---------"); a required choice left blank is refused next to the field;
- every yes/no question of its model (a ``BooleanField``) a Yes / No list with the blank option (``YesNoField``),
  required when the model needs an answer: a checkbox would record "no" for a box nobody ticked. The few boxes
  that confirm something rather than answer a question (``tick_boxes``) stay checkboxes;
- on a new record, no choice or yes/no value taken from the model's default; a value the page passes on purpose
  (``initial=``: a grade derived from a laboratory value, say) is kept and shown. A saved record shows its saved
  answers.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from trial_site import registry
from trial_site.models import StaffMembership
from trial_site.roles import ROLE_PERMISSIONS

BLANK = ("", "---------")
_TRUE = {"true", "on", "yes", "1"}
_FALSE = {"false", "off", "no", "0"}
_UNANSWERED = {"", "unknown"}


def yes_no_choices() -> list[tuple[str, Any]]:
    return [BLANK, ("True", _("Yes")), ("False", _("No"))]


def yes_no_unknown_choices() -> list[tuple[str, Any]]:
    """For a question the model lets stay open (a screening criterion not yet known): the blank says so."""
    return [("", _("Unknown")), ("True", _("Yes")), ("False", _("No"))]


class YesNoField(forms.TypedChoiceField):
    """A yes/no question answered from a list that starts blank: True, False, or None when not answered (refused
    when ``required``). Reads "True"/"False" (what it shows) and the checkbox's and Django's yes/no/unknown
    values, so that an older page still posts a meaning, never a guess."""

    def __init__(self, **kwargs: Any) -> None:
        for unused in ("choices", "coerce", "empty_value", "max_length", "widget"):
            kwargs.pop(unused, None)
        choices = yes_no_choices if kwargs.get("required", True) else yes_no_unknown_choices
        super().__init__(choices=choices, coerce=lambda value: value == "True", empty_value=None, **kwargs)

    def to_python(self, value: Any) -> str:
        if value is True or value is False:
            return str(value)
        text = "" if value is None else str(value).strip().lower()
        if text in _TRUE:
            return "True"
        if text in _FALSE:
            return "False"
        if text in _UNANSWERED:
            return ""
        return str(value)  # refused as not one of the choices

    def prepare_value(self, value: Any) -> Any:
        return self.to_python(value)

    def has_changed(self, initial: Any, data: Any) -> bool:
        if self.disabled:
            return False
        return self.prepare_value(initial) != self.to_python(data)


def _model_field(form: forms.BaseForm, name: str) -> models.Field | None:
    model = getattr(getattr(form, "_meta", None), "model", None)
    if model is None:
        return None
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:  # a form field of its own
        return None
    return field if isinstance(field, models.Field) else None


class ChoicesStartEmptyMixin:
    """A form whose choices and yes/no questions start empty (see the module)."""

    # Model booleans that confirm something (a box to tick), not a yes/no question to answer.
    tick_boxes: ClassVar[tuple[str, ...]] = ("unusual_values_confirmed", "reviewed")

    fields: dict[str, forms.Field]
    initial: dict[str, Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        asked = set((kwargs.get("initial") or {}).keys())
        super().__init__(*args, **kwargs)
        instance = getattr(self, "instance", None)
        new = instance is None or getattr(instance, "pk", None) is None
        for name, field in list(self.fields.items()):
            if field.widget.is_hidden:
                continue
            model_field = _model_field(self, name)  # type: ignore[arg-type]
            if isinstance(model_field, models.BooleanField) and name not in self.tick_boxes:
                field = self.fields[name] = YesNoField(
                    required=not (model_field.null and model_field.blank),  # may be left unanswered only if null
                    label=field.label,
                    help_text=field.help_text,
                    disabled=field.disabled,
                )
            elif isinstance(field, forms.ChoiceField) and not isinstance(
                field, forms.ModelChoiceField | forms.MultipleChoiceField
            ):
                choices = list(field.choices)
                if not any(value in ("", None) for value, _label in choices):
                    field.choices = [BLANK, *choices]
            else:
                continue
            if new and name not in asked:
                self.initial.pop(name, None)
                field.initial = None


# ---------------------------------------------------------------------------------------------------------------
# Lists of people: only those whose role fits the question.
#
# "Consent obtained by" offers the staff who may take consent at the site: those holding a role that registers a
# participant with their consent (``TAKES_CONSENT``: coordinator, investigator). An mRSS form's
# "assessor" offers those who score the skin: the roles that enter the visit mRSS (investigator, blinded assessor).
# Monitors, data managers, statisticians and administrators are never offered. A saved record keeps its person in
# the list (someone whose role ended since), so that the form can still be saved unchanged. An id outside the list
# is refused at the field ("Select a valid choice"): the list is the field's queryset.

TAKES_CONSENT = "screening.add_participant"
MRSS_FORM_CODE = "mrss"


def staff_holding(site: Any, roles: tuple[str, ...] | frozenset[str], *, keep: int | None = None) -> Any:
    """The active accounts holding one of ``roles`` (``Role`` values) at ``site`` now, by name; and ``keep`` (the
    person a saved record names) whatever their role."""
    holders = StaffMembership.objects.filter(site=site, is_active=True, role__in=roles).values("user_id")
    chosen = Q(pk__in=holders, is_active=True)
    if keep is not None:
        chosen |= Q(pk=keep)
    return get_user_model().objects.filter(chosen).order_by("first_name", "last_name", "username")


def consent_taker_roles() -> tuple[str, ...]:
    """The roles that may take consent: those that register a participant with their consent."""
    return tuple(role.value for role, granted in ROLE_PERMISSIONS.items() if TAKES_CONSENT in granted)


def mrss_assessor_roles() -> tuple[str, ...]:
    """The roles that score the skin: those that enter the visit mRSS (the registry)."""
    form = registry.visit_form(MRSS_FORM_CODE)
    return form.spec.entered_by if form is not None else ()


def consent_takers_at(site: Any, *, keep: int | None = None) -> Any:
    """Who may be named as having obtained consent at ``site``."""
    return staff_holding(site, consent_taker_roles(), keep=keep)


def mrss_assessors_at(site: Any, *, keep: int | None = None) -> Any:
    """Who may be named as the assessor of an mRSS at ``site``."""
    return staff_holding(site, mrss_assessor_roles(), keep=keep)


def people_field(form: forms.BaseForm, name: str, people: Any, *, default: Any = None) -> None:
    """Offer ``people`` (a queryset of accounts) in the form's field ``name``, each by their full name; on a new,
    unsent form preselect ``default`` (the user filling it in) when they are among them."""
    field = form.fields[name]
    field.queryset = people
    field.label_from_instance = lambda user: user.get_full_name() or user.get_username()
    new = default is not None and not form.is_bound and form.initial.get(name) is None
    if new and people.filter(pk=default.pk).exists():
        form.initial[name] = default.pk
