"""Audit-trail review: every change to every clinical record (create, change, delete) with who, when, which
field, old → new and the reason, read from the simple-history rows of the clinical models.

A trail is a lazy, sliceable sequence of ``AuditEntry`` (``django.core.paginator.Paginator`` pages it). A page
costs a fixed number of queries whatever the length of the history: one count, one query for the keys of the
page's rows across all models (a ``UNION ALL`` ordered and sliced by the database; each part carries the id of
the previous history row of the same record as a subquery), then one fetch per model present on the page (its
rows and their previous rows together), one per linked model (visits, adverse events, allocations) and one per
kind of label (users, sites, participants, visits). simple-history's ``prev_record`` (one query a row) is not
used.

Protocol versions: each entry names the protocol version its record was made under (``protocol_version``, the
version in force at the site on the day the record was created), shown as a badge and a CSV column rather than as
a field entered. The site-level trails (``site_trail``: the recent changes and the site exports) also hold the
protocol amendments themselves (``amendment_source``: the history of ``ProtocolVersion``, proposed and approved,
by whom and why): they belong to the whole trial, not to a site or a participant, so every user who may review the
audit trail at a site sees them.

Masking: the fields a model marks identifying (``identifying_fields``) show as "(identifying: changed)"
to a viewer who may not see identifying data at the site (``trial_site.permissions.may_see_identifiers``, the
one rule every page follows), and always in an export; the arm of an
allocation (and its list slot) shows as "(blinded)" to a viewer without ``randomization.view_arm`` there.
"""

from __future__ import annotations

import datetime as dt
import functools
import heapq
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import connection, models
from django.db.models import F, IntegerField, JSONField, OuterRef, Q, Subquery, Value
from django.db.models.functions import JSONObject
from django.db.models.query import EmptyQuerySet
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from monitoring.selectors.records import record_url
from screening.models import Participant
from trial_site.audit.base import ClinicalRecord
from trial_site.models import Site
from trial_site.permissions import may_see_identifiers, user_can
from trial_site.reachable import may_open

PAGE_SIZE = 50
JSON_CHUNK = 40  # fields per JSON object of a history row (PostgreSQL: at most 100 arguments to a function)
MASKED = gettext_lazy("(identifying: changed)")
BLINDED = gettext_lazy("(blinded)")
# Bookkeeping every save changes; the entry already says who and when (and under which protocol version).
NOT_SHOWN = frozenset({"id", "created_at", "created_by", "modified_at", "modified_by", "protocol_version"})
# Fields that would reveal the arm to a blinded viewer.
ARM_FIELDS = {"randomization.allocation": frozenset({"arm", "slot"})}
ACTIONS = {"+": gettext_lazy("created"), "~": gettext_lazy("changed"), "-": gettext_lazy("deleted")}


# ---------------------------------------------------------------------------------------------------------------
# Where the history lives


@dataclass(frozen=True)
class AuditSource:
    """One clinical model and the way from its history rows to a participant: its own id (the participant),
    its ``participant_id``, or a link to a model that has one (``visit_id`` → Visit)."""

    model: type[models.Model]
    link: str
    via: type[models.Model] | None = None
    # The whole trial's, not a participant's nor a site's (protocol amendments): no site, no participant.
    trial_level: bool = False

    @property
    def key(self) -> str:
        return f"{self.model._meta.app_label}.{self.model._meta.model_name}"

    @property
    def name(self) -> str:
        name = str(self.model._meta.verbose_name)
        return name[:1].upper() + name[1:]

    @property
    def history(self) -> models.Manager:
        return self.model.history  # type: ignore[attr-defined]

    @functools.cached_property
    def fields(self) -> dict[str, models.Field]:
        """The fields shown in the trail, by name, in the form's order."""
        return {f.name: f for f in self.model._meta.concrete_fields if f.name not in NOT_SHOWN}

    def for_participant(self, participant_id: int) -> Q:
        if self.via is None:
            return Q(**{self.link: participant_id})
        linked = self.via.history.filter(participant_id=participant_id).values("id")  # type: ignore[attr-defined]
        return Q(**{f"{self.link}__in": linked})


