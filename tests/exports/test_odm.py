"""The CDISC ODM 1.3.2 export: valid against the official schema, and replaying its transactions gives the data."""

from __future__ import annotations

import dataclasses
import importlib.resources
import io
import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from lxml import etree

from exports.audit_trail import value_text
from exports.catalogue import dataset, datasets, identifying_variables
from exports.odm import plans, write_odm
from exports.rows import columns, dataset_rows
from exports.scope import DateMode, ExportScope, date_shift_days
from monitoring.models import DataQuery, Signature
from monitoring.services.queries import query_answer, query_close
from monitoring.services.signatures import signature_sign
from screening import services as screening_services
from screening.models import Participant, ScreeningLabs
from tests.factories import DEFAULT_PASSWORD, make_site, make_user
from tests.monitoring.casebook import complete_casebook
from tests.screening.factories import register, save_form, screen_eligible
from trial_site.models import Site
from trial_site.protocol import PROTOCOL
from trial_site.roles import Role
from visits.crfs import VisitMrss

pytestmark = [pytest.mark.needs_postgres]

ODM = "{http://www.cdisc.org/ns/odm/v1.3}"


@cache
def odm_schema() -> etree.XMLSchema:
    path = importlib.resources.files("odmlib") / "schemas/odm/1.3.2/ODM1-3-2.xsd"
    with importlib.resources.as_file(path) as file:
        return etree.XMLSchema(etree.parse(str(file)))


def export(scope: ExportScope) -> tuple[bytes, dict[str, int], list[int]]:
    out = io.BytesIO()
    calls: list[int] = []
    counts = write_odm(scope, out, calls.append)
    return out.getvalue(), counts, calls


def parsed(data: bytes) -> etree._Element:
    root = etree.fromstring(data)
    schema = odm_schema()
    assert schema.validate(root), "\n".join(str(e) for e in schema.error_log[:10])
    return root


def all_sites() -> tuple[int, ...]:
    return tuple(Site.objects.values_list("pk", flat=True))


def item_types(root: etree._Element) -> dict[str, str]:
    return {item.get("OID"): item.get("DataType") for item in root.iter(f"{ODM}ItemDef")}


def typed(text: str, data_type: str) -> Any:
    """An ODM value read back as Python."""
    return {
        "integer": int,
        "float": float,
        "date": date.fromisoformat,
        "datetime": datetime.fromisoformat,
        "boolean": lambda t: {"true": True, "false": False}[t],
    }.get(data_type, str)(text)


def replay(root: etree._Element) -> dict[tuple[str, int], dict[str, Any]]:
    """Apply every ItemGroupData transaction in order: (form OID, record id) → item OID → value (typed)."""
    types = item_types(root)
    records: dict[tuple[str, int], dict[str, Any]] = {}
    for form in root.iter(f"{ODM}FormData"):
        key = (form.get("FormOID"), int(form.get("FormRepeatKey")))
        for group in form.iter(f"{ODM}ItemGroupData"):
            transaction = group.get("TransactionType")
            if transaction == "Remove":
                records.pop(key, None)
                continue
            values = {} if transaction in ("Insert", "Upsert") else dict(records[key])
            for item in group.iter(f"{ODM}ItemData"):
                oid = item.get("ItemOID")
                values[oid] = None if item.get("IsNull") == "Yes" else typed(item.get("Value"), types[oid])
            records[key] = values
    return records


def orm_value(record: Any, source: str) -> Any:
    value = record
    for name in source.split("__"):
        value = getattr(value, name) if value is not None else None
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return None if value == "" else value


def assert_replay_matches_database(root: etree._Element) -> int:
    """Every record of every dataset, item by item, against the ORM (an identified export with actual dates)."""
    records = replay(root)
    scope = ExportScope(site_ids=all_sites(), identified=True, free_text=True, date_mode=DateMode.ACTUAL)
    compared = 0
    for plan in plans(scope):
        model = plan.dataset.model
        expected_ids = set(model._default_manager.values_list("pk", flat=True))
        found_ids = {record_id for (form, record_id) in records if form == plan.form_oid}
        assert found_ids == expected_ids, plan.dataset.key
        for record in model._default_manager.all():
            values = records[(plan.form_oid, record.pk)]
            for variable in plan.items:
                expected = orm_value(record, variable.source)
                got = values.get(plan.item_oid(variable))
                if isinstance(expected, datetime):
                    assert got is not None and got == expected, (plan.dataset.key, variable.name)
                else:
                    assert got == expected, (plan.dataset.key, record.pk, variable.name, got, expected)
                compared += 1
    return compared


