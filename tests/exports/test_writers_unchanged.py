"""The fast writers (#21 item 5) write what the plain ones wrote, byte for byte.

Each column's conversion is decided once (``rows.value_converter``; the CSV writer, ODM and the audit trail fold
their own text into it), and ODM escapes only text that needs it. The reference here is the plain path they
replace, value by value: ``tabular.csv_value(rows.convert(…))`` for every cell, ``odm._item_text(convert(…))`` and
``audit_trail.value_text(convert(…))`` for every value of the history, ``quoteattr``/``escape`` of ``clean`` for
every text. A small generated trial (with a free text holding every character that needs care) in four scopes.
"""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import pytest
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from clinical.schedule import study_day
from exports.audit_trail import change_columns, history_versions, value_text
from exports.catalogue import Dataset, dataset, datasets
from exports.odm import _item_text, attribute, clean, element_text, item_column, plans
from exports.rows import _order, columns, convert, dataset_rows, people, source
from exports.scope import DateMode, ExportScope
from exports.tabular import csv_value, write_csv_per_form, write_dataset_csv
from trial_site.models import Site
from visits import services as visit_services

pytestmark = pytest.mark.needs_postgres

TRICKY = "=SUM(A1) \"quoted\" & <tag> 'single'\nnew line\ttab\r\x0b বাংলা ]]> -2.5"
SCOPES = {
    "de-identified, study days": {},
    "identified, actual dates, free text": {"identified": True, "date_mode": DateMode.ACTUAL, "free_text": True},
    "shifted dates, labels, free text": {"date_mode": DateMode.SHIFTED, "codes_as_labels": True, "free_text": True},
    "identified, shifted, cut-off": {"identified": True, "date_mode": DateMode.SHIFTED, "cut_off": "today"},
}


@pytest.fixture
def tricky_trial(trial: dict[str, Any], coordinator: Any) -> dict[str, Any]:
    """The exports' small trial, one participant ending the study with free text that needs escaping everywhere."""
    participant = trial["randomised"][5]
    visit_services.end_of_study_record(
        participant=participant,
        by=coordinator,
        ended_on=timezone.localdate() - timedelta(days=5),
        reason="withdrawn",
        details=TRICKY,
    )
    return trial


def scope_of(options: dict[str, Any]) -> ExportScope:
    options = dict(options)
    if options.get("cut_off") == "today":
        options["cut_off"] = timezone.localdate()
    return ExportScope(site_ids=tuple(Site.objects.values_list("id", flat=True)), **options)


def reference_rows(chosen: Dataset, scope: ExportScope) -> list[list[str]]:
    """The rows of a dataset's CSV as the plain path made them: every cell through ``convert`` and ``csv_value``."""
    persons = people(scope)
    wanted = columns(chosen, scope)
    selects = [chosen.participant_path] + [v.source for v in wanted if v.name not in ("participant", "study_day")]
    if chosen.day_source:
        selects.append(chosen.day_source)
    found = []
    for values in source(chosen.model, scope).order_by(*_order(chosen)).values_list(*selects):
        person = persons.get(values[0])
        if person is None:
            continue
        by_source = dict(zip(selects, values, strict=True))
        row = []
        for variable in wanted:
            if variable.name == "participant":
                row.append(person.number)
            elif variable.name == "study_day":
                row.append(reference_day(by_source[chosen.day_source], person))
            else:
                row.append(convert(variable, by_source[variable.source], person, scope))
        found.append([csv_value(value) for value in row])
    return found


def reference_day(value: date | datetime | None, person: Any) -> int | None:
    """The study day of a record's date as the plain path read it (``clinical.schedule.study_day``)."""
    if value is None or person.day1 is None:
        return None
    if isinstance(value, datetime):
        value = timezone.localtime(value, person.time_zone).date()
    return study_day(person.day1, value)


def reference_csv(chosen: Dataset, scope: ExportScope) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow([v.name for v in columns(chosen, scope)])
    writer.writerows(reference_rows(chosen, scope))
    return text.getvalue().encode("utf-8")