def _source_for(model: type[models.Model]) -> AuditSource | None:
    if model is Participant:
        return AuditSource(model, "id")
    names = {f.name: f for f in model._meta.concrete_fields}
    if "participant" in names:
        return AuditSource(model, "participant_id")
    for f in model._meta.concrete_fields:
        related = f.related_model if f.is_relation else None
        if (
            related is not None
            and related is not model
            and hasattr(related, "history")
            and "participant" in {g.name for g in related._meta.concrete_fields}
        ):
            return AuditSource(model, f.attname, related)
    return None


@functools.cache
def audit_sources() -> tuple[AuditSource, ...]:
    """Every clinical model with history that belongs to a participant, by app and name."""
    found = []
    for model in apps.get_models():
        if issubclass(model, ClinicalRecord) and hasattr(model, "history"):
            source = _source_for(model)
            if source is not None:
                found.append(source)
    return tuple(sorted(found, key=lambda s: s.key))


def audit_source(key: str) -> AuditSource | None:
    return next((source for source in audit_sources() if source.key == key), None)


@functools.cache
def amendment_source() -> AuditSource:
    """The protocol amendments' history (``ProtocolVersion``): part of the trial-level trail."""
    from trial_site.models import ProtocolVersion

    return AuditSource(ProtocolVersion, "", trial_level=True)


# ---------------------------------------------------------------------------------------------------------------
# Who looks


class AuditViewer:
    """What one user may see in the trail, per site (decided once per site)."""

    def __init__(self, user: Any, *, export: bool = False) -> None:
        self.user = user
        self.export = export
        self._identifying: dict[int, bool] = {}
        self._arm: dict[int, bool] = {}

    def sees_identifying(self, site: Site) -> bool:
        if self.export:
            return False
        if site.pk not in self._identifying:
            self._identifying[site.pk] = may_see_identifiers(self.user, site)
        return self._identifying[site.pk]

    def opens(self, url: str, site: Site | None) -> str:
        """``url`` when the user may open it (``trial_site.reachable``), else "": a record named, not linked."""
        return url if url and may_open(self.user, url, site) else ""

    def sees_arm(self, site: Site) -> bool:
        if site.pk not in self._arm:
            self._arm[site.pk] = user_can(self.user, "randomization.view_arm", site)
        return self._arm[site.pk]


def sites_for_review(user: Any) -> list[Site]:
    """The sites whose audit trail ``user`` may review."""
    from trial_site.scoping import scope_to_user_sites

    return [s for s in scope_to_user_sites(Site.objects.all(), user) if user_can(user, "monitoring.review_audit", s)]


# ---------------------------------------------------------------------------------------------------------------
# What is shown


@dataclass(frozen=True)
class FieldChange:
    name: str
    label: str
    old: str
    new: str
    masked: bool = False


@dataclass
class AuditEntry:
    source: AuditSource
    history_id: int
    at: dt.datetime
    action: str
    object_id: int
    site: Site | None  # None for a trial-level entry (a protocol amendment)
    participant_number: str
    form_label: str
    user: str
    reason: str
    changes: list[FieldChange] = field(default_factory=list)
    record_url: str = ""
    # The protocol version the record was made under (an amendment: the version it proposes); "" if none recorded.
    protocol_version: str = ""

    @property
    def action_label(self) -> str:
        return str(ACTIONS.get(self.action, self.action))

    @property
    def site_code(self) -> str:
        return self.site.code if self.site is not None else ""

    @property
    def site_time(self) -> str:
        local = self.at.astimezone(_time_zone(self.site))
        return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()}"

    @property
    def utc_time(self) -> str:
        return f"{self.at.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC"


def _time_zone(site: Site | None) -> dt.tzinfo:
    """The site's time zone; the trial's (the server's) for what belongs to no site."""
    return ZoneInfo(site.time_zone) if site is not None else timezone.get_default_timezone()


@dataclass(frozen=True)
class AuditFilters:
    form: str = ""
    user_id: int | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None  # exclusive
    field: str = ""


