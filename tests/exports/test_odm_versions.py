"""The ODM export and protocol amendments: a MetaDataVersion per approved version, each with its own schedule, and
each form's data under the version it was made under."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.utils import timezone
from lxml import etree

from exports.scope import DateMode, ExportScope
from monitoring.services.signatures import signature_sign
from screening.models import Consent, Participant, ScreeningLabs
from tests.exports.conftest import score_mrss
from tests.exports.test_odm import ODM, all_sites, assert_replay_matches_database, export, parsed
from tests.factories import DEFAULT_PASSWORD
from tests.monitoring.casebook import complete_casebook
from tests.randomization.factories import list_in_use
from tests.screening.factories import register, screen_eligible
from tests.visits.test_schedule import randomised_on
from trial_site import registry
from trial_site.models import ProtocolVersion
from trial_site.protocol_versions import amendable, base_protocol
from visits.crfs import VisitMrss

pytestmark = [pytest.mark.needs_postgres]

WEEK_6 = {"code": "W6", "name": "Week 6 safety labs", "target_day": 43, "days_before": 3, "days_after": 3,
          "forms": ["labs"]}  # fmt: skip


def approve_week_6_amendment(by: Any, effective_from: date | None = None) -> ProtocolVersion:
    """Protocol 2.0, approved: version 1.0 with a week 6 safety-laboratory visit, in force from ``effective_from``
    (today by default: records made from now on are made under 2.0)."""
    content = amendable(base_protocol())
    content["visits"] = sorted([*content["visits"], WEEK_6], key=lambda visit: visit["target_day"])
    now = timezone.now()
    amendment = ProtocolVersion(
        version="2.0",
        effective_from=effective_from or timezone.localdate(),
        summary="A week 6 safety laboratory visit.",
        content=content,
        status=ProtocolVersion.Status.APPROVED,
        proposed_by=by,
        proposed_at=now,
        approved_by=by,
        approved_at=now,
        approval_reason="Ethics committee approval of amendment 1.",
    )
    amendment.save(by=by)
    return amendment


def metadata(root: etree._Element, version: str) -> etree._Element:
    found = root.findall(f".//{ODM}MetaDataVersion[@OID='MDV.{version}']")
    assert len(found) == 1, version
    return found[0]


def clinical_data(root: etree._Element) -> dict[str, etree._Element]:
    """MetaDataVersionOID → its ClinicalData (one each)."""
    found = root.findall(f"{ODM}ClinicalData")
    by_version = {c.get("MetaDataVersionOID"): c for c in found}
    assert len(by_version) == len(found)
    return by_version


def item_refs(mdv: etree._Element, key: str) -> set[str]:
    return {r.get("ItemOID") for r in mdv.find(f"{ODM}ItemGroupDef[@OID='IG.{key}']").iter(f"{ODM}ItemRef")}


def form_data(clinical: etree._Element, form_oid: str, record_id: int) -> list[etree._Element]:
    return clinical.findall(f".//{ODM}FormData[@FormOID='{form_oid}'][@FormRepeatKey='{record_id}']")


def test_each_approved_version_has_its_schedule_and_its_forms(site: Any, coordinator: Any, investigator: Any) -> None:
    participant = register(site, coordinator)  # before the amendment: made under 1.0
    approve_week_6_amendment(investigator)
    screen_eligible(Participant.objects.get(pk=participant.pk), coordinator)  # after it: under 2.0
    consent = Consent.objects.get(participant=participant)
    labs = ScreeningLabs.objects.get(participant=participant)
    assert (consent.protocol_version, labs.protocol_version) == ("1.0", "2.0")

    root = parsed(export(ExportScope(site_ids=all_sites(), identified=True, date_mode=DateMode.ACTUAL))[0])

    first, second = metadata(root, "1.0"), metadata(root, "2.0")
    assert (first.get("Name"), second.get("Name")) == ("Protocol version 1.0", "Protocol version 2.0")
    events = {
        version: {e.get("OID") for e in mdv.iter(f"{ODM}StudyEventDef")}
        for version, mdv in (("1.0", first), ("2.0", second))
    }
    assert "SE.W6" in events["2.0"] and "SE.W6" not in events["1.0"]
    assert events["2.0"] - events["1.0"] == {"SE.W6"}
    week_6 = second.find(f"{ODM}StudyEventDef[@OID='SE.W6']")
    labs_form = f"F.{registry.visit_form('labs').export_key}"
    assert {r.get("FormOID") for r in week_6.iter(f"{ODM}FormRef")} == {"F.VISIT", labs_form}
    order = [r.get("StudyEventOID") for r in second.iter(f"{ODM}StudyEventRef")]
    assert order.index("SE.W4") < order.index("SE.W6") < order.index("SE.W8")
    # A field the amendment's version asks (the vital signs' oxygen saturation, from 2.0) is only in 2.0's forms.
    vitals = registry.visit_form("vitals").export_key
    saturation = f"IT.{vitals}.OXYGEN_SATURATION"
    assert saturation in item_refs(second, vitals) and saturation not in item_refs(first, vitals)
    # Both versions define every form, so each version's data read alone.
    assert {f.get("OID") for f in first.iter(f"{ODM}FormDef")} == {f.get("OID") for f in second.iter(f"{ODM}FormDef")}

    refs = root.findall(f".//{ODM}Location[@OID='LOC.{site.code}']/{ODM}MetaDataVersionRef")
    assert [(r.get("MetaDataVersionOID"), r.get("EffectiveDate")) for r in refs] == [
        ("MDV.1.0", base_protocol().effective_from.isoformat()),
        ("MDV.2.0", timezone.localdate().isoformat()),
    ]

    clinical = clinical_data(root)
    assert set(clinical) == {"MDV.1.0", "MDV.2.0"}
    number = participant.screening_number
    for version in ("MDV.1.0", "MDV.2.0"):  # the participant has forms under both, so a SubjectData in each
        assert clinical[version].find(f"{ODM}SubjectData[@SubjectKey='{number}']") is not None
    assert len(form_data(clinical["MDV.1.0"], "F.CONSENT", consent.pk)) == 1
    assert not form_data(clinical["MDV.2.0"], "F.CONSENT", consent.pk)
    assert len(form_data(clinical["MDV.2.0"], "F.SCRLABS", labs.pk)) == 1
    assert not form_data(clinical["MDV.1.0"], "F.SCRLABS", labs.pk)
    # Nothing lost or doubled by splitting the data by version.
    assert assert_replay_matches_database(root) > 20


def test_an_export_cut_off_before_an_amendment_describes_only_the_versions_then_in_force(
    site: Any, coordinator: Any, investigator: Any
) -> None:
    register(site, coordinator)
    approve_week_6_amendment(investigator, effective_from=timezone.localdate() + timedelta(days=30))
    root = parsed(
        export(
            ExportScope(site_ids=all_sites(), cut_off=timezone.localdate(), identified=True, date_mode=DateMode.ACTUAL)
        )[0]
    )
    assert [m.get("OID") for m in root.iter(f"{ODM}MetaDataVersion")] == ["MDV.1.0"]
    assert list(clinical_data(root)) == ["MDV.1.0"]


def test_a_visit_scheduled_before_an_amendment_and_entered_after_it_is_in_both_versions_signed_in_the_newer(
    site: Any, coordinator: Any, investigator: Any, statistician: Any, assessor: Any
) -> None:
    list_in_use(statistician)
    participant = randomised_on(timezone.localdate() - timedelta(days=3), site, coordinator, investigator)
    approve_week_6_amendment(investigator)
    d1 = participant.visits.get(code="D1")
    score_mrss(d1, investigator, 1)  # the visit record (scheduled at randomisation) is 1.0's, the mRSS 2.0's
    mrss = VisitMrss.objects.get(visit=d1)
    assert (d1.protocol_version, mrss.protocol_version) == ("1.0", "2.0")
    # D1's other forms entered too, as signing the casebook requires
    complete_casebook(participant, coordinator=coordinator, investigator=investigator, assessor=assessor)
    signature_sign(scope="visit", visit=d1, by=investigator, password=DEFAULT_PASSWORD)
    signature_sign(scope="casebook", participant=participant, by=investigator, password=DEFAULT_PASSWORD)

    root = parsed(export(ExportScope(site_ids=all_sites(), identified=True, date_mode=DateMode.ACTUAL))[0])
    clinical = clinical_data(root)
    subject = {
        version: clinical[version].find(f"{ODM}SubjectData[@SubjectKey='{participant.screening_number}']")
        for version in ("MDV.1.0", "MDV.2.0")
    }
    event = {version: s.find(f"{ODM}StudyEventData[@StudyEventOID='SE.D1']") for version, s in subject.items()}
    assert form_data(event["MDV.1.0"], "F.VISIT", d1.pk) and not form_data(event["MDV.1.0"], "F.MRSS", mrss.pk)
    assert form_data(event["MDV.2.0"], "F.MRSS", mrss.pk) and not form_data(event["MDV.2.0"], "F.VISIT", d1.pk)
    # The visit's and the casebook's signatures: once each, with the newest version's data.
    assert event["MDV.2.0"].find(f"{ODM}Signature") is not None and event["MDV.1.0"].find(f"{ODM}Signature") is None
    assert subject["MDV.2.0"].find(f"{ODM}Signature") is not None and subject["MDV.1.0"].find(f"{ODM}Signature") is None
    assert assert_replay_matches_database(root) > 50