def assert_replay_matches_rows(root: etree._Element, scope: ExportScope) -> None:
    """The replayed values are, as text, the values the row reader gives every other format."""
    records = replay(root)
    raw: dict[tuple[str, int], dict[str, str]] = {}
    for form in root.iter(f"{ODM}FormData"):
        key = (form.get("FormOID"), int(form.get("FormRepeatKey")))
        for group in form.iter(f"{ODM}ItemGroupData"):
            if group.get("TransactionType") == "Remove":
                raw.pop(key, None)
                continue
            values = {} if group.get("TransactionType") in ("Insert", "Upsert") else dict(raw[key])
            for item in group.iter(f"{ODM}ItemData"):
                values[item.get("ItemOID")] = item.get("Value")
            raw[key] = values
    assert set(raw) == set(records)
    for plan in plans(scope):
        wanted = columns(plan.dataset, scope)
        names = [v.name for v in wanted]
        seen = 0
        for row in dataset_rows(plan.dataset, scope):
            by_name = dict(zip(names, row, strict=True))
            values = raw[(plan.form_oid, by_name["record_id"])]
            for variable in plan.items:
                expected = by_name[variable.name]
                expected = None if expected in (None, "") else value_text(expected)
                assert values.get(plan.item_oid(variable)) == expected, (plan.dataset.key, variable.name)
            seen += 1
        assert seen == sum(1 for form, _ in raw if form == plan.form_oid), plan.dataset.key


# --- Tests ----------------------------------------------------------------------------------------------------


def test_the_trial_exports_valid_odm_whose_transactions_give_the_database_values(trial: dict[str, Any]) -> None:
    scope = ExportScope(site_ids=all_sites(), identified=True, free_text=True, date_mode=DateMode.ACTUAL)
    data, counts, progress = export(scope)
    root = parsed(data)

    assert root.get("ODMVersion") == "1.3.2" and root.get("FileType") == "Transactional"
    assert root.findtext(f".//{ODM}StudyName") == PROTOCOL.short_title
    assert root.findtext(f".//{ODM}ProtocolName") == PROTOCOL.registration
    events = {e.get("OID") for e in root.iter(f"{ODM}StudyEventDef")}
    assert {f"SE.{v.code}" for v in PROTOCOL.visits} | {"SE.FU", "SE.UNS", "SE.SCREENING", "SE.COMMON"} <= events
    assert {f.get("OID") for f in root.iter(f"{ODM}FormDef")} == {f"F.{d.key}" for d in datasets()}
    assert root.find(f".//{ODM}SignatureDef/{ODM}Meaning").text == PROTOCOL.monitoring.signature_meaning
    hb = root.find(f".//{ODM}ItemDef[@OID='IT.SCRLABS.HB_G_DL']")
    assert hb.get("DataType") == "float" and hb.find(f"{ODM}MeasurementUnitRef") is not None
    assert {(r.get("Comparator"), r.get("SoftHard")) for r in hb.iter(f"{ODM}RangeCheck")} >= {("GE", "Soft")}
    sex = root.find(f".//{ODM}ItemDef[@OID='IT.PARTICIP.SEX']/{ODM}CodeListRef").get("CodeListOID")
    decodes = {i.get("CodedValue") for i in root.find(f".//{ODM}CodeList[@OID='{sex}']").iter(f"{ODM}CodeListItem")}
    assert decodes == {"F", "M"}

    assert assert_replay_matches_database(root) > 1000
    groups = {}
    for group in root.iter(f"{ODM}ItemGroupData"):
        groups[group.get("ItemGroupOID")] = groups.get(group.get("ItemGroupOID"), 0) + 1
    assert counts == {d.key: groups.get(f"IG.{d.key}", 0) for d in datasets()}
    assert sum(progress) == sum(counts.values())
    # The identified export names the participants.
    initials = {i.get("Value") for i in root.iter(f"{ODM}ItemData") if i.get("ItemOID") == "IT.PARTICIP.INITIALS"}
    assert initials == set(Participant.objects.values_list("initials", flat=True))


