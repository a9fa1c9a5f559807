"""The data dictionary: every model field of every dataset with its label and type, known units, ranges, code
lists and visits, the analysis variables, what this export includes, and the printable page."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from exports.analysis import analysis_datasets
from exports.catalogue import dataset, datasets
from exports.dictionary import COLUMNS, write_dictionary_csv, write_dictionary_html
from tests.exports.test_tabular import all_sites, identified, read_csv, run

pytestmark = pytest.mark.needs_postgres

TYPES = {"text", "integer", "float", "date", "datetime", "boolean"}


def dictionary(scope: Any) -> dict[tuple[str, str], dict[str, str]]:
    data, counts, reported = run(write_dictionary_csv, scope)
    rows = read_csv(data)
    assert list(rows[0]) == [name for name, _label in COLUMNS]
    assert counts == {"dictionary": len(rows)} and reported == len(rows)
    return {(row["dataset"], row["variable"]): row for row in rows}


# The audit kernel's own columns, and the links that are the key columns (participant, visit) or left out.
NOT_VARIABLES = {"id", "site", "protocol_version", "created_at", "created_by", "modified_at", "modified_by"}
LINKS = {"participant", "visit", "slot", "screening_number"}


def test_every_model_field_of_every_dataset_has_a_label_and_a_type(site: Any) -> None:
    found = dictionary(identified())
    user_model = get_user_model()
    for chosen in datasets():
        listed = {variable for key, variable in found if key == chosen.key}
        assert listed == {v.name for v in chosen.variables}
        for field in chosen.model._meta.concrete_fields:
            if field.name in NOT_VARIABLES | LINKS or (chosen.key == "VISIT" and field.name == "code"):
                continue
            name = field.attname if field.is_relation and field.related_model is not user_model else field.name
            assert (chosen.key, name) in found, (chosen.key, name)
            row = found[(chosen.key, name)]
            assert row["label"] and row["data_type"] in TYPES and row["dataset_label"], (chosen.key, name)
            assert row["label"].lower().startswith(str(field.verbose_name).lower()[:10]), (chosen.key, name)
    assert all(row["label"] and row["data_type"] in TYPES for row in found.values())
    assert all(len(row["short_name"]) <= 8 and row["short_name"].isupper() for row in found.values())


def test_units_ranges_codes_and_visits_of_known_fields(site: Any) -> None:
    found = dictionary(identified())
    hb = found[("LABS", "hb_g_dl")]
    assert (hb["label"], hb["unit"], hb["data_type"]) == ("Haemoglobin (g/dL)", "g/dL", "float")
    assert (hb["hard_range"], hb["soft_range"]) == ("2–25", "8–18")
    assert hb["visits"] == " ".join(dataset("LABS").visits) and hb["visits"].startswith("D1 W2")
    face = found[("MRSS", "face")]
    assert face["codes"] == "0=0 normal; 1=1 mild; 2=2 moderate; 3=3 severe"
    assert face["hard_range"] == "0–3" and face["data_type"] == "integer"
    assert found[("PFT", "fvc_percent")]["visits"] == "D1 W24"
    assert found[("PFT", "fvc_percent")]["unit"] == "% predicted"
    assert found[("PARTICIP", "sex")]["codes"] == "F=Female; M=Male"
    assert found[("VISIT", "missed")]["codes"] == "1=Yes; 0=No"
    assert found[("PARTICIP", "initials")]["length"] == "4"
    assert found[("PARTICIP", "date_of_birth")]["identifying"] == "Yes"
    assert found[("CONSENT", "witness_name")]["identifying"] == "Yes"
    assert found[("EOS", "details")]["free_text"] == "Yes"
    # The analysis datasets are described too.
    for analysis in analysis_datasets():
        assert {v.name for v in analysis.variables} == {name for key, name in found if key == analysis.key}
    assert found[("ANPART", "mrss_change")]["label"].startswith("Change in mRSS")
    assert found[("ANVISIT", "mrss_total")]["hard_range"] == "0–51"
    assert found[("ANVISIT", "hb_g_dl")]["unit"] == "g/dL"


def test_what_this_export_includes(site: Any) -> None:
    everything = dictionary(identified())
    assert all(row["in_this_export"] == "Yes" for row in everything.values())
    assert everything[("VISIT", "done_on")]["exported_as"] == "date"
    plain = dictionary(all_sites(date_mode="study_day"))
    for key, row in plain.items():
        if row["identifying"] == "Yes" or row["free_text"] == "Yes":
            assert row["in_this_export"] == "No", key
    assert plain[("VISIT", "done_on")]["exported_as"] == "integer (study day)"
    assert plain[("LABS", "hb_g_dl")]["in_this_export"] == "Yes"
    shifted = dictionary(all_sites(date_mode="shifted", free_text=True, codes_as_labels=True))
    assert shifted[("EOS", "details")]["in_this_export"] == "Yes"
    assert shifted[("VISIT", "done_on")]["exported_as"] == "date (shifted)"
    assert shifted[("MRSS", "face")]["exported_as"] == "text (labels)"


def test_the_printable_page(site: Any) -> None:
    data, counts, _reported = run(write_dictionary_html, all_sites(date_mode="study_day"))
    page = data.decode("utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<link" not in page and "<script" not in page
    every = [*datasets(), *analysis_datasets()]
    for chosen in every:
        assert f'href="#ds-{chosen.key}"' in page and f'id="ds-{chosen.key}"' in page
        section = page.split(f'id="ds-{chosen.key}"', 1)[1].split("</section>", 1)[0]
        assert len(re.findall(r"<tr[^>]*data-variable=", section)) == len(chosen.variables)
    assert counts == {"dictionary": sum(len(d.variables) for d in every)}
    labs = page.split('id="ds-LABS"', 1)[1].split("</section>", 1)[0]
    hb = html.unescape(labs.split('data-variable="hb_g_dl"', 1)[1].split("</tr>", 1)[0])
    assert "Haemoglobin" in hb and "g/dL" in hb and "2–25" in hb and "8–18" in hb
    birth = page.split('data-variable="date_of_birth"', 1)[1].split("</tr>", 1)[0]
    assert "identifying" in birth and ">no<" in birth