def day_bounds(
    date_from: dt.date | None, date_to: dt.date | None, tz: dt.tzinfo
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """``[from 00:00, day after to 00:00)`` in ``tz``: a range of whole days as the site counts them."""
    start = dt.datetime.combine(date_from, dt.time.min, tzinfo=tz) if date_from else None
    end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min, tzinfo=tz) if date_to else None
    return start, end


# ---------------------------------------------------------------------------------------------------------------
# The trail


class AuditTrail:
    """The changes within ``scopes`` (a condition on the history rows per source) that pass ``filters``, newest
    first (or oldest first), as a sliceable sequence of ``AuditEntry``."""

    def __init__(
        self,
        *,
        scopes: dict[AuditSource, Q],
        viewer: AuditViewer,
        filters: AuditFilters | None = None,
        newest_first: bool = True,
    ) -> None:
        self.viewer = viewer
        self.filters = filters or AuditFilters()
        self.newest_first = newest_first
        self.sources = [s for s in scopes if self._applies(s)]
        self.scopes = scopes

    def _applies(self, source: AuditSource) -> bool:
        if self.filters.form and source.key != self.filters.form:
            return False
        return not (self.filters.field and self.filters.field not in source.fields)

    def _part(self, index: int, source: AuditSource) -> models.QuerySet:
        rows = source.history.filter(self.scopes[source])
        if self.filters.user_id is not None:
            rows = rows.filter(history_user_id=self.filters.user_id)
        if self.filters.start is not None:
            rows = rows.filter(history_date__gte=self.filters.start)
        if self.filters.end is not None:
            rows = rows.filter(history_date__lt=self.filters.end)
        if self.filters.field:
            # Only the field filter compares each row with the one before it in SQL. Otherwise the previous row is
            # found for the rows of one page only (``entries_for``): a correlated subquery over every row of a
            # site's history made the recent changes take minutes at 5,000 participants.
            earlier = source.history.filter(id=OuterRef("id"), history_id__lt=OuterRef("history_id")).order_by(
                "-history_id"
            )
            rows = rows.annotate(prev_id=Subquery(earlier.values("history_id")[:1]))
            rows = rows.annotate(prev_value=Subquery(earlier.values(source.fields[self.filters.field].attname)[:1]))
            rows = rows.filter(_field_changed(source.fields[self.filters.field]))
        return (
            rows.order_by()
            .values("history_id", "history_date", "id")
            .annotate(source_index=Value(index, output_field=IntegerField()))
        )

    def _keys(self, upto: int | None = None) -> models.QuerySet | None:
        """The keys of every entry in the trail's order (date, source, id). With ``upto``, for a page ending
        there: each source gives only its first ``upto`` rows in that order (each read from the history date's
        index), which hold the first ``upto`` of all; without it the whole history of the scope was sorted for
        the first page (0.25 s at 50,000 participants, growing with the trial)."""
        parts = [self._part(index, source) for index, source in enumerate(self.sources)]
        if not parts:
            return None
        direction = "-" if self.newest_first else ""
        if upto and connection.features.supports_slicing_ordering_in_compound:  # [:0] would make a part empty
            parts = [part for part in parts if not isinstance(part, EmptyQuerySet)] or parts[:1]
            if len(parts) > 1:
                parts = [part.order_by(f"{direction}history_date", f"{direction}history_id")[:upto] for part in parts]
        combined = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
        return combined.order_by(*(f"{direction}{name}" for name in ("history_date", "source_index", "history_id")))

    @functools.cached_property
    def _count(self) -> int:
        keys = self._keys()
        return keys.count() if keys is not None else 0

    def count(self) -> int:
        return self._count

    def capped_count(self, cap: int) -> int:
        """The number of entries, counting no further than ``cap + 1`` (one query)."""
        keys = self._keys()
        return keys.order_by()[: cap + 1].count() if keys is not None else 0

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: slice) -> list[AuditEntry]:
        if not isinstance(index, slice):
            raise TypeError("an audit trail is read by slices (pages)")
        keys = self._keys(upto=index.stop if index.stop is not None and index.stop >= 0 else None)
        return entries_for(list(keys[index]) if keys is not None else [], self.sources, self.viewer, self.filters)

    def chunks(self, size: int = 500) -> Iterator[list[AuditEntry]]:
        """All entries, ``size`` at a time (for exports), in the order of the pages.

        Each history table is read by keyset pages, ``size`` rows after the last one read in the order of
        ``(history_date, history_id)`` (the history date is indexed), and the tables are merged as the pages'
        query orders them (date, source, id). Every row is read once: the cost grows with the rows, where slicing
        the ``UNION`` by ``OFFSET`` sorted the whole history again for every chunk."""
        streams = [self._keyset_rows(index, source, size) for index, source in enumerate(self.sources)]
        merged = heapq.merge(
            *streams,
            key=lambda key: (key["history_date"], key["source_index"], key["history_id"]),
            reverse=self.newest_first,
        )
        while chunk := list(itertools.islice(merged, size)):
            yield entries_for(chunk, self.sources, self.viewer, self.filters)

    def _keyset_rows(self, index: int, source: AuditSource, size: int) -> Iterator[dict[str, Any]]:
        """The keys of one source's rows in the trail's order, read ``size`` at a time after the last one read."""
        rows = self._part(index, source)
        newest = self.newest_first
        order = ("-history_date", "-history_id") if newest else ("history_date", "history_id")
        page = rows
        while True:
            found = list(page.order_by(*order)[:size])
            yield from found
            if len(found) < size:
                return
            at, last = found[-1]["history_date"], found[-1]["history_id"]
            if newest:
                page = rows.filter(history_date__lte=at).exclude(history_date=at, history_id__gte=last)
            else:
                page = rows.filter(history_date__gte=at).exclude(history_date=at, history_id__lte=last)