def test_a_de_identified_export_has_no_identifying_item_and_no_real_date(trial: dict[str, Any]) -> None:
    participants = list(Participant.objects.all())
    for mode in (DateMode.STUDY_DAY, DateMode.SHIFTED):
        scope = ExportScope(
            site_ids=all_sites(), identified=False, date_mode=mode, codes_as_labels=mode == DateMode.SHIFTED
        )
        data, _counts, _progress = export(scope)
        root = parsed(data)
        # What the clinical data say (the file's own creation time is today's date, like the fixture's dates).
        clinical = root.find(f"{ODM}ClinicalData")
        text = " ".join(
            [i.get("Value") or "" for i in clinical.iter(f"{ODM}ItemData")]
            + [t.text for t in clinical.iter(f"{ODM}DateTimeStamp")]
        )
        # Read from the marks, so a field marked later is covered.
        identifying = {
            f"IT.{dataset}.{name.upper()}" for dataset, names in identifying_variables().items() for name in names
        }
        oids = {i.get("OID") for i in root.iter(f"{ODM}ItemDef")} | {
            i.get("ItemOID") for i in root.iter(f"{ODM}ItemData")
        }
        assert not oids & identifying
        for person in participants:
            assert person.mobile_phone not in text
            assert person.date_of_birth.isoformat() not in text
        assert "MRK" not in text and "MRK" not in data.decode()
        assert "+8801712345678" not in data.decode()
        if mode == DateMode.STUDY_DAY:
            assert not {"date", "datetime"} & set(item_types(root).values())
        else:
            assert_every_date_shifted_back(root, scope, participants)
        assert_replay_matches_rows(root, scope)


def subject_dates(root: etree._Element) -> dict[tuple[str, str, str, str], Any]:
    """Every date and date-time item's last value: (subject, form OID, repeat key, item OID) → value."""
    types = item_types(root)
    found: dict[tuple[str, str, str, str], Any] = {}
    for subject in root.iter(f"{ODM}SubjectData"):
        for form in subject.iter(f"{ODM}FormData"):
            for item in form.iter(f"{ODM}ItemData"):
                oid = item.get("ItemOID")
                if types[oid] in ("date", "datetime") and item.get("IsNull") != "Yes":
                    key = (subject.get("SubjectKey"), form.get("FormOID"), form.get("FormRepeatKey"), oid)
                    found[key] = typed(item.get("Value"), types[oid])
    return found


def assert_every_date_shifted_back(root: etree._Element, scope: ExportScope, participants: list[Any]) -> None:
    """Item by item against the same export with actual dates: each participant's every date is moved back by
    that participant's own shift (1 to 365 days), so no real date of theirs is in it."""
    with_actual_dates = dataclasses.replace(scope, identified=True, date_mode=DateMode.ACTUAL)
    actual = subject_dates(parsed(export(with_actual_dates)[0]))
    shifted = subject_dates(root)
    assert shifted and shifted.keys() <= actual.keys()
    days = {p.screening_number: date_shift_days(p.pk, settings.SECRET_KEY) for p in participants}
    for key, value in shifted.items():
        assert 1 <= days[key[0]] <= 365
        assert value == actual[key] - timedelta(days=days[key[0]]), key


def edited_labs(site: Any, coordinator: Any, investigator: Any) -> tuple[ScreeningLabs, float]:
    """A participant's screening labs, changed once by the investigator with a reason; returns the old value."""
    participant = screen_eligible(register(site, coordinator), coordinator)
    labs = ScreeningLabs.objects.get(participant=participant)
    old = labs.hb_g_dl
    save_form(ScreeningLabs, participant, investigator, {"hb_g_dl": old + 1.5}, reason="lab report re-read")
    return ScreeningLabs.objects.get(pk=labs.pk), old


