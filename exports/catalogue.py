"""What can be exported: one dataset per clinical model, its variables, and what each variable is.

Built from the models (names, labels, types, code lists, hard limits, the identifying and free-text marks) and
the protocol (which visits ask for a form, the soft limits). Every export format and the data dictionary read
this one catalogue, so a field added to a model appears everywhere, with its label, at once.

Every dataset row starts with the same key columns (``KEY_COLUMNS``): the participant's screening number, the
site, the visit code (visit-level data), the record's id, and the study day of the record's own date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any, Literal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import translation

from trial_site import registry
from trial_site.protocol import PROTOCOL
from trial_site.protocol_versions import approved_versions
from trial_site.registry import Placement

DataType = Literal["text", "integer", "float", "date", "datetime", "boolean"]

# Columns the audit kernel keeps on every record: the key columns and the audit trail say this, not the data.
_BOOKKEEPING = frozenset({"id", "site", "protocol_version", "created_at", "created_by", "modified_at", "modified_by"})


@dataclass(frozen=True)
class Variable:
    """One column of a dataset."""

    name: str  # the model field's attribute name, or a key column's name
    label: str  # English, as in the data dictionary
    data_type: DataType
    source: str  # what the row reader selects (``values()`` path)
    unit: str = ""
    codes: tuple[tuple[str, str], ...] = ()  # (code, label), codes as text
    minimum: float | None = None  # hard limits: a value outside them is refused on entry
    maximum: float | None = None
    soft_minimum: float | None = None  # soft limits: outside them the form asks for a confirmation
    soft_maximum: float | None = None
    length: int | None = None  # the longest text allowed, where the model says
    identifying: bool = False
    free_text: bool = False
    key: bool = False  # one of the key columns every row starts with
    short_name: str = ""  # an eight-character name for SAS transport (v5) and Stata; set by the dataset

    @property
    def is_date(self) -> bool:
        return self.data_type in ("date", "datetime")


@dataclass(frozen=True)
class Dataset:
    """The rows of one clinical model: one per form instance (or record)."""

    key: str  # eight characters at most, capitals: the SAS/Stata dataset name and the ODM form OID part
    label: str
    model: type[models.Model]
    participant_path: str  # the ``values()`` path from a row to its participant's id
    visit_path: str | None  # the path to the visit, for visit-level data
    day_source: str | None  # the record's own date (the study day column); None where it has none
    visits: tuple[str, ...]  # the visit codes whose schedule asks for this form (empty: not visit-bound)
    variables: tuple[Variable, ...] = field(default_factory=tuple)
    repeating: bool = False  # several per participant (or per visit), not one

    @property
    def data_variables(self) -> tuple[Variable, ...]:
        return tuple(v for v in self.variables if not v.key)

    def variable(self, name: str) -> Variable:
        for variable in self.variables:
            if variable.name == name:
                return variable
        raise KeyError(name)


def _english(text: Any) -> str:
    with translation.override("en"):
        text = str(text)
    return text[:1].upper() + text[1:]


def _limits(model_field: models.Field) -> tuple[float | None, float | None]:
    low = high = None
    for validator in model_field.validators:
        if isinstance(validator, MinValueValidator):
            low = float(validator.limit_value)
        elif isinstance(validator, MaxValueValidator):
            high = float(validator.limit_value)
    return low, high


def _data_type(model_field: models.Field) -> DataType:
    if isinstance(model_field, models.BooleanField):
        return "boolean"
    if isinstance(model_field, models.DateTimeField):
        return "datetime"
    if isinstance(model_field, models.DateField):
        return "date"
    if isinstance(model_field, models.FloatField | models.DecimalField):
        return "float"
    if isinstance(model_field, models.IntegerField | models.ForeignKey):
        return "integer"
    return "text"


def _is_free_text(model: type[models.Model], model_field: models.Field) -> bool:
    return isinstance(model_field, models.TextField) or model_field.name in getattr(model, "free_text_fields", ())


def _variable(model: type[models.Model], model_field: models.Field) -> Variable:
    name, source = model_field.name, model_field.attname
    label = _english(model_field.verbose_name)
    data_type = _data_type(model_field)
    if isinstance(model_field, models.ForeignKey):
        if model_field.related_model is _user_model():
            # Staff are named by their username, as in the audit trail.
            source, data_type = f"{model_field.name}__username", "text"
        else:
            name, label = model_field.attname, f"{label} (record id)"
    if isinstance(model_field, models.JSONField):
        data_type = "text"
    low, high = _limits(model_field)
    soft = PROTOCOL.soft_limits.get(model_field.name)
    codes = tuple((str(code), _english(text)) for code, text in model_field.flatchoices) if model_field.choices else ()
    length = model_field.max_length if isinstance(model_field, models.CharField) else None
    return Variable(
        name=name,
        label=label,
        data_type=data_type,
        source=source,
        unit=getattr(model_field, "unit", ""),
        codes=codes,
        minimum=low,
        maximum=high,
        soft_minimum=soft[0] if soft else None,
        soft_maximum=soft[1] if soft else None,
        length=length,
        identifying=model_field.name in getattr(model, "identifying_fields", ()),
        free_text=_is_free_text(model, model_field),
    )


def _user_model() -> type[models.Model]:
    from django.contrib.auth import get_user_model

    return get_user_model()


def short_names(names: list[str]) -> list[str]:
    """Eight-character, upper-case, unique names for SAS transport v5 and Stata, in the order given.

    A name that fits is kept (``hb_g_dl`` → ``HBGDL``); in a longer one the longest word loses its last letter
    until the name fits (``fingers_right`` → ``FINGRIGH``, ``forearms_right`` → ``FORERIGH``); a clash gets a
    number.
    """
    taken: set[str] = set()
    result = []
    for name in names:
        words = [w.upper() for w in re.split(r"[^A-Za-z0-9]+", name) if w] or ["VAR"]
        while sum(len(w) for w in words) > 8 and any(len(w) > 1 for w in words):
            longest = max(range(len(words)), key=lambda i: len(words[i]))
            words[longest] = words[longest][:-1]
        candidate = "".join(words)[:8]
        if candidate[0].isdigit():
            candidate = ("V" + candidate)[:8]
        base, number = candidate, 1
        while candidate in taken:
            suffix = str(number)
            candidate = base[: 8 - len(suffix)] + suffix
            number += 1
        taken.add(candidate)
        result.append(candidate)
    return result


def _key_variables(visit_level: bool, has_day: bool) -> list[Variable]:
    keys = [
        Variable("participant", "Participant (screening number)", "text", "participant__screening_number", key=True),
        Variable("site", "Site", "text", "site__code", key=True),
    ]
    if visit_level:
        keys.append(Variable("visit", "Visit", "text", "visit__code", key=True))
    keys.append(Variable("record_id", "Record id", "integer", "id", key=True))
    if has_day:
        label = "Study day of the record's date (Day 1 = randomisation)"
        keys.append(Variable("study_day", label, "integer", "", key=True))
    return keys


def _visits_asking_for(form_code: str) -> tuple[str, ...]:
    """The visits that ask for the form under any approved protocol version, in the order of the schedule."""
    codes: dict[str, int] = {}
    for protocol in approved_versions():
        for visit in protocol.visit_definitions():
            if form_code in visit.forms:
                codes.setdefault(visit.code, getattr(visit, "target_day", 10_000))
    return tuple(sorted(codes, key=lambda code: codes[code]))


def _key(model: type[models.Model]) -> str:
    """The dataset's name: the registry's export key for a form."""
    form = registry.of_model(model)
    assert form is not None, f"{model._meta.label} is not in the registry of forms"
    return form.export_key


def _dataset(
    key: str,
    model: type[models.Model],
    *,
    visit_path: str | None = None,
    day_field: str | None = None,
    visits: tuple[str, ...] = (),
    repeating: bool = False,
    skip: tuple[str, ...] = (),
) -> Dataset:
    assert len(key) <= 8 and key.isupper(), key
    participant_path: str = model.participant_path  # type: ignore[attr-defined]
    # The participant and the visit are the key columns, not variables; other links stay as record ids.
    linking = {"participant"} if participant_path == "participant_id" else set()
    if visit_path == "visit":
        linking.add("visit")
    data = [
        _variable(model, f)
        for f in model._meta.concrete_fields
        if f.name not in _BOOKKEEPING and f.name not in linking and f.name not in skip
    ]
    variables = _key_variables(visit_path is not None, day_field is not None)
    participant_prefix = participant_path.removesuffix("_id").removesuffix("id").rstrip("_")
    keyed = []
    for variable in variables:
        source = variable.source
        if variable.name == "participant":
            source = f"{participant_prefix}__screening_number" if participant_prefix else "screening_number"
        elif variable.name == "visit":
            source = f"{visit_path}__code"
        elif variable.name == "study_day":
            source = day_field or ""
        keyed.append(replace(variable, source=source))
    everything = keyed + data
    names = short_names([v.name for v in everything])
    everything = [replace(v, short_name=short) for v, short in zip(everything, names, strict=True)]
    return Dataset(
        key=key,
        label=_english(model._meta.verbose_name),
        model=model,
        participant_path=participant_path,
        visit_path=visit_path,
        day_source=day_field,
        visits=visits,
        variables=tuple(everything),
        repeating=repeating,
    )


def datasets() -> tuple[Dataset, ...]:
    """Every exportable dataset, in the order of the apps and of the case report (built once per set of approved
    protocol versions: an amendment can add a form to visits)."""
    return _datasets(tuple(protocol.version for protocol in approved_versions()))


@cache
def _datasets(versions: tuple[str, ...]) -> tuple[Dataset, ...]:
    from randomization.models import Allocation, Unblinding
    from safety.models import AdverseEvent, LabAlert, SaeReport
    from screening.models import (
        Consent,
        ConsentWithdrawal,
        Day1Baseline,
        EligibilityConfirmation,
        Participant,
        ScreenFailure,
    )
    from visits.models import ConcomitantMedication, EndOfStudy, Visit

    found = [
        _dataset("PARTICIP", Participant, day_field="screening_date", skip=("screening_number",)),
        _dataset(_key(Consent), Consent, day_field="consented_at"),
        # Other forms of the participant the registry declares (a re-consent, say), after the consent.
        *(
            _dataset(form.export_key, form.model, day_field=form.day_field, repeating=True)
            for form in registry.of_placement(Placement.PARTICIPANT)
            if form.model not in (Consent, AdverseEvent)
        ),
        *(
            _dataset(form.export_key, form.model, day_field=form.day_field)
            for form in registry.of_placement(Placement.SCREENING)
            if form.model is not Day1Baseline
        ),
        _dataset("ELIGCONF", EligibilityConfirmation, day_field="confirmed_at", repeating=True),
        _dataset("SCRFAIL", ScreenFailure, day_field="recorded_at"),
        _dataset("WITHDRAW", ConsentWithdrawal, day_field="withdrawn_on"),
        _dataset(_key(Day1Baseline), Day1Baseline, day_field="day1"),
        _dataset("ALLOC", Allocation, day_field="randomised_at", skip=("slot",)),
        _dataset("UNBLIND", Unblinding, day_field="unblinded_at", repeating=True),
        _dataset("VISIT", Visit, visit_path="", day_field="done_on", repeating=True),
    ]
    found[-1] = _visit_dataset(found[-1])
    for form in registry.visit_forms():
        found.append(
            _dataset(
                form.export_key,
                form.model,
                visit_path="visit",
                day_field=form.day_field,
                visits=_visits_asking_for(form.code),
                repeating=True,
            )
        )
    found += [
        _dataset("CMLOG", ConcomitantMedication, day_field="start_date", repeating=True),
        _dataset("EOS", EndOfStudy, day_field="ended_on"),
        _dataset(_key(AdverseEvent), AdverseEvent, visit_path="visit", day_field="onset_date", repeating=True),
        _dataset(_key(SaeReport), SaeReport, day_field="deadline", repeating=True),
        _dataset(
            "LABALERT",
            LabAlert,
            visit_path="lab_panel__visit",
            day_field="created_at",
            repeating=True,
        ),
    ]
    keys = [d.key for d in found]
    assert len(keys) == len(set(keys)), keys
    return tuple(found)


def _visit_dataset(dataset: Dataset) -> Dataset:
    """The visits themselves: the visit column is the visit's own code."""
    variables = tuple(
        replace(v, source="code") if v.name == "visit" else v for v in dataset.variables if v.name != "code"
    )
    return replace(dataset, variables=variables)


def dataset(key: str) -> Dataset:
    for candidate in datasets():
        if candidate.key == key:
            return candidate
    raise KeyError(key)


def identifying_variables() -> dict[str, tuple[str, ...]]:
    """Dataset key → the names of its identifying variables (read from the models' marks)."""
    return {d.key: tuple(v.name for v in d.variables if v.identifying) for d in datasets()}


def study_name() -> str:
    return getattr(settings, "TRIAL_NAME", "") or PROTOCOL.title