def _field_changed(model_field: models.Field) -> Q:
    """History rows where ``model_field`` changed from the previous row (``prev_value``), or was set at
    creation, or removed at deletion."""
    name = model_field.attname
    has_value = Q(**{f"{name}__isnull": False})
    if isinstance(model_field, models.CharField | models.TextField):
        has_value &= ~Q(**{name: ""})
    differs = (
        Q(prev_value__isnull=True, **{f"{name}__isnull": False})
        | Q(prev_value__isnull=False, **{f"{name}__isnull": True})
        | (Q(prev_value__isnull=False, **{f"{name}__isnull": False}) & ~Q(prev_value=F(name)))
    )
    whole = Q(history_type__in=["+", "-"]) | Q(history_type="~", prev_id__isnull=True)  # no earlier row to compare
    return (whole & has_value) | (Q(history_type="~", prev_id__isnull=False) & differs)


def participant_trail(
    *, participant: Participant, viewer: AuditViewer, filters: AuditFilters | None = None, newest_first: bool = True
) -> AuditTrail:
    return AuditTrail(
        scopes={source: source.for_participant(participant.pk) for source in audit_sources()},
        viewer=viewer,
        filters=filters,
        newest_first=newest_first,
    )


def site_trail(
    *, sites: list[Site], viewer: AuditViewer, filters: AuditFilters | None = None, newest_first: bool = True
) -> AuditTrail:
    """The changes at ``sites``, with the protocol amendments (the trial's, in force at every site)."""
    site_ids = [s.pk for s in sites]
    scopes = {source: Q(site_id__in=site_ids) for source in audit_sources()}
    scopes[amendment_source()] = Q()
    return AuditTrail(
        scopes=scopes,
        viewer=viewer,
        filters=filters,
        newest_first=newest_first,
    )


def record_field_trail(
    *, participant: Participant, source: AuditSource, object_id: int, field_name: str, viewer: AuditViewer
) -> AuditTrail:
    """The history of one field of one record of the participant, newest first."""
    return AuditTrail(
        scopes={source: source.for_participant(participant.pk) & Q(id=object_id)},
        viewer=viewer,
        filters=AuditFilters(form=source.key, field=field_name),
    )


