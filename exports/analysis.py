"""The analysis datasets: what a statistician needs to analyse the trial, already joined and scored.

- **ANVISIT**: one row per randomised participant and visit that took place (a visit with a date): the arm,
  the visit's date (as the export's date mode says) and study day, the 17 mRSS areas and their total, the HAQ-DI,
  the global assessments, the key laboratory values, ESR, CRP, FVC and DLCO.
- **ANPART**: one row per randomised participant: the arm, randomisation date, sex, age, disease-duration
  stratum, the mRSS at Day 1 and at week 24 and the change (the primary endpoint), the baseline HAQ-DI, and how
  the study ended.

Scores are the models' own: the mRSS total is ``MrssScores.mrss_total`` (``clinical.mrss.mrss_total``: None
unless all 17 areas are scored), the HAQ-DI ``HaqDi.result.score`` — the same totals as the reports' primary
endpoint. Every participant counted is randomised, including those randomised in error (flagged ``in_error``),
as in the CONSORT report. Export users may see arms.

Rows are read in chunks of participants (a few queries per chunk, each table read once per chunk, from the live
tables or the history at the cut-off), so memory holds one chunk at a time plus one ``Person`` per participant.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import date
from functools import cache
from typing import Any, BinaryIO

from django.db import models
from django.utils import translation

from clinical.dates import age_in_years
from clinical.instruments import HAQ_CATEGORIES, HAQ_ITEM_CODES
from clinical.mrss import MRSS_AREA_CODES
from clinical.schedule import study_day
from exports.catalogue import Dataset, Variable, datasets, short_names
from exports.formats import Progress, RowCounts, Table
from exports.reports import BASELINE_VISIT, PRIMARY_VISIT, arm_label
from exports.rows import Person, columns, convert, source
from exports.scope import ExportScope
from trial_site.protocol import PROTOCOL

PARTICIPANTS_PER_CHUNK = 200

HAQ_FIELDS = tuple(f"item_{code}" for code in HAQ_ITEM_CODES) + tuple(f"aids_{c}" for c, _label in HAQ_CATEGORIES)


# --- The variables ------------------------------------------------------------------------------------------


def _catalogue_variable(model_name: str, field: str, **changes: Any) -> Variable:
    """A variable as the form's dataset in the catalogue describes it (label, unit, codes, limits)."""
    found = next(d for d in datasets() if d.model.__name__ == model_name)
    return replace(found.variable(field), key=False, identifying=False, free_text=False, **changes)


def _arm_codes() -> tuple[tuple[str, str], ...]:
    return tuple((arm.code, arm_label(arm)) for arm in PROTOCOL.arms)


def _key(name: str, label: str, data_type: str = "text", **more: Any) -> Variable:
    return Variable(name, label, data_type, source="", key=True, **more)  # type: ignore[arg-type]


def _plain(name: str, label: str, data_type: str, **more: Any) -> Variable:
    return Variable(name, label, data_type, source="", **more)  # type: ignore[arg-type]


def _named(variables: list[Variable]) -> tuple[Variable, ...]:
    names = short_names([v.name for v in variables])
    return tuple(replace(v, short_name=short) for v, short in zip(variables, names, strict=True))


def _mrss_total(label: str, name: str = "mrss_total") -> Variable:
    return _plain(name, label, "integer", unit="points (0–51)", minimum=0, maximum=51)


# The visit-level form values ANVISIT carries: (model, its fields).
_VISIT_VALUES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("GlobalAssessment", ("patient_global", "physician_global")),
    ("LabPanel", ("hb_g_dl", "wbc", "anc", "alc", "platelets", "alt", "creatinine_mg_dl")),
    ("InflammationMarkers", ("esr_mm_h", "crp_mg_l")),
    ("PulmonaryFunction", ("fvc_percent", "dlco_percent")),
)


