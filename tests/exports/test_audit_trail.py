"""The audit-trail export (CSV): every change with who, when, old and new value and reason; de-identified."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from exports.audit_trail import CSV_COLUMNS, write_audit_csv
from exports.scope import DateMode, ExportScope, date_shift_days
from screening.models import Participant, ScreeningLabs
from tests.screening.factories import register, save_form, screen_eligible

pytestmark = [pytest.mark.needs_postgres]


def audit_lines(scope: ExportScope) -> tuple[list[dict[str, str]], dict[str, int], list[int]]:
    out = io.BytesIO()
    calls: list[int] = []
    counts = write_audit_csv(scope, out, calls.append)
    reader = csv.reader(io.StringIO(out.getvalue().decode("utf-8")))
    header = next(reader)
    assert tuple(header) == CSV_COLUMNS
    return [dict(zip(header, row, strict=True)) for row in reader], counts, calls


@pytest.fixture
def edited(site: Any, coordinator: Any, investigator: Any) -> tuple[ScreeningLabs, float]:
    """Screening labs entered by the coordinator, then changed by the investigator with a reason."""
    participant = screen_eligible(register(site, coordinator, initials="TRX"), coordinator)
    labs = ScreeningLabs.objects.get(participant=participant)
    old = labs.hb_g_dl
    save_form(ScreeningLabs, participant, investigator, {"hb_g_dl": old + 1.5}, reason="lab report re-read")
    return ScreeningLabs.objects.get(pk=labs.pk), old


def test_a_change_appears_with_user_old_and_new_value_and_reason(
    site: Any, edited: tuple[ScreeningLabs, float], investigator: Any, coordinator: Any
) -> None:
    labs, old = edited
    lines, counts, progress = audit_lines(ExportScope(site_ids=(site.pk,), identified=True, date_mode="actual"))

    change = [line for line in lines if line["dataset"] == "SCRLABS" and line["action"] == "changed"]
    assert len(change) == 1
    (line,) = change
    history = labs.history.order_by("-history_date", "-history_id").first()
    assert line["participant"] == labs.participant.screening_number and line["record_id"] == str(labs.pk)
    assert (line["field"], float(line["old_value"]), float(line["new_value"])) == ("hb_g_dl", old, labs.hb_g_dl)
    assert line["user"] == investigator.username and line["reason"] == "lab report re-read"
    assert datetime.fromisoformat(line["time_utc"]) == history.history_date.astimezone(UTC)
    created = [line for line in lines if line["dataset"] == "SCRLABS" and line["action"] == "created"]
    assert {line["user"] for line in created} == {coordinator.username}
    assert {line["field"]: line["new_value"] for line in created}["sampled_on"] == labs.sampled_on.isoformat()
    assert counts["SCRLABS"] == len(created) + 1 and sum(counts.values()) == len(lines) == sum(progress)
    # The participant's own record shows the identifying fields in an identified export.
    person = {line["field"]: line["new_value"] for line in lines if line["dataset"] == "PARTICIP"}
    assert person["initials"] == "TRX" and person["mobile_phone"] == labs.participant.mobile_phone


def test_a_de_identified_trail_masks_identifying_values_and_shifts_dates(
    site: Any, edited: tuple[ScreeningLabs, float]
) -> None:
    labs, old = edited
    participant = Participant.objects.get(pk=labs.participant_id)
    scope = ExportScope(site_ids=(site.pk,), identified=False, date_mode=DateMode.SHIFTED)
    lines, _counts, _progress = audit_lines(scope)

    text = "\n".join(",".join(line.values()) for line in lines)
    assert "TRX" not in text and participant.mobile_phone not in text
    assert participant.date_of_birth.isoformat() not in text
    person = {line["field"]: line["new_value"] for line in lines if line["dataset"] == "PARTICIP"}
    assert person["initials"] == person["mobile_phone"] == person["date_of_birth"] == "(identifying: changed)"
    shift = date_shift_days(participant.pk, settings.SECRET_KEY)
    created = {line["field"]: line for line in lines if line["dataset"] == "SCRLABS" and line["action"] == "created"}
    assert created["sampled_on"]["new_value"] == (labs.sampled_on - timedelta(days=shift)).isoformat()
    first = labs.history.order_by("history_date", "history_id").first()
    moment = datetime.fromisoformat(created["sampled_on"]["time_utc"])
    assert moment == (first.history_date - timedelta(days=shift)).astimezone(UTC)
    (change,) = [line for line in lines if line["dataset"] == "SCRLABS" and line["action"] == "changed"]
    assert float(change["old_value"]) == old and change["reason"] == "(free text left out)"  # it may name people
    kept = audit_lines(ExportScope(site_ids=(site.pk,), free_text=True, date_mode=DateMode.SHIFTED))[0]
    assert "lab report re-read" in {line["reason"] for line in kept}


def test_a_cut_off_leaves_later_changes_out(site: Any, edited: tuple[ScreeningLabs, float], investigator: Any) -> None:
    labs, _old = edited
    labs._history_date = timezone.now() + timedelta(days=2)  # a change made after the cut-off day
    labs.hb_g_dl = 14.0
    labs.save(by=investigator, reason="second look")
    scope = ExportScope(site_ids=(site.pk,), cut_off=timezone.localdate(), identified=True, date_mode="actual")
    reasons = {line["reason"] for line in audit_lines(scope)[0]}
    assert "lab report re-read" in reasons and "second look" not in reasons
    everything = ExportScope(site_ids=(site.pk,), identified=True, date_mode="actual")
    assert "second look" in {line["reason"] for line in audit_lines(everything)[0]}
