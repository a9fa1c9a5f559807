"""A protocol amendment's changes, one plain-English line each, from two versions of the amendable protocol."""

from __future__ import annotations

import copy
from typing import Any

from clinical.amendments import GROUPS, ChangeKind, protocol_changes

LABELS = {"labs": "Laboratory panel", "vitals": "Vital signs", "mrss": "mRSS", "haq": "HAQ-DI"}


def version_1() -> dict[str, Any]:
    return {
        "visits": [
            {"code": "D1", "name": "Baseline", "target_day": 1, "days_before": 0, "days_after": 0,
             "forms": ["vitals", "labs", "mrss"]},
            {"code": "W4", "name": "Week 4", "target_day": 29, "days_before": 3, "days_after": 3,
             "forms": ["vitals", "labs"]},
            {"code": "W8", "name": "Week 8", "target_day": 57, "days_before": 7, "days_after": 7, "forms": ["labs"]},
        ],
        "follow_up": {"code": "FU", "name": "Safety follow-up", "days_after_last_dose": 28, "days_after": 7,
                      "forms": ["vitals"]},
        "lab_rules": {
            "A": [{"code": "BARI_ALC", "arm": "A", "test": "alc", "comparison": "<", "threshold": 0.5,
                   "action": "hold", "text": "ALC < 0.5: hold"}],
            "B": [{"code": "MTX_ALT", "arm": "B", "test": "alt", "comparison": ">", "threshold": 100.0,
                   "action": "hold and review", "text": "ALT > 100: hold"}],
        },
        "eligibility": {"min_mrss": 10, "min_hb_g_dl": 8.0, "max_disease_duration_months": 60},
        "consent_forms": [{"version": "1.0", "effective_from": "2025-05-01", "effective_to": None, "reconsent": False}],
    }  # fmt: skip


def test_the_same_protocol_has_no_changes() -> None:
    assert protocol_changes(version_1(), version_1(), LABELS) == []


def test_a_new_visit_is_one_line_with_its_day_window_and_forms() -> None:
    after = version_1()
    after["visits"].insert(2, {"code": "W6", "name": "Week 6", "target_day": 43, "days_before": 3, "days_after": 3,
                               "forms": ["labs"]})  # fmt: skip
    [change] = protocol_changes(version_1(), after, LABELS)
    assert change.kind is ChangeKind.VISIT_ADDED
    assert (change.subject, change.before, change.after) == ("W6", None, "day 43, ±3 days")
    assert change.text == "Visit W6 (day 43, ±3 days) added with Laboratory panel"
    assert (change.kind.group, change.kind.effect) == ("visits", "added")


def test_a_removed_visit_and_a_moved_one() -> None:
    after = version_1()
    del after["visits"][2]
    after["visits"][1].update(target_day=30, days_after=5)
    changes = protocol_changes(version_1(), after, LABELS)
    assert [change.text for change in changes] == [
        "Visit W4 moved from day 29, ±3 days to day 30, −3/+5 days",
        "Visit W8 (day 57, ±7 days) removed",
    ]
    assert [change.kind.effect for change in changes] == ["changed", "removed"]


def test_a_renamed_visit() -> None:
    after = version_1()
    after["visits"][1]["name"] = "Week 4 labs"
    [change] = protocol_changes(version_1(), after)
    assert change.text == "Visit W4 renamed from “Week 4” to “Week 4 labs”"


def test_forms_added_and_removed_per_visit_the_follow_up_included() -> None:
    after = version_1()
    after["visits"][1]["forms"] = ["vitals", "haq"]
    after["follow_up"]["forms"] = ["vitals", "labs"]
    changes = protocol_changes(version_1(), after, LABELS)
    assert [(change.kind, change.subject, change.text) for change in changes] == [
        (ChangeKind.FORM_ADDED, "W4: haq", "HAQ-DI added at visit W4"),
        (ChangeKind.FORM_REMOVED, "W4: labs", "Laboratory panel no longer asked at visit W4"),
        (ChangeKind.FORM_ADDED, "FU: labs", "Laboratory panel added at visit FU"),
    ]


def test_a_form_without_a_label_is_named_by_its_code() -> None:
    after = version_1()
    after["visits"][2]["forms"].append("pft")
    assert [c.text for c in protocol_changes(version_1(), after, LABELS)] == ["pft added at visit W8"]