@cache
def analysis_datasets() -> tuple[Dataset, Dataset]:
    """ANVISIT and ANPART described as datasets (for the data dictionary and ``rows.columns``)."""
    from randomization.models import Allocation
    from visits.models import Visit

    with translation.override("en"):
        arm = _key("arm", "Randomised arm", codes=_arm_codes(), length=1)
        visit_variables = [
            _key("participant", "Participant (screening number)"),
            _key("site", "Site"),
            arm,
            _key("visit", "Visit"),
            _plain("visit_date", "Visit date", "date"),
            _key("study_day", "Study day of the visit (Day 1 = randomisation)", "integer"),
            *(_catalogue_variable("VisitMrss", code) for code in MRSS_AREA_CODES),
            _mrss_total("mRSS total (17 areas; empty unless all are scored)"),
            _plain(
                "haq_di",
                "HAQ-DI (Stanford scoring with aids and help; empty if fewer than 6 categories answered)",
                "float",
                unit="points (0–3)",
                minimum=0,
                maximum=3,
            ),
            *(_catalogue_variable(model, field) for model, fields in _VISIT_VALUES for field in fields),
        ]
        strata = tuple(
            (level, f"{level.capitalize()} ({'≤' if level == 'early' else '>'} {months} months)")
            for level, months in ((lvl, PROTOCOL.stratification.threshold_months) for lvl in ("early", "late"))
        )
        participant_variables = [
            _key("participant", "Participant (screening number)"),
            _key("site", "Site"),
            arm,
            _plain("randomised_on", "Randomisation date (Day 1)", "date"),
            _catalogue_variable("Participant", "sex"),
            _plain("age_at_screening", "Age at screening", "integer", unit="years"),
            _plain("duration_stratum", "Disease duration stratum", "text", codes=strata, length=5),
            _mrss_total(f"mRSS total at baseline ({BASELINE_VISIT})", "mrss_baseline"),
            _mrss_total(f"mRSS total at {PRIMARY_VISIT}", "mrss_w24"),
            _plain(
                "mrss_change",
                f"Change in mRSS, {PRIMARY_VISIT} − baseline (primary endpoint)",
                "integer",
                unit="points",
                minimum=-51,
                maximum=51,
            ),
            _plain(
                "haq_di_baseline",
                f"HAQ-DI at baseline ({BASELINE_VISIT})",
                "float",
                unit="points (0–3)",
                minimum=0,
                maximum=3,
            ),
            _plain("completed", "Completed the study (empty while still in follow-up)", "boolean"),
            _plain("in_follow_up", "Still in follow-up (no end of study recorded)", "boolean"),
            _catalogue_variable("EndOfStudy", "ended_on", name="eos_date", label="End of study date"),
            _catalogue_variable("EndOfStudy", "reason", name="eos_reason", label="How the study ended"),
            _catalogue_variable("Allocation", "in_error", label="Randomised in error"),
        ]
    anvisit = Dataset(
        key="ANVISIT",
        label="Analysis: one row per randomised participant and visit that took place",
        model=Visit,
        participant_path="participant_id",
        visit_path="",
        day_source="done_on",
        visits=(),
        variables=_named(visit_variables),
        repeating=True,
    )
    anpart = Dataset(
        key="ANPART",
        label="Analysis: one row per randomised participant, with the primary endpoint",
        model=Allocation,
        participant_path="participant_id",
        visit_path=None,
        day_source=None,
        visits=(),
        variables=_named(participant_variables),
    )
    return anvisit, anpart


# --- Reading --------------------------------------------------------------------------------------------------


def _randomised(persons: dict[int, Person]) -> list[int]:
    """The randomised participants' ids, by site and screening number."""
    randomised = [pk for pk, person in persons.items() if person.day1 is not None]
    return sorted(randomised, key=lambda pk: (persons[pk].site, persons[pk].number))


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), PARTICIPANTS_PER_CHUNK):
        yield ids[start : start + PARTICIPANTS_PER_CHUNK]


def _by_visit(
    model: type[models.Model], fields: Iterable[str], visit_ids: list[int], scope: ExportScope
) -> dict[int, dict[str, Any]]:
    """The form's values per visit id, for the visits given."""
    rows = source(model, scope).filter(visit_id__in=visit_ids).order_by().values("visit_id", *fields)
    return {row["visit_id"]: row for row in rows}


