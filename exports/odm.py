"""CDISC ODM 1.3.2 export: the study's metadata, the sites and staff, and the clinical data with their whole audit
trail and the investigators' signatures, in one XML file valid against the official ODM 1.3.2 schema.

The file is **transactional** (``FileType="Transactional"``). Each record (form instance) is one ``FormData``
(``FormRepeatKey`` = the record's id, the ``record_id`` of the other formats) holding one ``ItemGroupData`` per
version of the record, oldest first: ``Insert`` (created: every filled item), ``Update`` (changed: the items that
changed; an emptied item has ``IsNull="Yes"``), ``Remove`` (deleted), or ``Upsert`` for a first version the
history holds as a change. Each carries an ``AuditRecord``: the user, the site, the time in UTC and the reason
for change (free text: left out of a de-identified export unless free text is kept). Applying the versions in
order gives the values every other format gives: the current data, or with a cut-off the data as they stood at
its end (versions after it are left out). The container elements
(``SubjectData``, ``StudyEventData``, ``FormData``) are ``Upsert``.

Protocol versions (amendments): one ``MetaDataVersion`` per approved version (``MDV.1.0``, ``MDV.2.0``, …, named
"Protocol version 2.0"), each complete in itself (no ``Include``: an amendment may also drop a visit or a form, which
an included version cannot undo): its own ``Protocol``/``StudyEventDef``s from that version's schedule (a visit or
a form an amendment adds is only in its version and later ones) and the definitions of every form (an item a form
asks only from a later version, ``FormSpec.fields_since``, has no ``ItemRef`` in the earlier versions). Each
``Location`` names every version with a ``MetaDataVersionRef`` whose ``EffectiveDate`` is the version's effective
date. The clinical data are tied to the version each record was made under (``protocol_version``), the way ODM
1.3.2 does it: one ``ClinicalData`` per version that has data (``MetaDataVersionOID="MDV.2.0"``), and a participant
with forms under two versions has a ``SubjectData`` in each (a visit whose visit record was made under 1.0 and a
form of it under 2.0 has a ``StudyEventData`` in both). With a cut-off, the versions in force by then.

Where things are:

- ``SE.SCREENING``: the screening forms, the allocation; ``SE.<visit code>`` (``SE.D1`` … ``SE.W24``, ``SE.FU``,
  and ``SE.UNS`` repeating, keyed by the visit's id): the visit record (``F.VISIT``) and its case report forms;
  ``SE.COMMON``: everything not bound to a visit or screening (withdrawal, unblinding, concomitant medication
  log, end of study, adverse events, SAE reports, laboratory alerts; their visit, where they have one, is the
  item ``VISIT``).
- One ``FormDef`` ``F.<KEY>`` and ``ItemGroupDef`` ``IG.<KEY>`` per catalogue dataset, an ``ItemDef``
  ``IT.<KEY>.<NAME>`` per exported variable, a ``CodeList`` ``CL.<KEY>.<NAME>`` per coded one (codes as stored;
  with labels instead of codes there are no code lists, the values being the labels). The participant, site,
  visit and record id are the structure itself (``SubjectKey``, ``SiteRef``, the event, ``FormRepeatKey``); the
  derived study-day column of the other formats is left out (the dates themselves are there, or their study days).
- Values: dates and datetimes in ISO 8601 (datetimes in the site's time zone, with its offset), booleans
  ``true``/``false``, numbers as plain decimals; de-identification, date shifting or study days, codes or labels
  exactly as in the other formats (``rows.columns``/``rows.convert``). A de-identified export has no identifying
  ``ItemDef`` nor value at all. Audit times are real in an identified export with actual dates and shifted by
  the participant's days otherwise (``audit_trail.change_moment``).

Signatures: only signatures **in force** are written (at the cut-off, when there is one: signed by then and not
invalidated by then); an invalidated signature is left out, since the change that invalidated it is in the audit
records. Each sits where the schema puts a signature of what it covers: a casebook signature in the participant's
``SubjectData``, a visit signature in the visit's ``StudyEventData``, a form signature in the form's ``FormData``.
A casebook signature goes in the participant's ``SubjectData`` of the newest version they have forms under, a visit
signature in the visit's ``StudyEventData`` of the newest version with forms of that visit.
The schema allows one ``Signature`` per element, so a second signature of the same thing (another investigator)
goes in a repeated element of the same key with ``TransactionType="Context"``, holding only the signature. Each
distinct meaning is a ``SignatureDef`` (``SD.1`` the protocol's meaning).

Streaming: the XML is written piece by piece. Each dataset's history is read by one query for the whole export,
ordered as the participants are written (by screening number), and its rows are taken a few hundred participants
at a time (``VersionStream``); only that chunk's versions are held.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, BinaryIO
from xml.sax.saxutils import escape, quoteattr

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q
from django.utils import timezone, translation

from clinical.versions import version_key
from exports.audit_trail import change_moment, history_rows, history_versions, utc_text, value_text
from exports.catalogue import Dataset, Variable, datasets
from exports.formats import Progress, ProgressBatch, RowCounts
from exports.rows import Converter, Person, columns, cut_off_moment, people, value_converter, whole_result_plans
from exports.scope import ExportScope
from monitoring.models import Signature
from trial_site import registry
from trial_site.models import Site
from trial_site.protocol import PROTOCOL, Protocol
from trial_site.protocol_versions import approved_versions

NAMESPACE = "http://www.cdisc.org/ns/odm/v1.3"
PARTICIPANTS_PER_CHUNK = 200
SYSTEM_USER = "USR.SYSTEM"
SCREENING_FORMS = frozenset(
    {
        "PARTICIP",
        "CONSENT",
        "CLASSIF",
        "DISEASE",
        "SCRMRSS",
        "EXCLHIST",
        "SCRLABS",
        "ELIGCONF",
        "SCRFAIL",
        "DAY1BASE",
        "ALLOC",
    }
)
UNSCHEDULED = "UNS"
TRANSACTIONS = {"+": "Insert", "~": "Update", "-": "Remove"}
LEGAL_REASON = (
    "Electronic signature (21 CFR Part 11): the signer re-entered the password, and the one-time code where "
    "two-factor authentication is on."
)
# Characters XML 1.0 cannot carry at all.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# Characters that make a text need escaping (or cleaning) as an attribute value, and as element content.
_ATTRIBUTE_SPECIAL = re.compile('[&<>"\n\r\t\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]')
_TEXT_SPECIAL = re.compile("[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

STUDY_OID = "ST." + re.sub(r"[^A-Za-z0-9]", "", PROTOCOL.registration or "TRIAL")
# A ClinicalData element kept in memory up to this size, then in a temporary file, until the file is put together.
SPOOL_BYTES = 8 * 1024 * 1024


def metadata_oid(version: str) -> str:
    """The OID of the ``MetaDataVersion`` of protocol version ``version``: ``MDV.2.0``."""
    return f"MDV.{version}"


def protocol_versions(scope: ExportScope) -> list[Protocol]:
    """The protocol versions the export describes, in order: every approved one (with a cut-off, those in force by
    its end: a record cannot have been made under a later one)."""
    versions = approved_versions()
    if scope.cut_off is not None:
        versions = [p for p in versions if p.effective_from <= scope.cut_off] or versions[:1]
    return versions


# ---------------------------------------------------------------------------------------------------------------
# Writing XML piece by piece


class XmlWriter:
    """Elements written as they come to a binary stream, buffered in pieces of about 64 kB."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.open: list[str] = []
        self.parts: list[str] = []
        self.size = 0

    def _put(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(text)
        if self.size > 65536:
            self.flush()

    def flush(self) -> None:
        self.out.write("".join(self.parts).encode("utf-8"))
        self.parts, self.size = [], 0

    @staticmethod
    def _attributes(attributes: dict[str, Any]) -> str:
        return "".join(f" {name}={attribute(value)}" for name, value in attributes.items() if value is not None)

    def start(self, tag: str, **attributes: Any) -> None:
        self._put(f"<{tag}{self._attributes(attributes)}>")
        self.open.append(tag)

    def end(self, tag: str) -> None:
        assert self.open.pop() == tag, tag
        self._put(f"</{tag}>")

    def leaf(self, tag: str, text: str | None = None, **attributes: Any) -> None:
        if text is None:
            self._put(f"<{tag}{self._attributes(attributes)}/>")
        else:
            self._put(f"<{tag}{self._attributes(attributes)}>{element_text(text)}</{tag}>")

    def translated(self, tag: str, text: str) -> None:
        """``<tag><TranslatedText xml:lang="en">text</TranslatedText></tag>``"""
        self.start(tag)
        self.leaf("TranslatedText", text, **{"xml:lang": "en"})
        self.end(tag)


def clean(value: Any) -> str:
    return _NOT_XML.sub("", str(value))


def attribute(value: Any) -> str:
    """``value`` as a quoted attribute value: ``quoteattr(clean(value))``, which only text holding a character XML
    escapes or cannot carry needs (numbers, dates, codes and OIDs are written as they are)."""
    text = value if value.__class__ is str else str(value)
    if _ATTRIBUTE_SPECIAL.search(text) is None:
        return f'"{text}"'
    return quoteattr(clean(text))


def element_text(value: Any) -> str:
    """``value`` as element content: ``escape(clean(value))``, done only where a character needs it."""
    text = value if value.__class__ is str else str(value)
    if _TEXT_SPECIAL.search(text) is None:
        return text
    return escape(clean(text))


# ---------------------------------------------------------------------------------------------------------------
# Where each dataset goes, and its items


@dataclass(frozen=True)
class Plan:
    """A dataset as this export writes it: its event kind and the variables written as items."""

    dataset: Dataset
    placement: str  # "screening", "visit" or "common"
    items: tuple[Variable, ...]

    @property
    def form_oid(self) -> str:
        return f"F.{self.dataset.key}"

    @property
    def group_oid(self) -> str:
        return f"IG.{self.dataset.key}"

    def item_oid(self, variable: Variable) -> str:
        return f"IT.{self.dataset.key}.{variable.name.upper()}"

    def code_list_oid(self, variable: Variable) -> str:
        return f"CL.{self.dataset.key}.{variable.name.upper()}"


def _placement(dataset: Dataset) -> str:
    if dataset.visit_path == "" or dataset.participant_path.startswith("visit__"):
        return "visit"
    return "screening" if dataset.key in SCREENING_FORMS else "common"


def plans(scope: ExportScope) -> list[Plan]:
    found = []
    for dataset in datasets():
        placement = _placement(dataset)
        kept = columns(dataset, scope)
        items = [v for v in kept if not v.key]
        visit = next((v for v in kept if v.name == "visit"), None)
        if visit is not None and placement != "visit":
            items.insert(0, replace(visit, key=False, label="Visit"))
        found.append(Plan(dataset, placement, tuple(items)))
    return found


def _coded(variable: Variable, scope: ExportScope) -> bool:
    return bool(variable.codes) and not scope.codes_as_labels


def _number(value: float, data_type: str) -> str:
    if data_type == "integer" and float(value).is_integer():
        return str(int(value))
    return value_text(float(value))


# ---------------------------------------------------------------------------------------------------------------
# Study: global variables, units, metadata


def _visit_events(protocol: Protocol) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(code, name, type, form codes) of each visit event of ``protocol``, scheduled then unscheduled."""
    events = [(v.code, v.name, "Scheduled", v.forms) for v in protocol.visit_definitions()]
    events.append((UNSCHEDULED, "Unscheduled visit", "Unscheduled", ()))
    return events


def _form_code(plan: Plan) -> str | None:
    """The registry's code of the plan's form (``labs``), or None for a dataset that is not a declared form."""
    form = registry.of_model(plan.dataset.model)
    return form.code if form is not None else None


def _event_forms(all_plans: list[Plan], protocol: Protocol) -> list[tuple[str, str, str, str, list[Plan]]]:
    """(OID, name, type, repeating, plans) of every study event of ``protocol``, in the order of its schedule; a
    visit's forms are those the version asks at it (the visit record itself at every visit)."""
    by_placement = defaultdict(list)
    for plan in all_plans:
        by_placement[plan.placement].append(plan)
    events = [("SE.SCREENING", "Screening", "Scheduled", "No", by_placement["screening"])]
    visit_plans = by_placement["visit"]
    for code, name, kind, forms in _visit_events(protocol):
        wanted = [p for p in visit_plans if p.dataset.visit_path == "" or _form_code(p) in forms]
        if code == UNSCHEDULED:
            wanted = visit_plans
        events.append((f"SE.{code}", str(name), kind, "Yes" if code == UNSCHEDULED else "No", wanted))
    events.append(("SE.COMMON", "Any time during the study", "Common", "No", by_placement["common"]))
    return events


def _units(all_plans: list[Plan]) -> dict[str, str]:
    units: dict[str, str] = {}
    for plan in all_plans:
        for variable in plan.items:
            if variable.unit and variable.unit not in units:
                units[variable.unit] = f"MU.{len(units) + 1}"
    return units


def _write_study(
    xml: XmlWriter, scope: ExportScope, all_plans: list[Plan], units: dict[str, str], versions: list[Protocol]
) -> None:
    xml.start("Study", OID=STUDY_OID)
    xml.start("GlobalVariables")
    xml.leaf("StudyName", PROTOCOL.short_title)
    xml.leaf("StudyDescription", PROTOCOL.title)
    xml.leaf("ProtocolName", PROTOCOL.registration)
    xml.end("GlobalVariables")
    if units:
        xml.start("BasicDefinitions")
        for unit, oid in units.items():
            xml.start("MeasurementUnit", OID=oid, Name=unit)
            xml.translated("Symbol", unit)
            xml.end("MeasurementUnit")
        xml.end("BasicDefinitions")
    for protocol in versions:
        _write_metadata_version(xml, scope, all_plans, units, protocol)
    xml.end("Study")


def _asked(plan: Plan, variable: Variable, version: str) -> bool:
    """Whether a form made under ``version`` asks the variable: a field an amendment adds (the registry's
    ``fields_since``) is not in the earlier versions."""
    form = registry.of_model(plan.dataset.model)
    since = form.spec.fields_since.get(variable.name) if form is not None else None
    return since is None or version_key(version) >= version_key(since)


def _write_metadata_version(
    xml: XmlWriter, scope: ExportScope, all_plans: list[Plan], units: dict[str, str], protocol: Protocol
) -> None:
    """One protocol version's ``MetaDataVersion``: its schedule (events and the forms of each), all definitions."""
    xml.start("MetaDataVersion", OID=metadata_oid(protocol.version), Name=f"Protocol version {protocol.version}",
              Description=_description(scope))  # fmt: skip
    events = _event_forms(all_plans, protocol)
    xml.start("Protocol")
    for order, (oid, *_rest) in enumerate(events, 1):
        xml.leaf("StudyEventRef", StudyEventOID=oid, OrderNumber=order, Mandatory="No")
    xml.end("Protocol")
    for oid, name, kind, repeating, event_plans in events:
        xml.start("StudyEventDef", OID=oid, Name=name, Repeating=repeating, Type=kind)
        for order, plan in enumerate(event_plans, 1):
            xml.leaf("FormRef", FormOID=plan.form_oid, OrderNumber=order, Mandatory="No")
        xml.end("StudyEventDef")
    for plan in all_plans:
        repeating = "No" if plan.placement == "visit" else ("Yes" if plan.dataset.repeating else "No")
        xml.start("FormDef", OID=plan.form_oid, Name=plan.dataset.label, Repeating=repeating)
        xml.leaf("ItemGroupRef", ItemGroupOID=plan.group_oid, OrderNumber=1, Mandatory="Yes")
        xml.end("FormDef")
    for plan in all_plans:
        xml.start("ItemGroupDef", OID=plan.group_oid, Name=plan.dataset.label, Repeating="No",
                  SASDatasetName=plan.dataset.key)  # fmt: skip
        asked = [v for v in plan.items if _asked(plan, v, protocol.version)]
        for order, variable in enumerate(asked, 1):
            xml.leaf("ItemRef", ItemOID=plan.item_oid(variable), OrderNumber=order, Mandatory="No")
        xml.end("ItemGroupDef")
    for plan in all_plans:
        for variable in plan.items:
            _write_item_def(xml, plan, variable, scope, units)
    for plan in all_plans:
        for variable in plan.items:
            if not _coded(variable, scope):
                continue
            data_type = "integer" if variable.data_type == "integer" else "text"
            xml.start("CodeList", OID=plan.code_list_oid(variable), Name=f"{plan.dataset.key} {variable.name}",
                      DataType=data_type)  # fmt: skip
            for code, label in variable.codes:
                xml.start("CodeListItem", CodedValue=code)
                xml.translated("Decode", label)
                xml.end("CodeListItem")
            xml.end("CodeList")
    xml.end("MetaDataVersion")


def _description(scope: ExportScope) -> str:
    kind = "identified" if scope.identified else "de-identified"
    cut_off = f", data as at the end of {scope.cut_off.isoformat()}" if scope.cut_off else ""
    labels = ", codes as labels" if scope.codes_as_labels else ""
    return f"{PROTOCOL.title} — {kind} export, dates: {scope.date_mode}{labels}{cut_off}"


def _write_item_def(xml: XmlWriter, plan: Plan, variable: Variable, scope: ExportScope, units: dict[str, str]) -> None:
    data_type = variable.data_type
    length = variable.length if data_type == "text" and variable.length else None
    xml.start("ItemDef", OID=plan.item_oid(variable), Name=variable.name, DataType=data_type, Length=length,
              SASFieldName=variable.short_name or None)  # fmt: skip
    xml.translated("Question", variable.label)
    if variable.unit:
        xml.leaf("MeasurementUnitRef", MeasurementUnitOID=units[variable.unit])
    if data_type in ("integer", "float"):
        limits = (
            ("GE", "Hard", variable.minimum),
            ("LE", "Hard", variable.maximum),
            ("GE", "Soft", variable.soft_minimum),
            ("LE", "Soft", variable.soft_maximum),
        )
        for comparator, soft_hard, limit in limits:
            if limit is None:
                continue
            xml.start("RangeCheck", Comparator=comparator, SoftHard=soft_hard)
            xml.leaf("CheckValue", _number(limit, data_type))
            xml.end("RangeCheck")
    if _coded(variable, scope):
        xml.leaf("CodeListRef", CodeListOID=plan.code_list_oid(variable))
    xml.end("ItemDef")


# ---------------------------------------------------------------------------------------------------------------
# Admin data: users, sites, signature meanings


def user_oid(user_id: int | None) -> str:
    return SYSTEM_USER if user_id is None else f"USR.{user_id}"


def location_oid(site_code: str) -> str:
    return f"LOC.{site_code}"


def _signatures(scope: ExportScope, participant_ids: list[int] | None = None) -> Any:
    """The signatures in force in the scope (at the cut-off, when there is one)."""
    found = Signature.objects.filter(site_id__in=scope.site_ids)
    moment = cut_off_moment(scope)
    if moment is None:
        found = found.filter(invalidated_at__isnull=True)
    else:
        found = found.filter(Q(invalidated_at__isnull=True) | Q(invalidated_at__gt=moment), signed_at__lte=moment)
    if participant_ids is not None:
        found = found.filter(participant_id__in=participant_ids)
    return found


def _meanings(scope: ExportScope) -> dict[str, str]:
    meanings = {PROTOCOL.monitoring.signature_meaning: "SD.1"}
    for meaning in _signatures(scope).order_by("meaning").values_list("meaning", flat=True).distinct():
        meanings.setdefault(meaning, f"SD.{len(meanings) + 1}")
    return meanings


def _user_ids(scope: ExportScope, all_plans: list[Plan]) -> set[int | None]:
    ids: set[int | None] = set()
    for plan in all_plans:
        ids.update(history_rows(plan.dataset, scope).order_by().values_list("history_user_id", flat=True).distinct())
    ids.update(_signatures(scope).order_by().values_list("signed_by_id", flat=True).distinct())
    return ids


def _write_admin(
    xml: XmlWriter,
    sites: dict[int, Site],
    user_ids: set[int | None],
    meanings: dict[str, str],
    versions: list[Protocol],
) -> None:
    xml.start("AdminData", StudyOID=STUDY_OID)
    user_model = get_user_model()
    users = user_model._default_manager.filter(pk__in=[i for i in user_ids if i is not None]).order_by("pk")
    for user in users:
        xml.start("User", OID=user_oid(user.pk))
        xml.leaf("LoginName", user.get_username())
        xml.leaf("DisplayName", user.get_full_name() or user.get_username())
        xml.end("User")
    if None in user_ids:
        xml.start("User", OID=SYSTEM_USER, UserType="Other")
        xml.leaf("LoginName", "system")
        xml.end("User")
    for site in sorted(sites.values(), key=lambda s: s.code):
        xml.start("Location", OID=location_oid(site.code), Name=site.name, LocationType="Site")
        for protocol in versions:  # every version is in force at every site from its effective date
            xml.leaf("MetaDataVersionRef", StudyOID=STUDY_OID, MetaDataVersionOID=metadata_oid(protocol.version),
                     EffectiveDate=protocol.effective_from.isoformat())  # fmt: skip
        xml.end("Location")
    for meaning, oid in meanings.items():
        xml.start("SignatureDef", OID=oid, Methodology="Electronic")
        xml.leaf("Meaning", meaning)
        xml.leaf("LegalReason", LEGAL_REASON)
        xml.end("SignatureDef")
    xml.end("AdminData")


# ---------------------------------------------------------------------------------------------------------------
# Clinical data


@dataclass
class FormInstance:
    plan: Plan
    record_id: int
    versions: list[Any] = field(default_factory=list)  # audit_trail.Version, oldest first


@dataclass
class EventInstance:
    oid: str
    repeat_key: str | None
    order: tuple[int, int]
    forms: list[FormInstance] = field(default_factory=list)
    version: str = ""  # the protocol version its forms were made under (its ClinicalData's)


@dataclass
class SignatureMark:
    user_id: int
    site_id: int
    meaning: str
    at: datetime


@dataclass
class Chunk:
    """What a few hundred participants' ``SubjectData`` need, read one dataset at a time."""

    # participant → (protocol version, event OID, repeat key) → the event's forms made under that version
    events: dict[int, dict[tuple[str, str, str | None], EventInstance]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    casebook: dict[int, list[SignatureMark]] = field(default_factory=lambda: defaultdict(list))
    visit: dict[int, list[SignatureMark]] = field(default_factory=lambda: defaultdict(list))
    form: dict[tuple[str, int], list[SignatureMark]] = field(default_factory=lambda: defaultdict(list))


def _event_of(plan: Plan, version: Any) -> tuple[str, str | None, tuple[int, int]]:
    """(event OID, repeat key, order) of the record of ``version``."""
    if plan.placement == "screening":
        return "SE.SCREENING", None, (0, 0)
    if plan.placement == "common" or version.visit_code is None:
        return "SE.COMMON", None, (2, 0)
    repeat = str(version.visit_id) if version.visit_code == UNSCHEDULED else None
    return f"SE.{version.visit_code}", repeat, (1, version.visit_sequence or 0)


def version_in(versions: list[str], made_under: str | None) -> str:
    """The exported version a record made under ``made_under`` belongs to: that one, or for a version the export
    does not describe (none recorded, or not approved), the latest one before it (else the first)."""
    if made_under in versions:
        return made_under
    try:
        earlier = [v for v in versions if version_key(v) <= version_key(made_under or "")]
    except ValueError:
        earlier = []
    return earlier[-1] if earlier else versions[0]


class VersionStream:
    """One dataset's versions for the whole export, read once (one query) in the order the participants are
    written, and handed out a chunk of participants at a time."""

    def __init__(self, plan: Plan, scope: ExportScope, rank: dict[int, int]) -> None:
        self.plan, self.rank = plan, rank
        self.rows = history_versions(plan.dataset, scope, plan.items, by_number=True)
        self.ahead = next(self.rows, None)

    def take(self, first: int, end: int) -> Iterator[Any]:
        """The versions of the participants ranked ``first`` to ``end - 1`` (those of a participant outside the
        export are passed over)."""
        while self.ahead is not None:
            rank = self.rank.get(self.ahead.participant_id)
            if rank is not None:
                if rank >= end:
                    return
                if rank < first:  # the query's order is not the writing order: stop rather than lose data
                    raise RuntimeError(f"{self.plan.dataset.key}: participant {self.ahead.participant_id} out of order")
                yield self.ahead
            self.ahead = next(self.rows, None)


def _read_chunk(
    scope: ExportScope,
    streams: list[VersionStream],
    participant_ids: list[int],
    first: int,
    forms: dict[int, str],
    versions: list[str],
) -> Chunk:
    """What the participants ranked ``first`` onwards (``participant_ids``, in writing order) need: their versions
    from each dataset's stream, and their signatures (one query)."""
    chunk = Chunk()
    end = first + len(participant_ids)
    placed: dict[str | None, str] = {}  # a record's protocol version → the exported version it belongs to
    for stream in streams:
        plan = stream.plan
        current: FormInstance | None = None
        for version in stream.take(first, end):
            if current is None or current.record_id != version.record_id:
                oid, repeat, order = _event_of(plan, version)
                made_under = placed.get(version.protocol_version)
                if made_under is None:
                    made_under = placed[version.protocol_version] = version_in(versions, version.protocol_version)
                event = chunk.events[version.participant_id].setdefault(
                    (made_under, oid, repeat), EventInstance(oid, repeat, order, version=made_under)
                )
                current = FormInstance(plan, version.record_id)
                event.forms.append(current)
            current.versions.append(version)
    for signature in _signatures(scope, participant_ids).order_by("-signed_at", "-pk"):
        mark = SignatureMark(signature.signed_by_id, signature.site_id, signature.meaning, signature.signed_at)
        if signature.scope == Signature.Scope.CASEBOOK:
            chunk.casebook[signature.participant_id].append(mark)
        elif signature.scope == Signature.Scope.VISIT and signature.visit_id is not None:
            chunk.visit[signature.visit_id].append(mark)
        elif signature.content_type_id in forms and signature.object_id is not None:
            chunk.form[(forms[signature.content_type_id], signature.object_id)].append(mark)
    return chunk


class ClinicalWriter:
    """Writes ``SubjectData`` and counts the versions written per dataset.

    One ``ClinicalData`` per protocol version: each is written to its own spooled file (in memory up to
    ``SPOOL_BYTES``) while the participants are read once, and ``finish`` puts them in the file in version order."""

    def __init__(
        self,
        scope: ExportScope,
        sites: dict[int, Site],
        meanings: dict[str, str],
        progress: Progress,
        versions: list[str],
    ) -> None:
        self.scope, self.sites, self.meanings, self.progress = scope, sites, meanings, progress
        self.versions = versions
        self.files = {v: tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) for v in versions}  # noqa: SIM115
        self.writers = {v: XmlWriter(file) for v, file in self.files.items()}  # type: ignore[arg-type]
        self.used: set[str] = set()
        self.xml = self.writers[versions[0]]
        self.counts: RowCounts = {}
        self.batch = ProgressBatch(progress)
        self.item_columns: dict[str, list[ItemColumn]] = {}
        self.refs: dict[tuple[int | None, int], str] = {}
        # (dataset, transaction type) → ``<ItemGroupData …><AuditRecord>``; dataset → ``<FormData FormOID="…"``
        self.group_heads: dict[tuple[str, str], str] = {}
        self.form_heads: dict[str, str] = {}

    def finish(self, out: XmlWriter) -> None:
        """Each version's ``ClinicalData`` that has data, in order, to ``out`` (one for the first version when
        there are no data at all); the spooled files are closed."""
        out.flush()
        written = [v for v in self.versions if v in self.used] or self.versions[:1]
        for version in written:
            writer, file = self.writers[version], self.files[version]
            writer.flush()
            head = XmlWriter._attributes({"StudyOID": STUDY_OID, "MetaDataVersionOID": metadata_oid(version)})
            out.out.write(f"<ClinicalData{head}>".encode())
            file.seek(0)
            shutil.copyfileobj(file, out.out)
            out.out.write(b"</ClinicalData>")
        self.close()

    def close(self) -> None:
        for file in self.files.values():
            file.close()

    def signature(self, mark: SignatureMark, person: Person) -> None:
        xml = self.xml
        xml.start("Signature")
        xml.leaf("UserRef", UserOID=user_oid(mark.user_id))
        xml.leaf("LocationRef", LocationOID=location_oid(self.sites[mark.site_id].code))
        xml.leaf("SignatureRef", SignatureOID=self.meanings[mark.meaning])
        xml.leaf("DateTimeStamp", utc_text(change_moment(mark.at, person, self.scope)))
        xml.end("Signature")

    def subject(self, participant_id: int, person: Person, chunk: Chunk) -> None:
        """The participant's ``SubjectData`` in the ``ClinicalData`` of each version they have forms under. A
        casebook signature goes in that of the newest of them, a visit signature in the visit's event there."""
        events = sorted(chunk.events.get(participant_id, {}).values(), key=lambda e: (e.order, e.repeat_key or ""))
        by_version: dict[str, list[EventInstance]] = defaultdict(list)
        home: dict[int, str] = {}  # visit id → the newest version with forms of that visit
        for event in events:
            by_version[event.version].append(event)
            visit_id = _visit_id(event)
            if visit_id is not None and version_key(event.version) >= version_key(home.get(visit_id, "0")):
                home[visit_id] = event.version
        versions = sorted(by_version, key=version_key) or self.versions[:1]
        for version in versions:
            self.xml = self.writers[version]
            self.used.add(version)
            casebook = chunk.casebook.get(participant_id, []) if version == versions[-1] else []
            self.subject_data(person, by_version.get(version, []), casebook, chunk, home)

    def subject_data(
        self,
        person: Person,
        events: list[EventInstance],
        casebook: list[SignatureMark],
        chunk: Chunk,
        home: dict[int, str],
    ) -> None:
        xml = self.xml
        xml.start("SubjectData", SubjectKey=person.number, TransactionType="Upsert")
        if casebook:
            self.signature(casebook[0], person)
        xml.leaf("SiteRef", LocationOID=location_oid(person.site))
        for event in events:
            visit_id = _visit_id(event)
            signed = visit_id is not None and home.get(visit_id) == event.version
            self.event(event, person, chunk, chunk.visit.get(visit_id, []) if signed else [])  # type: ignore[arg-type]
        xml.end("SubjectData")
        for mark in casebook[1:]:
            xml.start("SubjectData", SubjectKey=person.number, TransactionType="Context")
            self.signature(mark, person)
            xml.end("SubjectData")

    def event(self, event: EventInstance, person: Person, chunk: Chunk, marks: list[SignatureMark]) -> None:
        xml = self.xml
        attributes = {"StudyEventOID": event.oid, "StudyEventRepeatKey": event.repeat_key}
        xml.start("StudyEventData", **attributes, TransactionType="Upsert")
        if marks:
            self.signature(marks[0], person)
        for form in event.forms:
            self.form(form, person, chunk)
        xml.end("StudyEventData")
        for mark in marks[1:]:
            xml.start("StudyEventData", **attributes, TransactionType="Context")
            self.signature(mark, person)
            xml.end("StudyEventData")

    def form(self, form: FormInstance, person: Person, chunk: Chunk) -> None:
        xml = self.xml
        plan = form.plan
        marks = chunk.form.get((plan.dataset.key, form.record_id), [])
        attributes = {"FormOID": plan.form_oid, "FormRepeatKey": str(form.record_id)}
        head = self.form_heads.get(plan.dataset.key)
        if head is None:
            head = self.form_heads[plan.dataset.key] = f"<FormData FormOID={attribute(plan.form_oid)}"
        # As ``xml.start`` writes it: a record id is a number, an attribute value without escaping.
        xml._put(f'{head} FormRepeatKey="{form.record_id}" TransactionType="Upsert">')
        if marks:
            self.signature(marks[0], person)
        previous: ItemState | None = None
        for version in form.versions:
            previous = self.version(plan, version, previous, person)
        xml._put("</FormData>")
        for mark in marks[1:]:
            xml.start("FormData", **attributes, TransactionType="Context")
            self.signature(mark, person)
            xml.end("FormData")

    def _items(self, plan: Plan) -> list[ItemColumn]:
        found = self.item_columns.get(plan.dataset.key)
        if found is None:
            found = self.item_columns[plan.dataset.key] = [item_column(plan, v, self.scope) for v in plan.items]
        return found

    def _audit_refs(self, user_id: int | None, site_id: int) -> str:
        """``<UserRef …/><LocationRef …/>`` of a user at a site, made once for each pair."""
        found = self.refs.get((user_id, site_id))
        if found is None:
            user = f"<UserRef UserOID={attribute(user_oid(user_id))}/>"
            location = f"<LocationRef LocationOID={attribute(location_oid(self.sites[site_id].code))}/>"
            found = self.refs[(user_id, site_id)] = user + location
        return found

    def version(self, plan: Plan, version: Any, previous: ItemState | None, person: Person) -> ItemState:
        """One ``ItemGroupData``; returns the items after it (for the next version's differences).

        Each item's text is made once per version by its column's converter (``item_column``), and only for an
        item whose stored value changed since the previous version; the element is put together as text."""
        items = self._items(plan)
        values = version.values
        raws = [values[item.name] for item in items]
        if previous is None:
            texts = [
                item.to_text(raw if item.converter is None else item.converter(raw, person))
                for item, raw in zip(items, raws, strict=True)
            ]
        else:
            texts = [
                before_text
                if raw.__class__ is before.__class__ and raw.__class__ in _SAME_VALUE_SAME_TEXT and raw == before
                else item.to_text(raw if item.converter is None else item.converter(raw, person))
                for item, raw, before, before_text in zip(items, raws, previous[0], previous[1], strict=True)
            ]
        transaction = TRANSACTIONS.get(version.action, "Upsert")
        if version.action == "~" and previous is None:
            transaction = "Upsert"
        head = self.group_heads.get((plan.dataset.key, transaction))
        if head is None:
            head = self.group_heads[(plan.dataset.key, transaction)] = (
                f"<ItemGroupData ItemGroupOID={attribute(plan.group_oid)} TransactionType={attribute(transaction)}>"
                "<AuditRecord>"
            )
        parts = [
            head,
            self._audit_refs(version.user_id, version.site_id),
            f"<DateTimeStamp>{element_text(utc_text(change_moment(version.at, person, self.scope)))}</DateTimeStamp>",
        ]
        if version.reason and (self.scope.identified or self.scope.free_text):  # free text: not de-identified
            parts.append(f"<ReasonForChange>{element_text(version.reason)}</ReasonForChange>")
        parts.append("</AuditRecord>")
        if transaction != "Remove":
            if previous is None or transaction == "Upsert":
                parts += [
                    f'{item.head}"{text}"/>' if item.plain else f"{item.head}{attribute(text)}/>"
                    for item, text in zip(items, texts, strict=True)
                    if text is not None
                ]
            else:
                for item, text, before_text in zip(items, texts, previous[1], strict=True):
                    if text != before_text:
                        parts.append(item.null if text is None else item.value(text))
        parts.append("</ItemGroupData>")
        self.xml._put("".join(parts))
        self.counts[plan.dataset.key] = self.counts.get(plan.dataset.key, 0) + 1
        self.batch.add()
        return raws, texts


# The stored values of a version's items and their texts (None: no value), for the next version's differences.
ItemState = tuple[list[Any], list[str | None]]
# Types whose equal values always give the same text (a float or a decimal may not: -0.0 and 0.0, 1.0 and 1.00).
_SAME_VALUE_SAME_TEXT = frozenset({str, int, bool, date, datetime, type(None)})


@dataclass(frozen=True)
class ItemColumn:
    """How one item of a dataset is written: its text from the stored value, and its ``ItemData`` element."""

    name: str
    converter: Converter | None  # ``rows.value_converter``'s (None: the value as read)
    to_text: Callable[[Any], str | None]  # the converted value → the item's text (``_item_text``)
    plain: bool  # its texts never need escaping (numbers, dates, booleans)
    head: str  # ``<ItemData ItemOID="…" Value=``
    null: str  # ``<ItemData ItemOID="…" IsNull="Yes"/>``

    def text(self, raw: Any, person: Person) -> str | None:
        """``_item_text(convert(…))`` of a stored value: the item's text, None for no value."""
        return self.to_text(raw if self.converter is None else self.converter(raw, person))

    def value(self, text: str) -> str:
        return f'{self.head}"{text}"/>' if self.plain else f"{self.head}{attribute(text)}/>"


def _text_of(kind: type | None) -> tuple[Callable[[Any], str | None], bool]:
    """``_item_text`` for values of type ``kind`` (and None), and whether its texts never need escaping."""
    if kind is int:
        return (lambda value: str(value) if value.__class__ is int else _item_text(value)), True
    if kind is str:
        return (lambda value: (value or None) if value.__class__ is str else _item_text(value)), False
    if kind is bool:
        return (lambda value: ("true" if value else "false") if value.__class__ is bool else _item_text(value)), True
    if kind is date or kind is datetime:
        return (lambda value: None if value is None else value.isoformat()), True
    if kind is float or kind is Decimal:
        return _item_text, True
    return _item_text, False


def item_column(plan: Plan, variable: Variable, scope: ExportScope) -> ItemColumn:
    """The item's ``ItemColumn``: ``rows.value_converter`` and the item's text folded into one function."""
    converter, kind = value_converter(plan.dataset, variable, scope)
    text, plain = _text_of(kind)
    oid = attribute(plan.item_oid(variable))
    return ItemColumn(
        variable.name,
        converter,
        text,
        plain,
        f"<ItemData ItemOID={oid} Value=",
        f'<ItemData ItemOID={oid} IsNull="Yes"/>',
    )


def _visit_id(event: EventInstance) -> int | None:
    """The id of the visit an event instance is (None for screening and common events)."""
    return next((f.versions[0].visit_id for f in event.forms if f.versions and f.plan.placement == "visit"), None)


def _item_text(value: Any) -> str | None:
    """An item's value as ODM writes it; None (no ItemData) for an empty one."""
    if value is None or value == "":
        return None
    return value_text(value)


def _chunks(ids: list[int], size: int) -> Iterator[tuple[int, list[int]]]:
    """(the position of the first, the ids) of each ``size`` ids in turn."""
    for start in range(0, len(ids), size):
        yield start, ids[start : start + size]


def write_odm(scope: ExportScope, out: BinaryIO, progress: Progress) -> RowCounts:
    """The ODM 1.3.2 file of ``scope`` to ``out``; returns the versions (``ItemGroupData``) written per dataset."""
    with translation.override("en"), whole_result_plans():
        persons = people(scope)
        all_plans = plans(scope)
        versions = protocol_versions(scope)
        sites = {site.pk: site for site in Site.objects.filter(pk__in=scope.site_ids)}
        units = _units(all_plans)
        meanings = _meanings(scope)
        forms = {
            ContentType.objects.get_for_model(plan.dataset.model, for_concrete_model=True).pk: plan.dataset.key
            for plan in all_plans
        }
        xml = XmlWriter(out)
        xml._put('<?xml version="1.0" encoding="UTF-8"?>\n')
        now = utc_text(timezone.now().replace(microsecond=0))
        moment = cut_off_moment(scope)
        xml.start(
            "ODM",
            xmlns=NAMESPACE,
            ODMVersion="1.3.2",
            FileType="Transactional",
            Granularity="All",
            FileOID=f"{STUDY_OID}.EXPORT.{now}",
            CreationDateTime=now,
            AsOfDateTime=utc_text(moment.astimezone(UTC)) if moment is not None and scope.identified else None,
            Originator=PROTOCOL.sponsor,
            SourceSystem="trial_site",
            Description=_description(scope),
        )
        _write_study(xml, scope, all_plans, units, versions)
        _write_admin(xml, sites, _user_ids(scope, all_plans), meanings, versions)
        version_names = [protocol.version for protocol in versions]
        clinical = ClinicalWriter(scope, sites, meanings, progress, version_names)
        clinical.counts = {plan.dataset.key: 0 for plan in all_plans}
        order = sorted(persons, key=lambda pk: (persons[pk].number, pk))
        rank = {participant_id: position for position, participant_id in enumerate(order)}
        streams = [VersionStream(plan, scope, rank) for plan in all_plans]
        try:
            for first, participant_ids in _chunks(order, PARTICIPANTS_PER_CHUNK):
                chunk = _read_chunk(scope, streams, participant_ids, first, forms, version_names)
                for participant_id in participant_ids:
                    clinical.subject(participant_id, persons[participant_id], chunk)
        except BaseException:
            clinical.close()
            raise
        clinical.finish(xml)
        xml.end("ODM")
        xml.flush()
    clinical.batch.flush()
    return clinical.counts
