"""A site's laboratory reference ranges: the range in force on a date, the grades they give the visit laboratory
panel, the pages on which the site's data manager or administrator records them, and their history."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.utils import timezone

from tests.randomization.factories import list_in_use
from tests.visits.test_schedule import randomised_on
from trial_site.audit.errors import ReasonForChangeRequired
from trial_site.lab_ranges import lab_range_in_force, lab_reference_range_save, site_lab_ranges
from trial_site.models import LabReferenceRange
from trial_site.models.lab_ranges import LabTest
from trial_site.protocol import PROTOCOL
from trial_site.roles import Role
from visits import services
from visits.crf_services import visit_form_save
from visits.crfs import LabPanel
from visits.models import Visit

JAN, MAR, JUN = date(2026, 1, 1), date(2026, 3, 1), date(2026, 6, 1)


@pytest.fixture
def data_manager(user_with_role: Any) -> Any:
    return user_with_role(Role.DATA_MANAGER)


@pytest.fixture
def administrator(user_with_role: Any) -> Any:
    return user_with_role(Role.ADMINISTRATOR)


def record(site: Any, by: Any, test: str, on: date, *, lower: float | None = None, upper: float | None = None,
           unit: str = "×10⁹/L") -> LabReferenceRange:  # fmt: skip
    return lab_reference_range_save(
        record=LabReferenceRange(
            site=site, test=test, lower_limit=lower, upper_limit=upper, unit=unit, effective_from=on
        ),
        by=by,
    )


# --- the range in force -----------------------------------------------------------------------------------------


def test_the_protocols_default_applies_until_the_site_records_its_own(site: Any, data_manager: Any) -> None:
    before = lab_range_in_force(site=site, test=LabTest.WHITE_CELLS, on=JUN)
    assert (before.lower, before.from_site) == (PROTOCOL.lab_reference.wbc_lln, False)
    assert lab_range_in_force(site=site, test=LabTest.ALT, on=JUN).upper == PROTOCOL.lab_reference.alt_uln
    record(site, data_manager, LabTest.WHITE_CELLS, MAR, lower=3.5, upper=10.5)
    after = lab_range_in_force(site=site, test=LabTest.WHITE_CELLS, on=JUN)
    assert (after.lower, after.upper, after.effective_from, after.from_site) == (3.5, 10.5, MAR, True)
    # The tests the site has not recorded keep the protocol's default.
    assert lab_range_in_force(site=site, test=LabTest.NEUTROPHILS, on=JUN).lower == PROTOCOL.lab_reference.anc_lln


@pytest.mark.parametrize(
    ("on", "lower"),
    [(MAR - timedelta(days=1), 4.0), (MAR, 3.5), (MAR + timedelta(days=1), 3.5), (JUN - timedelta(days=1), 3.5),
     (JUN, 3.2), (JUN + timedelta(days=400), 3.2)],
    ids=["day before the first", "its first day", "day after", "day before the second", "the second's first day",
         "long after"],
)  # fmt: skip
def test_the_range_in_force_is_the_latest_on_or_before_the_date(
    site: Any, data_manager: Any, on: date, lower: float
) -> None:
    record(site, data_manager, LabTest.WHITE_CELLS, JUN, lower=3.2)
    record(site, data_manager, LabTest.WHITE_CELLS, MAR, lower=3.5)
    assert lab_range_in_force(site=site, test=LabTest.WHITE_CELLS, on=on).lower == lower
    assert site_lab_ranges(site).in_force(LabTest.WHITE_CELLS, on).lower == lower  # the same answer, read once


def test_another_sites_range_is_ignored(site: Any, other_site: Any, user_with_role: Any) -> None:
    theirs = user_with_role(Role.DATA_MANAGER, username="ctg_dm", at=other_site)
    record(other_site, theirs, LabTest.WHITE_CELLS, JAN, lower=3.0)
    assert lab_range_in_force(site=site, test=LabTest.WHITE_CELLS, on=JUN).lower == PROTOCOL.lab_reference.wbc_lln
    assert lab_range_in_force(site=other_site, test=LabTest.WHITE_CELLS, on=JUN).lower == 3.0


# --- what a range must be ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("test", "fields", "field", "message"),
    [
        (LabTest.HAEMOGLOBIN_FEMALE, {"lower": 120.0, "unit": "g/L"}, "unit", "divide g/L by 10"),
        (LabTest.HAEMOGLOBIN_FEMALE, {"lower": 120.0, "unit": "g/dL"}, "lower_limit", "looks like g/L"),
        (LabTest.PLATELETS, {"lower": 150.0, "unit": "/mm3"}, "unit", "Platelets is graded in ×10⁹/L, ×10³/µL"),
        (LabTest.ALT, {"lower": 7.0, "unit": "U/L"}, "upper_limit", "upper limit of normal: enter it"),
        (LabTest.WHITE_CELLS, {"upper": 11.0}, "lower_limit", "lower limit of normal: enter it"),
        (LabTest.WHITE_CELLS, {"lower": 11.0, "upper": 4.0}, "upper_limit", "must be above the lower limit"),
        (LabTest.NEUTROPHILS, {"lower": 0.0}, "lower_limit", "must be above 0"),
    ],
    ids=["Hb in g/L", "Hb 120 g/dL", "unknown unit", "ALT without ULN", "WBC without LLN", "upper below lower",
         "LLN 0"],
)  # fmt: skip
def test_a_range_the_grading_cannot_use_is_refused_with_a_message(
    site: Any, data_manager: Any, test: str, fields: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        record(site, data_manager, test, MAR, **fields)
    assert message in " ".join(refused.value.message_dict[field])
    assert not LabReferenceRange.objects.exists()


def test_units_typed_another_way_are_read_as_the_unit_they_mean(site: Any, data_manager: Any) -> None:
    assert record(site, data_manager, LabTest.PLATELETS, MAR, lower=150.0, unit="x10^9/l").unit == "×10⁹/L"
    assert record(site, data_manager, LabTest.ALT, MAR, upper=41.0, unit="IU/L").unit == "U/L"


def test_only_the_sites_data_manager_or_administrator_records_a_range(
    site: Any, other_site: Any, data_manager: Any, administrator: Any, coordinator: Any, user_with_role: Any
) -> None:
    assert record(site, administrator, LabTest.LYMPHOCYTES, MAR, lower=1.1).pk
    assert record(site, data_manager, LabTest.LYMPHOCYTES, JUN, lower=1.2).pk
    elsewhere = user_with_role(Role.DATA_MANAGER, username="ctg_dm", at=other_site)
    for refused in (coordinator, elsewhere):
        with pytest.raises(PermissionDenied):
            record(site, refused, LabTest.LYMPHOCYTES, JAN, lower=1.0)
    assert LabReferenceRange.objects.count() == 2


def test_a_change_needs_a_reason_and_the_history_keeps_who_when_old_new_and_why(site: Any, data_manager: Any) -> None:
    saved = record(site, data_manager, LabTest.WHITE_CELLS, MAR, lower=3.5)
    saved.lower_limit = 3.6
    with pytest.raises(ReasonForChangeRequired):
        lab_reference_range_save(record=saved, by=data_manager)
    assert LabReferenceRange.objects.get().lower_limit == 3.5
    saved.lower_limit = 3.6
    lab_reference_range_save(record=saved, by=data_manager, reason="the laboratory's new analyser")
    rows = list(saved.history.order_by("history_id"))
    assert [(row.history_type, row.lower_limit) for row in rows] == [("+", 3.5), ("~", 3.6)]
    assert rows[-1].history_user == data_manager
    assert rows[-1].history_change_reason == "the laboratory's new analyser"
    assert rows[-1].history_date is not None


# --- the grades -------------------------------------------------------------------------------------------------

LABS = {"hb_g_dl": 13.5, "wbc": 6.0, "anc": 3.5, "alc": 1.8, "platelets": 240.0, "alt": 25.0,
        "creatinine": 0.8, "creatinine_unit": "mg/dL"}  # fmt: skip


@pytest.fixture
def d1(site: Any, coordinator: Any, investigator: Any, statistician: Any) -> Visit:
    list_in_use(statistician)
    participant = randomised_on(timezone.localdate() - timedelta(days=10), site, coordinator, investigator)
    visit = participant.visits.get(code="D1")
    return services.visit_record_done(visit=visit, by=coordinator, done_on=visit.target_date)


def save_labs(visit: Visit, by: Any, **values: Any) -> LabPanel:
    panel = LabPanel(visit=visit, **{**LABS, **values}, unusual_values_confirmed=True)
    visit_form_save(record=panel, by=by, complete=True)
    return LabPanel.objects.select_related("visit__participant").get(pk=panel.pk)


def grade_of(panel: LabPanel, test: str) -> int | None:
    return next(grade.grade for grade in panel.grades() if grade.test == test)


def test_a_white_cell_count_is_grade_1_with_the_sites_lln_and_grade_0_with_the_default(
    d1: Visit, coordinator: Any, data_manager: Any
) -> None:
    panel = save_labs(d1, coordinator, wbc=4.2, anc=2.5, alc=1.2)
    assert grade_of(panel, "white_cells") == 0  # default LLN 4.0
    record(d1.site, data_manager, LabTest.WHITE_CELLS, d1.done_on, lower=4.5, upper=11.0)
    assert grade_of(panel, "white_cells") == 1
    graded = next(grade for grade in panel.grades() if grade.test == "white_cells")
    assert graded.reference == f"LLN 4.5 ×10⁹/L, site range from {d1.done_on.isoformat()}"


def test_a_site_lln_below_the_default_makes_a_low_count_grade_0(d1: Visit, coordinator: Any, data_manager: Any) -> None:
    panel = save_labs(d1, coordinator, wbc=3.8, anc=1.9, alc=1.0)
    assert (grade_of(panel, "white_cells"), grade_of(panel, "neutrophils")) == (1, 1)
    record(d1.site, data_manager, LabTest.WHITE_CELLS, d1.done_on - timedelta(days=30), lower=3.5)
    record(d1.site, data_manager, LabTest.NEUTROPHILS, d1.done_on + timedelta(days=1), lower=1.8)  # after the visit
    assert (grade_of(panel, "white_cells"), grade_of(panel, "neutrophils")) == (0, 1)


def test_haemoglobin_is_graded_against_the_range_of_the_participants_sex(
    d1: Visit, coordinator: Any, data_manager: Any
) -> None:
    assert d1.participant.sex == "F"
    panel = save_labs(d1, coordinator, hb_g_dl=11.5)
    assert grade_of(panel, "haemoglobin") == 1  # default for women: 12.0
    record(d1.site, data_manager, LabTest.HAEMOGLOBIN_MALE, d1.done_on, lower=11.0, unit="g/dL")
    assert grade_of(panel, "haemoglobin") == 1  # the men's range does not apply
    record(d1.site, data_manager, LabTest.HAEMOGLOBIN_FEMALE, d1.done_on, lower=11.0, unit="g/dL")
    assert grade_of(panel, "haemoglobin") == 0


def test_an_alt_above_3_times_one_uln_and_not_another(d1: Visit, coordinator: Any, data_manager: Any) -> None:
    panel = save_labs(d1, coordinator, alt=130.0)  # no ULN on the panel
    assert grade_of(panel, "alt") == 2  # > 3 × 40 (the protocol's default) = 120
    record(d1.site, data_manager, LabTest.ALT, d1.done_on, lower=7.0, upper=45.0, unit="U/L")
    assert grade_of(panel, "alt") == 1  # 130 ≤ 3 × 45 = 135
    # A ULN written on the panel is that report's own and grades it.
    panel.alt_uln = 40.0
    visit_form_save(record=panel, by=coordinator, complete=True, reason="the report's ULN added")
    with_uln = LabPanel.objects.get(pk=panel.pk)
    assert grade_of(with_uln, "alt") == 2
    assert next(g for g in with_uln.grades() if g.test == "alt").reference == "ULN 40 U/L, on this panel"


def test_the_trend_table_reads_the_ranges_once(
    d1: Visit, coordinator: Any, data_manager: Any, django_assert_max_num_queries: Any
) -> None:
    from visits.selectors import lab_trends

    save_labs(d1, coordinator, wbc=4.2)
    record(d1.site, data_manager, LabTest.WHITE_CELLS, d1.done_on, lower=4.5)
    with django_assert_max_num_queries(2):
        trends = lab_trends(d1.participant)
        grades = [panel.grades() for _visit, panel in trends]
    assert [grade.grade for grade in grades[0] if grade.test == "white_cells"] == [1]


# --- the pages --------------------------------------------------------------------------------------------------


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def form_values(html: str) -> dict[str, str]:
    values = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', html))
    return {name: value for name, value in values.items() if name != "csrfmiddlewaretoken"}


def test_recording_a_range_on_the_page_changes_the_grade_on_the_participants_lab_panel(
    d1: Visit, coordinator: Any, data_manager: Any
) -> None:
    save_labs(d1, coordinator, wbc=4.2)
    number = d1.participant.screening_number
    before = logged_in(coordinator).get(f"/visits/participants/{number}/").content.decode()
    assert 'data-grade="white_cells:1"' not in before
    assert "LLN 4 ×10⁹/L, protocol default" in before

    as_dm = logged_in(data_manager)
    assert "/sites/DHK/lab-ranges/" in as_dm.get("/sites/DHK/").content.decode()
    form = as_dm.get("/sites/DHK/lab-ranges/new/").content.decode()
    key = re.search(r'name="submission_key" value="([^"]+)"', form)[1]  # type: ignore[index]
    body = {"submission_key": key, "test": "white_cells", "lower_limit": "4.5", "upper_limit": "11",
            "unit": "×10⁹/L", "effective_from": d1.done_on.isoformat()}  # fmt: skip
    saved = as_dm.post("/sites/DHK/lab-ranges/new/", body)
    assert saved.status_code == 302 and saved["Location"] == "/sites/DHK/lab-ranges/"
    assert as_dm.post("/sites/DHK/lab-ranges/new/", body).status_code == 302  # sent twice: recorded once
    assert LabReferenceRange.objects.count() == 1
    listing = as_dm.get("/sites/DHK/lab-ranges/").content.decode()
    assert "4.5–11 ×10⁹/L" in listing

    after = logged_in(coordinator).get(f"/visits/participants/{number}/").content.decode()
    assert 'data-grade="white_cells:1"' in after
    assert f"LLN 4.5 ×10⁹/L, site range from {d1.done_on.isoformat()}" in after


def test_a_unit_the_grading_does_not_understand_is_refused_next_to_the_field(site: Any, data_manager: Any) -> None:
    as_dm = logged_in(data_manager)
    body = {"test": "haemoglobin_female", "lower_limit": "120", "upper_limit": "155", "unit": "g/L",
            "effective_from": "2026-03-01"}  # fmt: skip
    refused = as_dm.post("/sites/DHK/lab-ranges/new/", body)
    assert refused.status_code == 400
    assert "Haemoglobin is graded in g/dL: divide g/L by 10." in refused.content.decode()
    assert not LabReferenceRange.objects.exists()


def test_another_sites_ranges_are_a_404_and_a_role_without_the_permission_a_403(
    site: Any, other_site: Any, data_manager: Any, assessor: Any, coordinator: Any, user_with_role: Any
) -> None:
    theirs = record(other_site, user_with_role(Role.ADMINISTRATOR, username="ctg_admin", at=other_site),
                    LabTest.PLATELETS, MAR, lower=140.0)  # fmt: skip
    as_dm = logged_in(data_manager)
    assert as_dm.get("/sites/CTG/lab-ranges/").status_code == 404
    assert as_dm.get("/sites/CTG/lab-ranges/new/").status_code == 404
    assert as_dm.get(f"/sites/CTG/lab-ranges/{theirs.pk}/").status_code == 404
    body = {"test": "platelets", "lower_limit": "100", "unit": "×10⁹/L", "effective_from": "2026-01-01"}
    assert as_dm.post("/sites/CTG/lab-ranges/new/", body).status_code == 404
    for refused in (assessor, coordinator):
        client = logged_in(refused)
        assert client.get("/sites/DHK/lab-ranges/").status_code == 200  # they may read the ranges
        assert client.get("/sites/DHK/lab-ranges/new/").status_code == 403
        assert client.post("/sites/DHK/lab-ranges/new/", body).status_code == 403
        assert 'data-testid="lab-range-add"' not in client.get("/sites/DHK/lab-ranges/").content.decode()
    assert LabReferenceRange.objects.filter(site=site).count() == 0


def test_a_stale_edit_is_a_409_with_the_other_persons_change_shown(
    site: Any, data_manager: Any, administrator: Any
) -> None:
    saved = record(site, data_manager, LabTest.WHITE_CELLS, MAR, lower=3.5, upper=10.0)
    url = f"/sites/DHK/lab-ranges/{saved.pk}/"
    as_dm, as_admin = logged_in(data_manager), logged_in(administrator)
    dm_form, admin_form = form_values(as_dm.get(url).content.decode()), form_values(as_admin.get(url).content.decode())
    first = as_admin.post(url, {**admin_form, "test": "white_cells", "lower_limit": "3.6",
                                "reason_for_change": "new analyser"})  # fmt: skip
    assert first.status_code == 302
    stale = as_dm.post(url, {**dm_form, "test": "white_cells", "upper_limit": "11.0",
                             "reason_for_change": "typo"})  # fmt: skip
    assert stale.status_code == 409
    page = stale.content.decode()
    assert "Someone else saved this record after you opened it" in page and "administrator" in page.lower()
    saved.refresh_from_db()
    assert (saved.lower_limit, saved.upper_limit) == (3.6, 10.0)
    # Saving the form shown after the conflict keeps both changes.
    again = as_dm.post(url, {**form_values(page), "test": "white_cells", "reason_for_change": "typo"})
    assert again.status_code == 302
    saved.refresh_from_db()
    assert (saved.lower_limit, saved.upper_limit) == (3.6, 11.0)
    assert [row.history_change_reason for row in saved.history.order_by("history_id")] == [None, "new analyser", "typo"]


def test_a_change_without_a_reason_is_refused_next_to_the_field(site: Any, data_manager: Any) -> None:
    saved = record(site, data_manager, LabTest.WHITE_CELLS, MAR, lower=3.5)
    url = f"/sites/DHK/lab-ranges/{saved.pk}/"
    as_dm = logged_in(data_manager)
    values = form_values(as_dm.get(url).content.decode())
    refused = as_dm.post(url, {**values, "lower_limit": "3.7"})
    assert refused.status_code == 400
    assert "Give the reason for changing saved data." in refused.content.decode()
    assert LabReferenceRange.objects.get().lower_limit == 3.5