def _arms(chunk: list[int], scope: ExportScope) -> dict[int, dict[str, Any]]:
    from randomization.models import Allocation

    rows = source(Allocation, scope).filter(participant_id__in=chunk).order_by()
    return {row["participant_id"]: row for row in rows.values("participant_id", "arm", "stratum", "in_error")}


def mrss_total_of(row: dict[str, Any] | None) -> int | None:
    """The form's own total (``VisitMrss.mrss_total``) from its 17 area scores."""
    from visits.crfs import VisitMrss

    if row is None:
        return None
    return VisitMrss(**{code: row[code] for code in MRSS_AREA_CODES}).mrss_total


def haq_di_of(row: dict[str, Any] | None) -> float | None:
    """The form's own HAQ-DI (``HaqDi.result.score``) from its answers."""
    from visits.crfs import HaqDi

    if row is None:
        return None
    return HaqDi(**{name: row[name] for name in HAQ_FIELDS}).result.score


def _scoped_row(dataset: Dataset, scope: ExportScope, person: Person, values: dict[str, Any]) -> list[Any]:
    wanted = columns(dataset, scope)
    return [convert(v, values.get(v.name), person, scope) for v in wanted]


def visit_rows(scope: ExportScope, persons: dict[int, Person]) -> Iterator[list[Any]]:
    """ANVISIT rows, in the order of ``columns(ANVISIT, scope)``."""
    from visits.crfs import GlobalAssessment, HaqDi, InflammationMarkers, LabPanel, PulmonaryFunction, VisitMrss
    from visits.models import Visit

    models_by_name = {m.__name__: m for m in (GlobalAssessment, LabPanel, InflammationMarkers, PulmonaryFunction)}
    dataset = analysis_datasets()[0]
    for chunk in _chunks(_randomised(persons)):
        position = {pk: i for i, pk in enumerate(chunk)}
        arms = _arms(chunk, scope)
        visits = sorted(
            source(Visit, scope)
            .filter(participant_id__in=chunk, done_on__isnull=False)
            .order_by()
            .values_list("id", "participant_id", "code", "sequence", "done_on"),
            key=lambda v: (position[v[1]], v[3], v[0]),
        )
        visit_ids = [v[0] for v in visits]
        mrss = _by_visit(VisitMrss, MRSS_AREA_CODES, visit_ids, scope)
        haq = _by_visit(HaqDi, HAQ_FIELDS, visit_ids, scope)
        others = [_by_visit(models_by_name[name], fields, visit_ids, scope) for name, fields in _VISIT_VALUES]
        for visit_id, participant_id, code, _sequence, done_on in visits:
            person = persons[participant_id]
            values: dict[str, Any] = {
                "participant": person.number,
                "site": person.site,
                "arm": arms.get(participant_id, {}).get("arm"),
                "visit": code,
                "visit_date": done_on,
                "study_day": study_day(person.day1, done_on),
                "mrss_total": mrss_total_of(mrss.get(visit_id)),
                "haq_di": haq_di_of(haq.get(visit_id)),
            }
            values.update({c: mrss[visit_id][c] for c in MRSS_AREA_CODES} if visit_id in mrss else {})
            for (_name, fields), found in zip(_VISIT_VALUES, others, strict=True):
                values.update({f: found[visit_id][f] for f in fields} if visit_id in found else {})
            yield _scoped_row(dataset, scope, person, values)


