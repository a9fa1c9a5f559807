"""The registry of forms: every case report form declared once, on its model, as ``form_spec = FormSpec(…)``.

Everything else that names a form derives from that one declaration: the roles' add/change permissions
(``trial_site.roles``), the forms each visit requires in protocol version 1.0 (``trial_site.protocol``) and so the
required-form rows, the pages (``visits:crf`` by code), the source data verification plan (``monitoring``), the
exports' catalogue and the data dictionary (``exports``). Adding a form is its model with a ``form_spec`` and
``makemigrations`` (which protects the new history table by itself: ``trial_site.management.commands.makemigrations``).

The registry reads the models Django has loaded, so it is asked after the apps are ready (not at import time).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from typing import Any

from django.apps import apps
from django.db import models
from django.utils.text import capfirst

from trial_site.branching import ShownWhen


class Placement(StrEnum):
    """Where a form hangs: off the participant at screening, off a visit, off the participant at any time (the
    consent, the adverse events), or off another form (an SAE report off its adverse event)."""

    SCREENING = "screening"
    VISIT = "visit"
    PARTICIPANT = "participant"
    EVENT = "event"


class Verification(StrEnum):
    """The source data verification plan for a form: every record, a sample of participants, or none."""

    FULL = "full"
    SAMPLE = "sample"
    NONE = "none"


@dataclass(frozen=True)
class FormSpec:
    """One form, declared once on its model.

    - ``code``: the form's one name, unique among the forms of its placement: its part of the page's address
      and, for a visit form, the required-form rows' value;
    - ``label``: the form's name (``None``: the model's ``verbose_name``);
    - ``entered_by``: the roles (``Role`` values) that add and change it;
    - ``visits``: the visits (codes) that require it in protocol version 1.0 (an amendment may change that:
      ``trial_site.protocol_versions``);
    - ``applies_to``: the branching, a function of the participant (the form is "not required" for the others,
      e.g. pregnancy tests for women of childbearing potential);
    - ``export_key``: the dataset's name in the exports (at most 8 capitals, default the code's);
    - ``fields_since``: field → the protocol version that first asks it (a field an amendment adds: forms made
      under an earlier version do not show it: ``visits.crfs.VisitForm.asks``);
    - ``day_field``: the date the record's data are of, for the exports' study day (a visit form: the visit's);
    - ``branching``: field → ``ShownWhen``, the fields that apply only when another field has some value (the
      reason for a dose change when the dose changed): the server refuses them filled when they do not apply (and
      empty when they apply and are required), the page hides them (``trial_site.branching``)."""

    code: str
    label: Any
    placement: Placement
    entered_by: tuple[str, ...] = ()
    verification: Verification = Verification.SAMPLE
    visits: tuple[str, ...] = ()
    applies_to: Callable[[Any], bool] | None = None
    export_key: str = ""
    fields_since: dict[str, str] = field(default_factory=dict)
    day_field: str = ""
    branching: Mapping[str, ShownWhen] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.code or not self.code.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"a form code is a short slug such as 'vitals', not {self.code!r}")
        if self.visits and self.placement != Placement.VISIT:
            raise ValueError(f"form {self.code}: only a visit form is required at visits")
        if self.export_key and not (len(self.export_key) <= 8 and self.export_key.isupper()):
            raise ValueError(f"form {self.code}: an export key is at most 8 capitals, not {self.export_key!r}")
        for name, condition in self.branching.items():
            if condition.field == name or condition.field in self.branching:
                raise ValueError(f"form {self.code}: {name} depends on {condition.field}, itself not a plain field")


@dataclass(frozen=True)
class RegisteredForm:
    """A form of the registry: its declaration and its model."""

    spec: FormSpec
    model: type[models.Model]

    @property
    def code(self) -> str:
        return self.spec.code

    @property
    def label(self) -> Any:
        """The declared label, else the model's name with a capital."""
        if self.spec.label is not None:
            return self.spec.label
        return capfirst(self.model._meta.verbose_name)

    @property
    def placement(self) -> Placement:
        return self.spec.placement

    @property
    def name(self) -> str:
        """``app_label.model``: how the monitoring plan and the audit trail name the form's table."""
        return self.model._meta.label_lower

    @property
    def export_key(self) -> str:
        return self.spec.export_key or self.spec.code.upper().replace("_", "").replace("-", "")[:8]

    @property
    def participant_path(self) -> str:
        """A ``values()`` path from a row to its participant's id: the model's (``ClinicalRecord.participant_path``)."""
        return self.model.participant_path  # type: ignore[attr-defined,no-any-return]

    @property
    def day_field(self) -> str | None:
        if self.spec.day_field:
            return self.spec.day_field
        return "visit__done_on" if self.spec.placement == Placement.VISIT else None

    def permissions(self, *actions: str) -> frozenset[str]:
        """``app_label.<action>_<model>`` for each action (Django's model permissions)."""
        meta = self.model._meta
        return frozenset(f"{meta.app_label}.{action}_{meta.model_name}" for action in actions)

    def applies_to(self, participant: Any) -> bool:
        return self.spec.applies_to is None or self.spec.applies_to(participant)


def _declared(model: type[models.Model]) -> FormSpec | None:
    """The model's own ``form_spec`` (not one inherited from a concrete parent)."""
    for klass in model.__mro__:
        spec = klass.__dict__.get("form_spec")
        if spec is not None:
            return spec if klass is model or klass._meta.abstract else None  # type: ignore[attr-defined]
    return None


@cache
def forms() -> tuple[RegisteredForm, ...]:
    """Every registered form, in the order Django loaded the apps and their models."""
    found = [RegisteredForm(spec, model) for model in apps.get_models() if (spec := _declared(model)) is not None]
    seen: dict[tuple[Placement, str], str] = {}
    for form in found:
        names = {model_field.name for model_field in form.model._meta.get_fields()}
        for name, condition in form.spec.branching.items():
            if not {name, condition.field} <= names:
                raise ValueError(f"form {form.code}: the branching of {name} names a field {form.name} does not have")
        key = (form.placement, form.code)
        if key in seen:
            raise ValueError(f"two {form.placement} forms are called {form.code!r}: {seen[key]} and {form.name}")
        seen[key] = form.name
    return tuple(found)


def of_placement(placement: Placement) -> tuple[RegisteredForm, ...]:
    return tuple(form for form in forms() if form.placement == placement)


def visit_forms() -> tuple[RegisteredForm, ...]:
    return of_placement(Placement.VISIT)


def visit_form(code: str) -> RegisteredForm | None:
    return next((form for form in visit_forms() if form.code == code), None)


def of_model(model: type[models.Model] | models.Model) -> RegisteredForm | None:
    klass = model if isinstance(model, type) else type(model)
    return next((form for form in forms() if form.model is klass), None)


def by_name(name: str) -> RegisteredForm | None:
    """The form whose table is ``app_label.model``."""
    return next((form for form in forms() if form.name == name), None)


def visit_form_labels() -> dict[str, Any]:
    """Visit form code → its label, in registry order."""
    return {form.code: form.label for form in visit_forms()}


def permission(model: type[models.Model] | models.Model, action: str) -> str:
    """The permission for ``action`` on a registered form's model (Django's ``app_label.<action>_<model>``)."""
    meta = model._meta
    return f"{meta.app_label}.{action}_{meta.model_name}"


def role_permissions(role: str) -> frozenset[str]:
    """The add and change permissions the registry gives ``role`` (a ``Role`` value)."""
    return frozenset().union(*(form.permissions("add", "change") for form in forms() if role in form.spec.entered_by))


def visits_requiring(code: str) -> tuple[str, ...]:
    """The visits that require the visit form ``code`` in protocol version 1.0."""
    form = visit_form(code)
    return form.spec.visits if form else ()


def iter_full_verification() -> Iterator[RegisteredForm]:
    return (form for form in forms() if form.spec.verification == Verification.FULL)