def test_an_edit_shows_both_versions_with_user_time_and_reason(site: Any, coordinator: Any, investigator: Any) -> None:
    labs, old = edited_labs(site, coordinator, investigator)
    scope = ExportScope(site_ids=(site.pk,), identified=True, date_mode=DateMode.ACTUAL)
    root = parsed(export(scope)[0])

    form = root.find(f".//{ODM}FormData[@FormOID='F.SCRLABS'][@FormRepeatKey='{labs.pk}']")
    groups = form.findall(f"{ODM}ItemGroupData")
    history = list(labs.history.order_by("history_date", "history_id"))
    assert [g.get("TransactionType") for g in groups] == ["Insert"] + ["Update"] * (len(history) - 1)
    first, last = groups[0], groups[-1]
    value = f"{ODM}ItemData[@ItemOID='IT.SCRLABS.HB_G_DL']"
    assert float(first.find(value).get("Value")) == old
    assert float(last.find(value).get("Value")) == labs.hb_g_dl == old + 1.5
    audit = last.find(f"{ODM}AuditRecord")
    assert audit.find(f"{ODM}UserRef").get("UserOID") == f"USR.{investigator.pk}"
    assert audit.find(f"{ODM}LocationRef").get("LocationOID") == f"LOC.{site.code}"
    assert audit.findtext(f"{ODM}ReasonForChange") == "lab report re-read"
    assert datetime.fromisoformat(audit.findtext(f"{ODM}DateTimeStamp")) == history[-1].history_date
    assert first.find(f"{ODM}AuditRecord/{ODM}UserRef").get("UserOID") == f"USR.{coordinator.pk}"
    assert first.find(f"{ODM}AuditRecord/{ODM}ReasonForChange") is None
    users = {u.get("OID"): u.findtext(f"{ODM}LoginName") for u in root.iter(f"{ODM}User")}
    assert users[f"USR.{investigator.pk}"] == investigator.username
    assert users[f"USR.{coordinator.pk}"] == coordinator.username


def test_a_cut_off_before_a_change_gives_the_old_value(site: Any, coordinator: Any, investigator: Any) -> None:
    labs, before = edited_labs(site, coordinator, investigator)
    later = ScreeningLabs.objects.get(pk=labs.pk)
    later.hb_g_dl = 14.0
    later._history_date = timezone.now() + timedelta(days=2)  # made after the cut-off day
    screening_services.screening_form_save(record=later, by=investigator, reason="second look")

    scope = ExportScope(site_ids=(site.pk,), cut_off=timezone.localdate(), identified=True, date_mode=DateMode.ACTUAL)
    root = parsed(export(scope)[0])
    replayed = replay(root)[("F.SCRLABS", labs.pk)]
    assert replayed["IT.SCRLABS.HB_G_DL"] == labs.hb_g_dl == before + 1.5
    reasons = [r.text for r in root.iter(f"{ODM}ReasonForChange")]
    assert "second look" not in reasons and "lab report re-read" in reasons
    assert_replay_matches_rows(root, scope)

    now = replay(parsed(export(ExportScope(site_ids=(site.pk,), identified=True, date_mode=DateMode.ACTUAL))[0]))
    assert now[("F.SCRLABS", labs.pk)]["IT.SCRLABS.HB_G_DL"] == 14.0


