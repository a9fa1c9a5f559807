"""What a protocol amendment changes: two versions' amendable protocol compared, one plain-English line per change.

``protocol_changes(before, after)`` takes two dicts as ``trial_site.protocol_versions.amendable`` writes them (the
visits with their forms, the safety follow-up, each arm's laboratory rules, the eligibility thresholds, the consent
form versions) and returns the changes in that order: visits added, removed or moved; forms added to or removed
from a visit; laboratory rules added, removed or changed (per arm, by rule code); eligibility thresholds changed;
consent form versions added (saying when everyone must consent again), removed or changed. No change: an empty list.

``form_labels`` (form code → name) lets the lines name forms as people know them ("Laboratory panel", not "labs").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from clinical.display import number


class ChangeKind(StrEnum):
    VISIT_ADDED = "visit_added"
    VISIT_REMOVED = "visit_removed"
    VISIT_CHANGED = "visit_changed"
    FORM_ADDED = "form_added"
    FORM_REMOVED = "form_removed"
    LAB_RULE_ADDED = "lab_rule_added"
    LAB_RULE_REMOVED = "lab_rule_removed"
    LAB_RULE_CHANGED = "lab_rule_changed"
    ELIGIBILITY_CHANGED = "eligibility_changed"
    CONSENT_ADDED = "consent_added"
    CONSENT_REMOVED = "consent_removed"
    CONSENT_CHANGED = "consent_changed"

    @property
    def group(self) -> str:
        """What it changes: ``visits``, ``forms``, ``lab_rules``, ``eligibility`` or ``consent``."""
        return _GROUP_OF[self.value.rsplit("_", 1)[0]]

    @property
    def effect(self) -> str:
        """``added``, ``removed`` or ``changed``."""
        return self.value.rsplit("_", 1)[1]


GROUPS = ("visits", "forms", "lab_rules", "eligibility", "consent")
_GROUP_OF = {
    "visit": "visits",
    "form": "forms",
    "lab_rule": "lab_rules",
    "eligibility": "eligibility",
    "consent": "consent",
}


@dataclass(frozen=True)
class Change:
    """One change: its kind, what it is about (a visit code, ``W4: labs``, ``A: BARI_ALC``, a threshold's name, a
    consent form version), the value before and after (None where there was or is none) and a line saying it."""

    kind: ChangeKind
    subject: str
    before: str | None
    after: str | None
    text: str


def protocol_changes(
    before: Mapping[str, Any], after: Mapping[str, Any], form_labels: Mapping[str, str] | None = None
) -> list[Change]:
    """The changes from ``before`` to ``after`` (both ``amendable()`` dicts), visits first, consent last."""
    labels = form_labels or {}
    return [
        *_visit_changes(before, after, labels),
        *_lab_rule_changes(before.get("lab_rules", {}), after.get("lab_rules", {})),
        *_eligibility_changes(before.get("eligibility", {}), after.get("eligibility", {})),
        *_consent_changes(before.get("consent_forms", []), after.get("consent_forms", [])),
    ]


# Visits and their forms ---------------------------------------------------------------------------------------------


def visit_timing(visit: Mapping[str, Any]) -> str:
    """``day 43, ±3 days``, ``day 57, −3/+7 days``, ``day 1``; the follow-up: ``28 days after the last dose, +7
    days``."""
    if "days_after_last_dose" in visit:
        return f"{visit['days_after_last_dose']} days after the last dose, +{visit['days_after']} days"
    early, late = visit.get("days_before", 0), visit.get("days_after", 0)
    window = "" if early == late == 0 else f", ±{early} days" if early == late else f", −{early}/+{late} days"
    return f"day {visit['target_day']}{window}"


def _names(codes: list[str], labels: Mapping[str, str]) -> str:
    return ", ".join(str(labels.get(code, code)) for code in codes)


def _visit_changes(before: Mapping[str, Any], after: Mapping[str, Any], labels: Mapping[str, str]) -> list[Change]:
    old = {visit["code"]: visit for visit in before.get("visits", [])}
    new = {visit["code"]: visit for visit in after.get("visits", [])}
    if before.get("follow_up") and after.get("follow_up"):
        old[before["follow_up"]["code"]] = before["follow_up"]
        new[after["follow_up"]["code"]] = after["follow_up"]
    visits: list[Change] = []
    forms: list[Change] = []
    for code, visit in new.items():
        if code not in old:
            timing = visit_timing(visit)
            with_forms = f" with {_names(visit.get('forms', []), labels)}" if visit.get("forms") else ""
            visits.append(
                Change(ChangeKind.VISIT_ADDED, code, None, timing, f"Visit {code} ({timing}) added{with_forms}")
            )
            continue
        was = old[code]
        if visit_timing(was) != visit_timing(visit):
            then, now = visit_timing(was), visit_timing(visit)
            visits.append(Change(ChangeKind.VISIT_CHANGED, code, then, now, f"Visit {code} moved from {then} to {now}"))
        if was.get("name") != visit.get("name"):
            then, now = was.get("name", ""), visit.get("name", "")
            text = f"Visit {code} renamed from “{then}” to “{now}”"
            visits.append(Change(ChangeKind.VISIT_CHANGED, code, then, now, text))
        old_forms, new_forms = list(was.get("forms", [])), list(visit.get("forms", []))
        for form in new_forms:
            if form not in old_forms:
                name = str(labels.get(form, form))
                text = f"{name} added at visit {code}"
                forms.append(Change(ChangeKind.FORM_ADDED, f"{code}: {form}", None, name, text))
        for form in old_forms:
            if form not in new_forms:
                name = str(labels.get(form, form))
                text = f"{name} no longer asked at visit {code}"
                forms.append(Change(ChangeKind.FORM_REMOVED, f"{code}: {form}", name, None, text))
    for code, visit in old.items():
        if code not in new:
            timing = visit_timing(visit)
            visits.append(Change(ChangeKind.VISIT_REMOVED, code, timing, None, f"Visit {code} ({timing}) removed"))
    return visits + forms


# Laboratory rules ---------------------------------------------------------------------------------------------------


def rule_condition(rule: Mapping[str, Any]) -> str:
    """``alc < 0.5``, ``egfr 30 to < 60``."""
    if rule.get("comparison") == "range":
        return f"{rule.get('test')} {_value(rule.get('low'))} to < {_value(rule.get('high'))}"
    return f"{rule.get('test')} {rule.get('comparison')} {_value(rule.get('threshold'))}"


def _rule_summary(rule: Mapping[str, Any]) -> str:
    action = rule.get("action") or ""
    return f"{rule_condition(rule)}: {action}" if action else rule_condition(rule)


def _lab_rule_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Change]:
    changes: list[Change] = []
    for arm in sorted(set(before) | set(after)):
        old = {rule["code"]: rule for rule in before.get(arm, [])}
        new = {rule["code"]: rule for rule in after.get(arm, [])}
        for code, rule in new.items():
            subject = f"{arm}: {code}"
            if code not in old:
                summary = _rule_summary(rule)
                text = f"Laboratory rule {code} of arm {arm} added ({summary})"
                changes.append(Change(ChangeKind.LAB_RULE_ADDED, subject, None, summary, text))
            elif _rule_summary(old[code]) != _rule_summary(rule):
                then, now = _rule_summary(old[code]), _rule_summary(rule)
                text = f"Laboratory rule {code} of arm {arm} changed from {then} to {now}"
                changes.append(Change(ChangeKind.LAB_RULE_CHANGED, subject, then, now, text))
            elif old[code].get("text", "") != rule.get("text", ""):
                then, now = old[code].get("text", ""), rule.get("text", "")
                text = f"Laboratory rule {code} of arm {arm} reworded from “{then}” to “{now}”"
                changes.append(Change(ChangeKind.LAB_RULE_CHANGED, subject, then, now, text))
        for code, rule in old.items():
            if code not in new:
                summary = _rule_summary(rule)
                text = f"Laboratory rule {code} of arm {arm} removed ({summary})"
                changes.append(Change(ChangeKind.LAB_RULE_REMOVED, f"{arm}: {code}", summary, None, text))
    return changes


# Eligibility and consent --------------------------------------------------------------------------------------------


def _value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return number(value)
    return str(value)


def _eligibility_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Change]:
    changes = []
    for key in [*before, *(key for key in after if key not in before)]:
        then, now = before.get(key), after.get(key)
        if then != now:
            text = f"Eligibility threshold {key} changed from {_value(then)} to {_value(now)}"
            changes.append(Change(ChangeKind.ELIGIBILITY_CHANGED, key, _value(then), _value(now), text))
    return changes


def consent_period(form: Mapping[str, Any]) -> str:
    """``from 2027-01-15``, ``from 2025-05-01 to 2027-01-14``."""
    until = f" to {form['effective_to']}" if form.get("effective_to") else ""
    return f"from {form.get('effective_from')}{until}"


def _consent_changes(before: list[Mapping[str, Any]], after: list[Mapping[str, Any]]) -> list[Change]:
    old = {form["version"]: form for form in before}
    new = {form["version"]: form for form in after}
    changes = []
    for version, form in new.items():
        subject = f"consent {version}"
        reconsent = "; re-consent required" if form.get("reconsent") else ""
        if version not in old:
            period = consent_period(form)
            text = f"Consent form version {version} ({period}) added{reconsent}"
            changes.append(Change(ChangeKind.CONSENT_ADDED, subject, None, period + reconsent, text))
            continue
        was = old[version]
        if consent_period(was) != consent_period(form) or bool(was.get("reconsent")) != bool(form.get("reconsent")):
            then = consent_period(was) + ("; re-consent required" if was.get("reconsent") else "")
            now = consent_period(form) + reconsent
            text = f"Consent form version {version} changed from {then} to {now}"
            changes.append(Change(ChangeKind.CONSENT_CHANGED, subject, then, now, text))
    for version, form in old.items():
        if version not in new:
            period = consent_period(form)
            text = f"Consent form version {version} ({period}) removed"
            changes.append(Change(ChangeKind.CONSENT_REMOVED, f"consent {version}", period, None, text))
    return changes
