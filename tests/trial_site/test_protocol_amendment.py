"""A protocol amendment applied to a trial with participants at every stage (issue #19's acceptance): version 2.0
adds a safety-laboratory visit at week 6 (laboratory panel and vital signs), asks a new field on the vital signs
(oxygen saturation), lowers the bar of the neutrophil hold rule of each arm, and brings consent form 2.0, which
everyone still in the trial must sign again. It is proposed by the data manager and approved, with a reason, by an
investigator, in force from today."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from exports.scope import DateMode, ExportScope
from randomization import services as randomization_services
from safety.models import LabAlert
from screening import services as screening_services
from screening.models import Participant
from screening.selectors import reconsent_due
from tests.exports.test_odm import ODM, all_sites, export, parsed
from tests.exports.test_odm_versions import form_data
from tests.randomization.factories import confirmed_participant, list_in_use
from tests.screening.factories import register, screen_eligible
from tests.visits.test_schedule import randomised_on
from trial_site.amendments import protocol_version_approve, protocol_version_propose
from trial_site.protocol_versions import amendable, protocol_on
from trial_site.roles import Role
from visits import services as visit_services
from visits.crf_services import visit_form_save
from visits.crfs import LabPanel, VitalSigns
from visits.models import RequiredForm

W6 = {"code": "W6", "name": "Week 6 safety labs", "target_day": 43, "days_before": 3, "days_after": 3,
      "forms": ["labs", "vitals"]}  # fmt: skip
# The neutrophil hold rule of each arm, before and after the amendment, and a count between the two bars.
ANC_BARS = {"A": ("BARI_ANC", 1.0, 1.2, 1.1), "B": ("MTX_ANC", 1.6, 1.8, 1.7)}
LABS = {"hb_g_dl": 12.5, "wbc": 6.0, "alc": 1.8, "platelets": 240.0, "alt": 25.0, "alt_uln": 40.0,
        "creatinine": 0.8, "creatinine_unit": "mg/dL"}  # fmt: skip
VITALS = {"weight_kg": 60, "height_cm": 160, "systolic_bp": 120, "diastolic_bp": 80, "heart_rate": 70,
          "temperature_c": 36.8}  # fmt: skip


def amendment_2_0() -> dict[str, Any]:
    content = copy.deepcopy(amendable(protocol_on(timezone.localdate())))
    at = next(i for i, visit in enumerate(content["visits"]) if visit["target_day"] > W6["target_day"])
    content["visits"].insert(at, W6)
    for arm, (code, _before, after, _value) in ANC_BARS.items():
        rule = next(rule for rule in content["lab_rules"][arm] if rule["code"] == code)
        rule["threshold"] = after
        rule["text"] = rule["text"].replace(f"< {_before}", f"< {after}")
    content["consent_forms"].append(
        {"version": "2.0", "effective_from": timezone.localdate().isoformat(), "effective_to": None, "reconsent": True}
    )
    return content


def done(visit: Any, by: Any) -> Any:
    return visit_services.visit_record_done(visit=visit, by=by, done_on=visit.target_date)


def enter(model: type, visit: Any, by: Any, values: dict[str, Any], *, reason: str | None = None) -> Any:
    record = model.objects.filter(visit=visit).first() or model(visit=visit, site=visit.site)
    for name, value in values.items():
        setattr(record, name, value)
    visit_form_save(record=record, by=by, complete=True, reason=reason)
    return record


def anc_alerts(panel: Any) -> list[str]:
    return list(LabAlert.objects.filter(lab_panel=panel, rule__endswith="_ANC").values_list("rule", flat=True))


@pytest.fixture
def trial(site: Any, coordinator: Any, investigator: Any, statistician: Any, user_with_role: Any) -> dict[str, Any]:
    """Participants at every stage, made under version 1.0."""
    list_in_use(statistician)
    today = timezone.localdate()
    past_w6 = randomised_on(today - timedelta(days=60), site, coordinator, investigator)  # W8 is open
    before_w6 = randomised_on(today - timedelta(days=42), site, coordinator, investigator)  # W6 would be today
    just_started = randomised_on(today - timedelta(days=3), site, coordinator, investigator)
    ended = randomised_on(today - timedelta(days=20), site, coordinator, investigator)
    for participant in (past_w6, before_w6, just_started, ended):
        done(participant.visits.get(code="D1"), coordinator)
    for participant in (past_w6, before_w6):
        for code in ("W2", "W4"):
            done(participant.visits.get(code=code), coordinator)
    visit_services.end_of_study_record(
        participant=ended, by=investigator, ended_on=today - timedelta(days=1), reason="withdrawn", details="moved"
    )
    d1 = before_w6.visits.get(code="D1")
    vitals = enter(VitalSigns, d1, coordinator, VITALS)
    arm = before_w6.allocation.arm
    between = ANC_BARS[arm][3]
    old_panel = enter(LabPanel, d1, coordinator, {**LABS, "anc": between})
    done_forms = {
        visit.pk: set(visit.required_forms.values_list("form", "status"))
        for visit in (*past_w6.visits.filter(done_on__isnull=False), *before_w6.visits.filter(done_on__isnull=False))
    }
    screening = confirmed_participant(site, coordinator, investigator)
    failed = screen_eligible(register(site, coordinator), coordinator, mrss_per_area=0)  # I4: skin too mild
    screening_services.screen_failure_record(participant=failed, by=investigator, note="skin too mild")
    return {
        "past_w6": past_w6, "before_w6": before_w6, "just_started": just_started, "ended": ended,
        "screening": screening, "failed": failed, "vitals": vitals, "old_panel": old_panel, "done_forms": done_forms,
        "data_manager": user_with_role(Role.DATA_MANAGER, username="datamanager"),
    }  # fmt: skip


@pytest.fixture
def amended(trial: dict[str, Any], investigator: Any) -> dict[str, Any]:
    version = protocol_version_propose(
        by=trial["data_manager"], version="2.0", effective_from=timezone.localdate(),
        summary="Week 6 safety laboratory visit; SpO2 on the vital signs; neutrophil holds; consent 2.0",
        content=amendment_2_0(),
    )  # fmt: skip
    approved = protocol_version_approve(version=version.version, by=investigator, reason="Ethics approval 2026/114")
    return {**trial, "version": approved}


def w6_of(participant: Participant) -> Any:
    return participant.visits.filter(code="W6").first()


def reconsented(participant: Participant, by: Any) -> Participant:
    """Consent form 2.0 signed today: the procedures the re-consent blocks are allowed again."""
    screening_services.reconsent_record(
        participant=participant, by=by, form_version="2.0", consented_at=timezone.now() - timedelta(minutes=1),
        obtained_by=by, signature_method="signature", copy_given=True,
    )  # fmt: skip
    return Participant.objects.get(pk=participant.pk)


def test_the_new_visit_appears_only_for_those_who_have_not_passed_it(
    amended: dict[str, Any], coordinator: Any, investigator: Any
) -> None:
    assert amended["version"].status == "approved"
    assert amended["version"].applied["visits_added"] == 2
    assert w6_of(amended["past_w6"]) is None
    assert w6_of(amended["ended"]) is None
    for key in ("before_w6", "just_started"):
        w6 = w6_of(amended[key])
        rows = dict(RequiredForm.objects.filter(visit=w6).values_list("form", "status"))
        assert rows == {"labs": "required", "vitals": "required"}, key
        w4, w8 = (amended[key].visits.get(code=code) for code in ("W4", "W8"))
        assert w4.sequence < w6.sequence < w8.sequence
        assert w6.history.first().history_change_reason.startswith("Protocol amendment 2.0")
    # Screened under 1.0, re-consented to 2.0 and randomised after the amendment: version 2.0's schedule.
    later = reconsented(amended["screening"], coordinator)
    randomization_services.participant_randomize(participant=later, by=investigator)
    assert [visit.code for visit in later.visits.order_by("sequence")][:5] == ["D1", "W2", "W4", "W6", "W8"]
    assert later.visits.get(code="D1").protocol_version == "2.0"


def test_completed_forms_and_visits_are_untouched(amended: dict[str, Any], coordinator: Any) -> None:
    vitals = VitalSigns.objects.get(pk=amended["vitals"].pk)
    assert vitals.protocol_version == "1.0" and vitals.history.count() == 1
    assert vitals.oxygen_saturation is None
    d1 = amended["before_w6"].visits.get(code="D1")
    for visit_id, forms in amended["done_forms"].items():  # the visits done keep their forms, as they were
        assert set(RequiredForm.objects.filter(visit_id=visit_id).values_list("form", "status")) == forms
    # After re-consent, a correction to the 1.0 form asks nothing new; the 1.0 form does not take the new field.
    reconsented(amended["before_w6"], coordinator)
    enter(VitalSigns, d1, coordinator, {"heart_rate": 72}, reason="transcription error")
    with pytest.raises(ValidationError) as refused:
        enter(VitalSigns, d1, coordinator, {"oxygen_saturation": 97}, reason="added")
    assert "oxygen_saturation" in refused.value.message_dict
    client = Client()
    client.force_login(coordinator)
    page = client.get(f"/visits/{d1.pk}/forms/vitals/").content.decode()
    assert 'name="heart_rate"' in page and 'name="oxygen_saturation"' not in page


def test_the_new_field_is_asked_on_forms_made_under_the_new_version(amended: dict[str, Any], coordinator: Any) -> None:
    w6 = done(w6_of(reconsented(amended["before_w6"], coordinator)), coordinator)
    client = Client()
    client.force_login(coordinator)
    assert 'name="oxygen_saturation"' in client.get(f"/visits/{w6.pk}/forms/vitals/").content.decode()
    with pytest.raises(ValidationError) as incomplete:
        enter(VitalSigns, w6, coordinator, VITALS)
    assert "oxygen_saturation" in incomplete.value.message_dict
    vitals = enter(VitalSigns, w6, coordinator, {**VITALS, "oxygen_saturation": 96})
    assert vitals.protocol_version == "2.0" and vitals.oxygen_saturation == 96
    assert RequiredForm.objects.get(visit=w6, form="vitals").status == "entered"


def test_the_new_threshold_applies_to_values_entered_after_the_effective_date(
    amended: dict[str, Any], coordinator: Any
) -> None:
    participant = reconsented(amended["before_w6"], coordinator)
    rule, before, after, between = ANC_BARS[participant.allocation.arm]
    assert after > between >= before  # the count lies between the two bars
    old_panel = LabPanel.objects.get(pk=amended["old_panel"].pk)
    assert old_panel.protocol_version == "1.0" and anc_alerts(old_panel) == []
    w6 = done(w6_of(participant), coordinator)
    new_panel = enter(LabPanel, w6, coordinator, {**LABS, "anc": between})
    assert new_panel.protocol_version == "2.0"
    assert anc_alerts(new_panel) == [rule]
    # The old panel, corrected after the effective date, is still judged by the version it was entered under.
    enter(LabPanel, old_panel.visit, coordinator, {"wbc": 6.1}, reason="transcription error")
    assert anc_alerts(old_panel) == []


def test_re_consent_is_asked_of_everyone_still_in_the_trial(amended: dict[str, Any], coordinator: Any) -> None:
    for key in ("past_w6", "before_w6", "just_started", "screening"):
        due = reconsent_due(Participant.objects.get(pk=amended[key].pk))
        assert due.due and due.version == "2.0", key
    for key in ("ended", "failed"):
        assert not reconsent_due(Participant.objects.get(pk=amended[key].pk)).due, key
    # Until then the visit's procedures wait; the re-consent lifts the block.
    d1 = amended["just_started"].visits.get(code="D1")
    with pytest.raises(ValidationError, match=r"consent form version 2\.0 again"):
        enter(LabPanel, d1, coordinator, {**LABS, "anc": 3.0})
    assert not reconsent_due(reconsented(amended["just_started"], coordinator)).due
    assert enter(LabPanel, d1, coordinator, {**LABS, "anc": 3.0}).protocol_version == "2.0"


def test_the_odm_export_and_the_history_show_the_versions(amended: dict[str, Any], coordinator: Any) -> None:
    participant = reconsented(amended["before_w6"], coordinator)
    w6 = done(w6_of(participant), coordinator)
    new_panel = enter(LabPanel, w6, coordinator, {**LABS, "anc": 3.0})
    root = parsed(export(ExportScope(site_ids=all_sites(), identified=True, date_mode=DateMode.ACTUAL))[0])
    events = {
        mdv.get("OID"): {e.get("OID") for e in mdv.iter(f"{ODM}StudyEventDef")}
        for mdv in root.iter(f"{ODM}MetaDataVersion")
    }
    assert "SE.W6" in events["MDV.2.0"] and "SE.W6" not in events["MDV.1.0"]
    clinical = {c.get("MetaDataVersionOID"): c for c in root.findall(f"{ODM}ClinicalData")}
    assert form_data(clinical["MDV.1.0"], "F.LABS", amended["old_panel"].pk)
    assert not form_data(clinical["MDV.2.0"], "F.LABS", amended["old_panel"].pk)
    assert form_data(clinical["MDV.2.0"], "F.LABS", new_panel.pk)
    # The amendment's own history: proposed by the data manager, approved by the investigator with the reason.
    history = list(amended["version"].history.order_by("history_date").values_list("status", "history_user__username"))
    assert history[0] == ("proposed", "datamanager")
    assert ("approved", "investigator") in history
    assert amended["version"].history.filter(history_change_reason__contains="Ethics approval 2026/114").exists()