def test_signatures_in_force_appear_with_their_user_and_meaning(
    trial: dict[str, Any], coordinator: Any, investigator: Any, assessor: Any, user_with_role: Any
) -> None:
    for casebook in trial["randomised"][:2]:  # complete, as signing a casebook requires
        people = {"coordinator": coordinator, "investigator": investigator, "assessor": assessor}
        complete_casebook(casebook, **people, missed_reason="did not come")
    monitor = user_with_role(Role.MONITOR, username="monitor")  # the edit checks' queries, answered and closed
    for query in DataQuery.objects.filter(participant__in=trial["randomised"][:2], status=DataQuery.Status.OPEN):
        query_answer(query=query, by=investigator, text="checked against the source")
        query_close(query=query, by=monitor)
    participant = trial["randomised"][0]
    mrss = VisitMrss.objects.get(visit__participant=participant, visit__code="D1")
    signature_sign(scope="form", record=mrss, by=investigator, password=DEFAULT_PASSWORD)
    signature_sign(scope="visit", visit=mrss.visit, by=investigator, password=DEFAULT_PASSWORD)
    signature_sign(scope="casebook", participant=participant, by=investigator, password=DEFAULT_PASSWORD)
    other = trial["randomised"][1]
    stale = signature_sign(scope="casebook", participant=other, by=investigator, password=DEFAULT_PASSWORD)
    mrss_other = VisitMrss.objects.get(visit__participant=other, visit__code="D1")
    mrss_other.fingers_right = 3
    mrss_other.save(by=investigator, reason="re-examined")
    assert Signature.objects.get(pk=stale.pk).invalidated_at is not None

    root = parsed(export(ExportScope(site_ids=all_sites(), identified=True, date_mode=DateMode.ACTUAL))[0])
    meanings = {d.get("OID"): d.findtext(f"{ODM}Meaning") for d in root.iter(f"{ODM}SignatureDef")}
    subject = root.find(f".//{ODM}SubjectData[@SubjectKey='{participant.screening_number}']")
    signed = [
        subject.find(f"{ODM}Signature"),
        subject.find(f"{ODM}StudyEventData[@StudyEventOID='SE.D1']/{ODM}Signature"),
        subject.find(f".//{ODM}FormData[@FormOID='F.MRSS'][@FormRepeatKey='{mrss.pk}']/{ODM}Signature"),
    ]
    for element in signed:
        assert element.find(f"{ODM}UserRef").get("UserOID") == f"USR.{investigator.pk}"
        assert meanings[element.find(f"{ODM}SignatureRef").get("SignatureOID")] == PROTOCOL.monitoring.signature_meaning
    assert root.find(f".//{ODM}SubjectData[@SubjectKey='{other.screening_number}']/{ODM}Signature") is None


def test_the_demo_data_export_valid_odm_identified_and_de_identified(db: Any) -> None:
    call_command("seed_demo", verbosity=0)
    root = parsed(export(ExportScope(site_ids=all_sites(), identified=True, free_text=True, date_mode="actual"))[0])
    assert assert_replay_matches_database(root) > 1000
    assert root.find(f".//{ODM}Signature") is not None or not Signature.objects.filter(invalidated_at=None).exists()
    scope = ExportScope(site_ids=all_sites(), identified=False, date_mode=DateMode.SHIFTED)
    de_identified = parsed(export(scope)[0])
    assert_replay_matches_rows(de_identified, scope)
    assert dataset("PARTICIP").variable("initials").identifying


def test_chunks_of_two_write_the_same_file_with_subjects_in_screening_number_order(
    trial: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each dataset's history is read once, in the order the participants are written, and handed out a chunk of
    participants at a time: chunks of 2 write what one chunk writes, byte for byte, also where the screening
    numbers are not in the order of registration (a second site whose code sorts first registers last)."""
    import exports.odm

    other = make_site(code="ACT")
    other_coordinator = make_user("act-coordinator", role=Role.COORDINATOR, site=other)
    later = [screen_eligible(register(other, other_coordinator), other_coordinator) for _ in range(3)]
    scope = ExportScope(site_ids=all_sites(), identified=True, free_text=True, date_mode=DateMode.ACTUAL)

    def clinical(data: bytes) -> bytes:  # the file without its creation time (FileOID, CreationDateTime)
        return data[data.index(b"<Study ") :]

    whole = export(scope)[0]
    monkeypatch.setattr(exports.odm, "PARTICIPANTS_PER_CHUNK", 2)
    chunked = export(scope)[0]
    assert clinical(chunked) == clinical(whole)
    keys = [s.get("SubjectKey") for s in parsed(chunked).iter(f"{ODM}SubjectData")]
    numbers = sorted(Participant.objects.values_list("screening_number", flat=True))
    assert list(dict.fromkeys(keys)) == numbers
    assert keys[: len(later)] == sorted(p.screening_number for p in later)