@pytest.mark.parametrize("options", SCOPES.values(), ids=SCOPES.keys())
def test_csv_per_form_is_the_plain_conversion_byte_for_byte(tricky_trial: dict[str, Any], options: dict) -> None:
    scope = scope_of(options)
    out = io.BytesIO()
    counts = write_csv_per_form(scope, out, lambda rows: None)
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as archive:
        written = {name.removesuffix(".csv"): archive.read(name) for name in archive.namelist()}
    assert set(written) == {d.key for d in datasets()}
    filled = 0
    for chosen in datasets():
        assert written[chosen.key] == reference_csv(chosen, scope), chosen.key
        filled += counts[chosen.key] > 0
    assert filled > 10  # the trial fills most forms
    if scope.free_text or scope.identified:
        assert b"'=SUM(A1)" in written["EOS"]  # the free text is there, neutralised for spreadsheets


def test_one_dataset_as_a_csv_is_the_plain_conversion(tricky_trial: dict[str, Any]) -> None:
    scope = scope_of(SCOPES["identified, actual dates, free text"])
    for key in ("MRSS", "EOS", "PARTICIP"):
        out = io.BytesIO()
        write_dataset_csv(scope, out, lambda rows: None, key)
        assert out.getvalue() == reference_csv(dataset(key), scope), key


@pytest.mark.parametrize("options", SCOPES.values(), ids=SCOPES.keys())
def test_odm_items_and_audit_values_are_the_plain_conversion(tricky_trial: dict[str, Any], options: dict) -> None:
    """Every value of every version of every record: the ODM item text and the audit CSV text per column."""
    scope = scope_of(options)
    persons = people(scope)
    compared = 0
    for plan in plans(scope):
        items = [item_column(plan, variable, scope) for variable in plan.items]
        shown = change_columns(plan.dataset, plan.dataset.data_variables, scope)
        variables = {v.name: v for v in plan.dataset.data_variables}
        for version in history_versions(plan.dataset, scope, plan.dataset.data_variables + plan.items):
            person = persons.get(version.participant_id)
            if person is None:
                continue
            for variable, item in zip(plan.items, items, strict=True):
                raw = version.values[variable.name]
                assert item.text(raw, person) == _item_text(convert(variable, raw, person, scope)), variable
                compared += 1
            for column in shown:
                raw = version.values[column.name]
                expected = value_text(convert(variables[column.name], raw, person, scope))
                assert column.text(raw, person) == expected, column.name
    assert compared > 500


def test_dataset_rows_give_the_plain_values(tricky_trial: dict[str, Any]) -> None:
    """The Python values the statistical files and the analysis read are ``convert``'s too."""
    for options in SCOPES.values():
        scope = scope_of(options)
        for chosen in datasets():
            expected = reference_rows(chosen, scope)
            assert [[csv_value(v) for v in row] for row in dataset_rows(chosen, scope)] == expected, chosen.key


SPECIAL = ["", "plain", "a&b", "<x>", 'say "hi"', "it's", "both ' and \"", "line\nbreak", "cr\rtab\t", "\x00\x1f",
           "\ufffe", "১২৩ বাংলা", "]]>", "&amp;", "-5", "2025-03-14T10:30:00+06:00"]  # fmt: skip


@pytest.mark.parametrize("text", SPECIAL)
def test_odm_escaping_is_saxutils_where_it_matters(text: str) -> None:
    assert attribute(text) == quoteattr(clean(text))
    assert element_text(text) == escape(clean(text))


@given(st.text())
def test_odm_escaping_is_saxutils_for_any_text(text: str) -> None:
    assert attribute(text) == quoteattr(clean(text))
    assert element_text(text) == escape(clean(text))


@given(st.one_of(st.integers(), st.floats(allow_nan=False), st.dates(), st.booleans()))
def test_odm_escaping_of_other_values(value: Any) -> None:
    assert attribute(value) == quoteattr(clean(value))
    assert element_text(value) == escape(clean(value))