# ---------------------------------------------------------------------------------------------------------------
# From history rows to entries (a fixed number of queries per page)


def _json_of(attnames: list[str]) -> JSONObject:
    """The values of ``attnames`` of a history row as one JSON object (nested by ``JSON_CHUNK`` names: PostgreSQL's
    ``jsonb_build_object`` takes at most 100 arguments)."""
    chunks = [attnames[i : i + JSON_CHUNK] for i in range(0, len(attnames), JSON_CHUNK)] or [[]]
    return JSONObject(**{f"p{n}": JSONObject(**{name: F(name) for name in chunk}) for n, chunk in enumerate(chunks)})


def _row_attnames(source: AuditSource) -> list[str]:
    """What an entry reads of a history row besides its keys: the fields shown, the link to the participant, the site,
    the visit and the protocol version (or, for an amendment, its version)."""
    names = [f.attname for f in source.fields.values()]
    extra = ["id", "version"] if source.trial_level else ["id", "site_id", source.link]
    concrete = {f.attname for f in source.history.model._meta.concrete_fields}
    extra += [
        name for name in ("visit_id", "protocol_version", "adverse_event_id", "screening_number") if name in concrete
    ]
    return list(dict.fromkeys(name for name in [*names, *extra] if name in concrete))


def _fetch_rows(keys: list[dict[str, Any]], sources: list[AuditSource]) -> dict[tuple[int, int], tuple[Any, Any]]:
    """(source index, history id) → (the row, the row before it of the same record or None), for the page's keys,
    whatever forms they are of: one query (a ``UNION ALL`` over the history tables on the page; each part's rows
    come as JSON with the previous row's, found by a subquery for these rows only)."""
    by_source: dict[int, list[int]] = {}
    for key in keys:
        by_source.setdefault(key["source_index"], []).append(key["history_id"])
    parts = []
    for index, ids in sorted(by_source.items()):
        source = sources[index]
        names = _row_attnames(source)
        earlier = source.history.filter(id=OuterRef("id"), history_id__lt=OuterRef("history_id")).order_by(
            "-history_id"
        )
        parts.append(
            source.history.filter(history_id__in=ids)
            .order_by()
            .values("history_id", "history_date", "history_type", "history_user_id", "history_change_reason")
            .annotate(
                source_index=Value(index, output_field=IntegerField()),
                data=_json_of(names),
                previous=Subquery(earlier.values(json=_json_of(names))[:1], output_field=JSONField()),
            )
        )
    if not parts:
        return {}
    query = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    found = {}
    for values in query:
        source = sources[values["source_index"]]
        row = _HistoryRow.of(source, values, values["data"])
        previous = values["previous"]
        found[(values["source_index"], values["history_id"])] = (
            row,
            _HistoryRow.of(source, values, previous) if previous else None,
        )
    return found


class _HistoryRow:
    """A history row read as JSON: its keys and the values of its fields (as the model's fields read them)."""

    @classmethod
    def of(cls, source: AuditSource, keys: dict[str, Any], data: Any) -> _HistoryRow:
        if isinstance(data, str):
            data = json.loads(data)
        row = cls()
        for name in ("history_id", "history_date", "history_type", "history_user_id", "history_change_reason"):
            setattr(row, name, keys[name])
        fields = {f.attname: f for f in source.history.model._meta.concrete_fields}
        for chunk in data.values():
            for name, value in chunk.items():
                setattr(row, name, _python(fields.get(name), value))
        if isinstance(row.history_date, str):
            row.history_date = _python(fields["history_date"], row.history_date)
        return row


def _python(model_field: models.Field | None, value: Any) -> Any:
    """A value read from JSON as the field holds it (dates and times from their text, a boolean from 0/1)."""
    if value is None or model_field is None:
        return value
    if isinstance(model_field, models.JSONField):
        return value
    if isinstance(model_field, models.DateTimeField) and isinstance(value, str):
        parsed = dt.datetime.fromisoformat(value)
        return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, dt.UTC)
    if isinstance(model_field, models.DecimalField | models.FloatField) and isinstance(value, int | float | str):
        return model_field.to_python(value)
    try:
        return model_field.to_python(value)
    except Exception:
        return value


