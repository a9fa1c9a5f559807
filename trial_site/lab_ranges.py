"""Laboratory reference ranges: the range in force for a site, a test and a date (selectors), and recording one
(service).

The range in force on a date is the site's range of that test with the latest ``effective_from`` on or before the
date (the sample's date: the visit's); before a site's first range of a test, and for every test it has not
recorded, the protocol's default applies (``PROTOCOL.lab_reference``, the one place the defaults live). Another
site's ranges never count.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils.translation import gettext as _

from clinical.display import number
from trial_site.models import LabReferenceRange, Site
from trial_site.models.lab_ranges import ALT_UNIT, COUNT_UNIT, HB_UNIT, UNITS, LabTest
from trial_site.permissions import user_can
from trial_site.protocol import PROTOCOL

ADD_PERMISSION = "trial_site.add_labreferencerange"
CHANGE_PERMISSION = "trial_site.change_labreferencerange"
VIEW_PERMISSION = "trial_site.view_labreferencerange"


@dataclass(frozen=True)
class RangeInForce:
    """The limits that grade one test on one date, and where they come from: the site's range (``record``, in force
    from ``effective_from``) or the protocol's default (``record`` None)."""

    test: str
    lower: float | None
    upper: float | None
    unit: str
    effective_from: date | None = None
    record: LabReferenceRange | None = None

    @property
    def from_site(self) -> bool:
        return self.record is not None

    @property
    def lln(self) -> float | None:
        return self.lower

    @property
    def uln(self) -> float | None:
        return self.upper

    @property
    def limits(self) -> str:
        """ "4.0–10.0 ×10⁹/L", "≥ 4.0 ×10⁹/L" or "≤ 40 U/L"."""
        if self.lower is not None and self.upper is not None:
            return f"{number(self.lower)}–{number(self.upper)} {self.unit}"
        if self.lower is not None:
            return f"≥ {number(self.lower)} {self.unit}"
        return f"≤ {number(self.upper)} {self.unit}" if self.upper is not None else "—"

    @property
    def source(self) -> str:
        """Where the limits come from, in words: "site range from 2026-05-01" or "protocol default"."""
        if self.effective_from is not None:
            return _("site range from %(day)s") % {"day": self.effective_from.isoformat()}
        return _("protocol default")


def protocol_default(test: str) -> RangeInForce:
    """The protocol's default for ``test``: the limit that grades it, the other limit unknown."""
    limits = PROTOCOL.lab_reference
    lower = {
        LabTest.HAEMOGLOBIN_FEMALE: limits.hb_lln_female,
        LabTest.HAEMOGLOBIN_MALE: limits.hb_lln_male,
        LabTest.WHITE_CELLS: limits.wbc_lln,
        LabTest.NEUTROPHILS: limits.anc_lln,
        LabTest.LYMPHOCYTES: limits.alc_lln,
        LabTest.PLATELETS: limits.platelets_lln,
    }
    if test == LabTest.ALT:
        return RangeInForce(test=test, lower=None, upper=limits.alt_uln, unit=ALT_UNIT)
    unit = HB_UNIT if UNITS[LabTest(test)] == (HB_UNIT,) else COUNT_UNIT
    return RangeInForce(test=test, lower=lower[LabTest(test)], upper=None, unit=unit)


def haemoglobin_test(sex: str) -> str:
    """The haemoglobin range that applies to a participant of ``sex`` ("F" women, anything else men, as the
    protocol's defaults)."""
    return LabTest.HAEMOGLOBIN_FEMALE if sex == "F" else LabTest.HAEMOGLOBIN_MALE


def _in_force(record: LabReferenceRange) -> RangeInForce:
    return RangeInForce(
        test=record.test,
        lower=record.lower_limit,
        upper=record.upper_limit,
        unit=record.unit,
        effective_from=record.effective_from,
        record=record,
    )


class SiteLabRanges:
    """Every range of one site, read once; ``in_force`` answers for any test and date without another query."""

    def __init__(self, records: Iterable[LabReferenceRange]) -> None:
        by_test: dict[str, list[LabReferenceRange]] = defaultdict(list)
        for record in sorted(records, key=lambda r: r.effective_from):
            by_test[record.test].append(record)
        self._by_test = dict(by_test)

    def in_force(self, test: str, on: date) -> RangeInForce:
        """The range of ``test`` in force on ``on``: the latest effective on or before it, else the default."""
        records = self._by_test.get(test, [])
        index = bisect.bisect_right([record.effective_from for record in records], on)
        return _in_force(records[index - 1]) if index else protocol_default(test)

    def planned(self, test: str, after: date) -> list[RangeInForce]:
        """The ranges of ``test`` that come into force after ``after``, earliest first."""
        return [_in_force(record) for record in self._by_test.get(test, []) if record.effective_from > after]

    def superseded(self, test: str, on: date) -> list[RangeInForce]:
        """The ranges of ``test`` no longer in force on ``on`` (replaced by a later one), latest first."""
        current = self.in_force(test, on).record
        return [
            _in_force(record)
            for record in reversed(self._by_test.get(test, []))
            if record.effective_from <= on and record is not current
        ]


def site_lab_ranges(site: Site | int) -> SiteLabRanges:
    """All the laboratory reference ranges of one site (one query)."""
    site_id = site if isinstance(site, int) else site.pk
    return SiteLabRanges(LabReferenceRange.objects.filter(site_id=site_id))


def lab_range_in_force(*, site: Site | int, test: str, on: date) -> RangeInForce:
    """The range of ``test`` in force at ``site`` on ``on`` (the sample's date), or the protocol's default."""
    site_id = site if isinstance(site, int) else site.pk
    record = (
        LabReferenceRange.objects.filter(site_id=site_id, test=test, effective_from__lte=on)
        .order_by("-effective_from")
        .first()
    )
    return _in_force(record) if record is not None else protocol_default(test)


@dataclass(frozen=True)
class TestRanges:
    """One test's row on the site's page: the range in force today, those planned, those replaced."""

    test: LabTest
    in_force: RangeInForce
    planned: list[RangeInForce]
    superseded: list[RangeInForce]


def site_ranges_overview(site: Site, today: date) -> list[TestRanges]:
    """Every graded test of ``site`` with its range in force on ``today``, the planned and the replaced ones."""
    ranges = site_lab_ranges(site)
    return [
        TestRanges(
            test=test,
            in_force=ranges.in_force(test, today),
            planned=ranges.planned(test, today),
            superseded=ranges.superseded(test, today),
        )
        for test in LabTest
    ]


def lab_reference_range_save(*, record: LabReferenceRange, by: Any, reason: str | None = None) -> LabReferenceRange:
    """Record a new range or change one, for the site's data manager or administrator. A change needs a reason;
    a change saved by someone else since the form was opened raises ``EditConflict`` (nothing written); a range
    that is not valid raises ``ValidationError``."""
    permission = ADD_PERMISSION if record.pk is None else CHANGE_PERMISSION
    if not user_can(by, permission, record.site):
        raise PermissionDenied(f"needs {permission} at {record.site.code}")
    with transaction.atomic():
        record.save(by=by, reason=reason)
    return record