def _endpoint_forms(chunk: list[int], scope: ExportScope) -> tuple[dict[int, dict[str, Any]], dict[int, Any]]:
    """{participant: {visit code: mRSS form values}} at Day 1 and week 24, and {participant: Day 1 HAQ values}."""
    from visits.crfs import HaqDi, VisitMrss
    from visits.models import Visit

    visits = source(Visit, scope).filter(participant_id__in=chunk, code__in=(BASELINE_VISIT, PRIMARY_VISIT))
    found = visits.order_by().values_list("id", "participant_id", "code")
    where = {pk: (participant, code) for pk, participant, code in found}
    mrss: dict[int, dict[str, Any]] = {}
    for visit_id, row in _by_visit(VisitMrss, MRSS_AREA_CODES, list(where), scope).items():
        participant, code = where[visit_id]
        mrss.setdefault(participant, {})[code] = row
    baseline = [pk for pk, (_participant, code) in where.items() if code == BASELINE_VISIT]
    haq = {where[visit_id][0]: row for visit_id, row in _by_visit(HaqDi, HAQ_FIELDS, baseline, scope).items()}
    return mrss, haq


def participant_rows(scope: ExportScope, persons: dict[int, Person]) -> Iterator[list[Any]]:
    """ANPART rows, in the order of ``columns(ANPART, scope)``."""
    from screening.models import Participant
    from visits.models import EndOfStudy

    dataset = analysis_datasets()[1]
    for chunk in _chunks(_randomised(persons)):
        arms = _arms(chunk, scope)
        people = {
            row["id"]: row
            for row in source(Participant, scope)
            .filter(id__in=chunk)
            .order_by()
            .values("id", "sex", "date_of_birth", "screening_date")
        }
        ended = {
            row["participant_id"]: row
            for row in source(EndOfStudy, scope)
            .filter(participant_id__in=chunk)
            .order_by()
            .values("participant_id", "ended_on", "reason")
        }
        mrss, haq = _endpoint_forms(chunk, scope)
        for participant_id in chunk:
            person, allocation = persons[participant_id], arms.get(participant_id, {})
            about, end = people.get(participant_id, {}), ended.get(participant_id)
            baseline = mrss_total_of(mrss.get(participant_id, {}).get(BASELINE_VISIT))
            week24 = mrss_total_of(mrss.get(participant_id, {}).get(PRIMARY_VISIT))
            values = {
                "participant": person.number,
                "site": person.site,
                "arm": allocation.get("arm"),
                "randomised_on": person.day1,
                "sex": about.get("sex"),
                "age_at_screening": _age(about.get("date_of_birth"), about.get("screening_date")),
                "duration_stratum": (allocation.get("stratum") or "").rpartition("/")[2] or None,
                "mrss_baseline": baseline,
                "mrss_w24": week24,
                "mrss_change": week24 - baseline if baseline is not None and week24 is not None else None,
                "haq_di_baseline": haq_di_of(haq.get(participant_id)),
                "completed": end["reason"] == EndOfStudy.Reason.COMPLETED if end else None,
                "in_follow_up": end is None,
                "eos_date": end["ended_on"] if end else None,
                "eos_reason": end["reason"] if end else None,
                "in_error": allocation.get("in_error"),
            }
            yield _scoped_row(dataset, scope, person, values)


def _age(born: date | None, screened: date | None) -> int | None:
    return age_in_years(born, screened) if born and screened else None


def _visit_count(scope: ExportScope) -> int:
    from visits.models import Visit

    return source(Visit, scope).filter(done_on__isnull=False).order_by().count()


def analysis_tables(scope: ExportScope, persons: dict[int, Person]) -> list[Table]:
    """ANVISIT and ANPART as export tables (columns per scope, rows streamed per chunk of participants)."""
    anvisit, anpart = analysis_datasets()
    return [
        Table(
            name=anvisit.key,
            label=anvisit.label,
            columns=columns(anvisit, scope),
            rows=lambda: visit_rows(scope, persons),
            count=lambda: _visit_count(scope),
        ),
        Table(
            name=anpart.key,
            label=anpart.label,
            columns=columns(anpart, scope),
            rows=lambda: participant_rows(scope, persons),
            count=lambda: len(_randomised(persons)),
        ),
    ]


def write_analysis_csv(scope: ExportScope, out: BinaryIO, progress: Progress) -> RowCounts:
    """A ZIP with ANVISIT.csv and ANPART.csv."""
    from exports.rows import people
    from exports.tabular import write_tables_zip

    return write_tables_zip(analysis_tables(scope, people(scope)), out, progress)