def entries_for(
    keys: list[dict[str, Any]], sources: list[AuditSource], viewer: AuditViewer, filters: AuditFilters
) -> list[AuditEntry]:
    """The entries of a page's keys, in a fixed number of queries whatever forms they are of: the rows with their
    previous rows (1), the labels (sites, users, participants, visits: 1 each at most), the records still there
    (1)."""
    if not keys:
        return []
    fetched = _fetch_rows(keys, sources)

    # Raw differences first, collecting the ids that need a label.
    label_ids: dict[type[models.Model], set[int]] = {}
    via_ids: dict[type[models.Model], set[int]] = {}
    object_ids: dict[int, set[int]] = {}
    raw: list[tuple[dict[str, Any], Any, list[tuple[models.Field, Any, Any]]]] = []
    for key in keys:
        source = sources[key["source_index"]]
        row, previous = fetched[(key["source_index"], key["history_id"])]
        differences = _differences(source, row, previous)
        if filters.field:
            differences = [d for d in differences if d[0].name == filters.field]
        raw.append((key, row, differences))
        object_ids.setdefault(key["source_index"], set()).add(row.id)
        if not source.trial_level:
            label_ids.setdefault(Site, set()).add(row.site_id)
        if row.history_user_id is not None:
            label_ids.setdefault(get_user_model(), set()).add(row.history_user_id)
        if source.via is not None:
            via_ids.setdefault(source.via, set()).add(getattr(row, source.link))
        if "visit" in source.fields:
            label_ids.setdefault(source.fields["visit"].related_model, set()).add(row.visit_id)
        for model_field, old, new in differences:
            if model_field.is_relation:
                label_ids.setdefault(model_field.related_model, set()).update(v for v in (old, new) if v is not None)

    visit_model = apps.get_model("visits", "Visit")
    visit_ids = label_ids.pop(visit_model, set())
    direct = {
        _participant_id(sources[key["source_index"]], row, {})
        for key, row, _ in raw
        if sources[key["source_index"]].via is None
    }
    participant_of, visit_codes, participant_numbers = _owners(via_ids, visit_model, visit_ids, direct - {None})
    labels = {model: _labels(model, ids) for model, ids in label_ids.items()}
    labels[visit_model] = {"label": visit_codes}
    labels[Participant] = {"label": participant_numbers}
    live = _live_ids(object_ids, sources)

    entries = []
    for key, row, differences in raw:
        source = sources[key["source_index"]]
        site = None if source.trial_level else labels[Site]["object"][row.site_id]
        participant_id = _participant_id(source, row, participant_of)
        participant_number = labels[Participant]["label"].get(participant_id, "")
        form_label = source.name
        if "visit" in source.fields and row.visit_id is not None:
            form_label = f"{form_label}, {labels[visit_model]['label'].get(row.visit_id, '')}"
        url = ""
        if source.trial_level:
            url = _amendment_url(row.version)
        elif (key["source_index"], row.id) in live:
            url = _url(_record_stub(source, row, participant_id, participant_number))
        entries.append(
            AuditEntry(
                source=source,
                history_id=row.history_id,
                at=row.history_date,
                action=row.history_type,
                object_id=row.id,
                site=site,
                participant_number=participant_number,
                form_label=form_label,
                user=labels.get(get_user_model(), {}).get("label", {}).get(row.history_user_id, ""),
                reason=row.history_change_reason or "",
                changes=[_shown(source, site, viewer, labels, *difference) for difference in differences],
                record_url=viewer.opens(url, site),
                protocol_version=(row.version if source.trial_level else getattr(row, "protocol_version", "")) or "",
            )
        )
    return entries