def test_the_follow_up_window() -> None:
    after = version_1()
    after["follow_up"]["days_after_last_dose"] = 30
    [change] = protocol_changes(version_1(), after)
    assert change.text == (
        "Visit FU moved from 28 days after the last dose, +7 days to 30 days after the last dose, +7 days"
    )


def test_laboratory_rules_per_arm_by_code() -> None:
    after = version_1()
    after["lab_rules"]["A"][0]["threshold"] = 0.6
    after["lab_rules"]["A"].append({"code": "BARI_EGFR", "arm": "A", "test": "egfr", "comparison": "range",
                                    "threshold": 30.0, "low": 30.0, "high": 60.0, "action": "reduce"})  # fmt: skip
    after["lab_rules"]["B"] = []
    changes = protocol_changes(version_1(), after)
    assert [(change.kind, change.subject, change.before, change.after) for change in changes] == [
        (ChangeKind.LAB_RULE_CHANGED, "A: BARI_ALC", "alc < 0.5: hold", "alc < 0.6: hold"),
        (ChangeKind.LAB_RULE_ADDED, "A: BARI_EGFR", None, "egfr 30 to < 60: reduce"),
        (ChangeKind.LAB_RULE_REMOVED, "B: MTX_ALT", "alt > 100: hold and review", None),
    ]
    assert changes[0].text == "Laboratory rule BARI_ALC of arm A changed from alc < 0.5: hold to alc < 0.6: hold"


def test_a_rule_whose_action_changes() -> None:
    after = version_1()
    after["lab_rules"]["B"][0]["action"] = "stop"
    [change] = protocol_changes(version_1(), after)
    assert (change.before, change.after) == ("alt > 100: hold and review", "alt > 100: stop")


def test_a_rule_only_reworded() -> None:
    after = version_1()
    after["lab_rules"]["A"][0]["text"] = "ALC below 0.5: hold"
    [change] = protocol_changes(version_1(), after)
    assert change.kind is ChangeKind.LAB_RULE_CHANGED
    assert "reworded" in change.text


def test_eligibility_thresholds() -> None:
    after = version_1()
    after["eligibility"]["min_mrss"] = 12
    after["eligibility"]["min_hb_g_dl"] = 9.5
    changes = protocol_changes(version_1(), after)
    assert [change.text for change in changes] == [
        "Eligibility threshold min_mrss changed from 10 to 12",
        "Eligibility threshold min_hb_g_dl changed from 8 to 9.5",
    ]
    assert {change.kind.group for change in changes} == {"eligibility"}


def test_a_consent_version_added_that_needs_re_consent_and_the_old_one_ended() -> None:
    after = version_1()
    after["consent_forms"][0]["effective_to"] = "2027-01-14"
    after["consent_forms"].append(
        {"version": "2.0", "effective_from": "2027-01-15", "effective_to": None, "reconsent": True}
    )
    changes = protocol_changes(version_1(), after)
    assert [change.kind for change in changes] == [ChangeKind.CONSENT_CHANGED, ChangeKind.CONSENT_ADDED]
    assert changes[1].text == "Consent form version 2.0 (from 2027-01-15) added; re-consent required"
    assert changes[0].after == "from 2025-05-01 to 2027-01-14"


def test_a_consent_version_without_re_consent() -> None:
    after = version_1()
    after["consent_forms"].append({"version": "1.1", "effective_from": "2026-03-01", "reconsent": False})
    [change] = protocol_changes(version_1(), after)
    assert change.text == "Consent form version 1.1 (from 2026-03-01) added"


def test_changes_come_in_the_order_of_their_groups() -> None:
    after = copy.deepcopy(version_1())
    after["consent_forms"].append({"version": "2.0", "effective_from": "2027-01-15", "reconsent": True})
    after["eligibility"]["min_mrss"] = 12
    after["lab_rules"]["A"][0]["action"] = "stop"
    after["visits"][0]["forms"].append("haq")
    after["visits"].append({"code": "W12", "name": "Week 12", "target_day": 85, "days_before": 7, "days_after": 7})
    groups = [change.kind.group for change in protocol_changes(version_1(), after)]
    assert groups == list(GROUPS)
