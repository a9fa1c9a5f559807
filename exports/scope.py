"""What an export covers and how it treats identifying data: pure values, no database.

- **Sites**: all the requester's sites, or one.
- **Cut-off**: the data as they stood at the end of a day (site-independent: the trial's time zone), read from
  the audit history, or the data as they are now.
- **Identified or de-identified**: a de-identified export drops every field a model marks identifying, drops
  free text unless asked for, and never carries a real date: dates are shifted by a fixed number of days per
  participant, or replaced by study days (Day 1 = randomisation).
- **Codes or labels** for coded values.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

# Shifts are between 1 and this many days back, the same for every date of one participant in every export.
MAX_SHIFT_DAYS = 365


class DateMode(models.TextChoices):
    ACTUAL = "actual", _("Actual dates")
    SHIFTED = "shifted", _("Dates shifted per participant")
    STUDY_DAY = "study_day", _("Study days instead of dates")


@dataclass(frozen=True)
class ExportScope:
    site_ids: tuple[int, ...]
    cut_off: date | None = None
    identified: bool = False
    free_text: bool = False
    date_mode: str = DateMode.STUDY_DAY
    codes_as_labels: bool = False

    def __post_init__(self) -> None:
        if not self.site_ids:
            raise ValueError("an export covers at least one site")
        if not self.identified and self.date_mode == DateMode.ACTUAL:
            raise ValueError("a de-identified export cannot carry actual dates")

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["site_ids"] = list(self.site_ids)
        data["cut_off"] = self.cut_off.isoformat() if self.cut_off else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExportScope:
        cut_off = data.get("cut_off")
        return cls(
            site_ids=tuple(data["site_ids"]),
            cut_off=date.fromisoformat(cut_off) if cut_off else None,
            identified=bool(data.get("identified")),
            free_text=bool(data.get("free_text")),
            date_mode=data.get("date_mode", DateMode.STUDY_DAY),
            codes_as_labels=bool(data.get("codes_as_labels")),
        )

    @property
    def keeps_dates(self) -> bool:
        """Dates stay dates (actual or shifted); otherwise they become study days."""
        return self.date_mode != DateMode.STUDY_DAY


def date_shift_days(participant_id: int, secret: str) -> int:
    """The participant's shift: 1 to ``MAX_SHIFT_DAYS`` days back, from a keyed hash of the participant's id.

    The same in every export of one installation (so shifted exports can be joined), different between
    participants, and not recoverable from the export without the installation's secret.
    """
    digest = hmac.new(secret.encode(), f"date-shift:{participant_id}".encode(), hashlib.sha256).digest()
    return 1 + int.from_bytes(digest[:8], "big") % MAX_SHIFT_DAYS


def shift(value: date | datetime, days: int) -> date | datetime:
    return value - timedelta(days=days)