def _owners(
    via_ids: dict[type[models.Model], set[int]],
    visit_model: type[models.Model],
    visit_ids: set[int],
    direct: set[int],
) -> tuple[dict[type[models.Model], dict[int, int]], dict[int, str], dict[int, str]]:
    """In one query (a ``UNION ALL`` of the history tables): the participant of each linked record (a visit form's
    visit, an SAE report's adverse event), the visits' codes, and the screening numbers of the participants named
    directly (``direct``) or through those links. History rows, so that deleted records are still named."""
    wanted = dict(via_ids)
    wanted[visit_model] = set(wanted.get(visit_model, set())) | visit_ids
    models_in = sorted(wanted, key=lambda model: model._meta.label)
    text = models.CharField()
    parts = []
    through = Q(id__in=sorted(direct))
    for index, model in enumerate(models_in):
        history = model.history  # type: ignore[attr-defined]
        ids = sorted(i for i in wanted[model] if i is not None)
        label = F("code") if model is visit_model else Value("", output_field=text)
        parts.append(
            history.filter(id__in=ids)
            .order_by()
            .values_list(Value(index, output_field=IntegerField()), "id", "participant_id", label)
            .distinct()
        )
        through |= Q(id__in=history.filter(id__in=ids).values("participant_id"))
    parts.append(
        Participant.history.filter(through)
        .order_by()
        .values_list(Value(-1, output_field=IntegerField()), "id", "id", "screening_number")
        .distinct()
    )
    participant_of: dict[type[models.Model], dict[int, int]] = {model: {} for model in models_in}
    codes: dict[int, str] = {}
    numbers: dict[int, str] = {}
    for index, pk, owner, label in parts[0].union(*parts[1:], all=True):
        if index == -1:
            numbers[pk] = label
            continue
        participant_of[models_in[index]][pk] = owner
        if models_in[index] is visit_model:
            codes[pk] = label
    return participant_of, codes, numbers


def _live_ids(object_ids: dict[int, set[int]], sources: list[AuditSource]) -> set[tuple[int, int]]:
    """(source index, id) of the records on the page that still exist (not deleted): one query."""
    parts = [
        sources[index]
        .model._default_manager.filter(pk__in=sorted(ids))
        .order_by()
        .values_list(Value(index, output_field=IntegerField()), "pk")
        for index, ids in sorted(object_ids.items())
        if not sources[index].trial_level
    ]
    if not parts:
        return set()
    query = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    return set(query)


def _record_stub(source: AuditSource, row: Any, participant_id: Any, participant_number: str) -> models.Model:
    """The record as far as its page's address needs it (its id, visit, adverse event, participant's number), built
    from its history row rather than read again."""
    names = {f.attname for f in source.model._meta.concrete_fields}
    values = {
        name: getattr(row, name) for name in ("visit_id", "adverse_event_id", "screening_number") if name in names
    }
    record = source.model(pk=row.id, **values)
    if "participant_id" in names and participant_id is not None:
        record.participant = Participant(pk=participant_id, screening_number=participant_number)
    return record


def _differences(source: AuditSource, row: Any, previous: Any) -> list[tuple[models.Field, Any, Any]]:
    """(field, old, new) for each field that differs from the previous row; every filled field at creation
    (old: None) and at deletion (new: None)."""
    found = []
    for model_field in source.fields.values():
        value = getattr(row, model_field.attname)
        if row.history_type == "+" or (row.history_type == "~" and previous is None):
            if value not in (None, ""):
                found.append((model_field, None, value))
        elif row.history_type == "-":
            if value not in (None, ""):
                found.append((model_field, value, None))
        else:
            old = getattr(previous, model_field.attname)
            if old != value:
                found.append((model_field, old, value))
    return found


def _participant_id(source: AuditSource, row: Any, participant_of: dict[type[models.Model], dict[int, int]]) -> Any:
    if source.trial_level:
        return None
    if source.via is not None:
        return participant_of.get(source.via, {}).get(getattr(row, source.link))
    return getattr(row, source.link)


def _labels(model: type[models.Model], ids: set[int]) -> dict[str, dict[int, Any]]:
    """Labels (and, for sites, the objects) of the ids, in one query; history for records that may be gone."""
    if model is Site:
        objects = {s.pk: s for s in Site.objects.filter(pk__in=ids)}
        return {"object": objects, "label": {pk: s.code for pk, s in objects.items()}}
    if model is get_user_model():
        return {"label": dict(model._default_manager.filter(pk__in=ids).values_list("pk", model.USERNAME_FIELD))}
    if model is Participant:
        return {
            "label": dict(
                Participant.history.filter(id__in=ids).order_by().values_list("id", "screening_number").distinct()
            )
        }
    if model._meta.label_lower == "visits.visit":
        return {"label": dict(model.history.filter(id__in=ids).order_by().values_list("id", "code").distinct())}  # type: ignore[attr-defined]
    return {"label": {}}


def _amendment_url(version: str) -> str:
    """The page of a protocol version (what it changes, its approval)."""
    try:
        return reverse("protocol_version", args=[version])
    except NoReverseMatch:
        return ""


def _url(record: models.Model) -> str:
    try:
        return record_url(record)
    except NoReverseMatch:
        return ""


def _shown(
    source: AuditSource,
    site: Site | None,
    viewer: AuditViewer,
    labels: dict[type[models.Model], dict[str, dict[int, Any]]],
    model_field: models.Field,
    old: Any,
    new: Any,
) -> FieldChange:
    label = str(model_field.verbose_name)
    label = label[:1].upper() + label[1:]
    hidden = None
    identifying = model_field.name in getattr(source.model, "identifying_fields", ())
    if identifying and (site is None or not viewer.sees_identifying(site)):
        hidden = str(MASKED)
    elif model_field.name in ARM_FIELDS.get(source.key, ()) and (site is None or not viewer.sees_arm(site)):
        hidden = str(BLINDED)
    if hidden is not None:
        return FieldChange(
            model_field.name, label, hidden if old is not None else "", hidden if new is not None else "", True
        )
    return FieldChange(
        model_field.name,
        label,
        display_value(model_field, old, site, labels),
        display_value(model_field, new, site, labels),
    )


def display_value(
    model_field: models.Field,
    value: Any,
    site: Site | None,
    labels: dict[type[models.Model], dict[str, dict[int, Any]]],
) -> str:
    """A stored value as the form shows it: the label of a coded value, yes/no, a user's name, site time."""
    if value is None:
        return ""
    if model_field.is_relation:
        return str(labels.get(model_field.related_model, {}).get("label", {}).get(value, f"#{value}"))
    if model_field.flatchoices:
        return str(dict(model_field.flatchoices).get(value, value))
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, dt.datetime):
        local = value.astimezone(_time_zone(site)) if timezone.is_aware(value) else value
        return f"{local:%Y-%m-%d %H:%M:%S}"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float | Decimal):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


# ---------------------------------------------------------------------------------------------------------------
# CSV export

CSV_COLUMNS = (
    "utc_time", "site_time", "site", "participant", "form", "record_id", "protocol_version", "action", "field", "old",
    "new", "user", "reason",
)  # fmt: skip


FORMULA_STARTS = "=+-@\t\r"


def csv_cell(value: str) -> str:
    """Text a spreadsheet would run as a formula is prefixed with an apostrophe (the OWASP rule): a cell starting
    with =, +, -, @, a tab or a carriage return, also after leading spaces or line breaks (some spreadsheets trim
    them). Numbers stay numbers (``-2.5``); the one function every CSV of the application writes its text with."""
    first = value.lstrip(" \n\t\r\x0b\x0c\xa0")[:1]
    if value and (value[0] in FORMULA_STARTS or (first and first in FORMULA_STARTS)):
        try:
            float(value)
        except ValueError:
            return "'" + value
    return value


def csv_rows(entry: AuditEntry) -> list[list[str]]:
    """One line per changed field (one line with no field when nothing shown changed)."""
    head = [entry.utc_time, entry.site_time, entry.site_code, entry.participant_number, entry.source.key,
            str(entry.object_id), entry.protocol_version, entry.action_label]  # fmt: skip
    changes = entry.changes or [FieldChange("", "", "", "")]
    return [
        [csv_cell(cell) for cell in (*head, change.name, change.old, change.new, entry.user, entry.reason)]
        for change in changes
    ]
