"""The demo data: one site, one user per role, each able to log in with the password printed once."""

from __future__ import annotations

import re
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from tests.rolled_back import rolled_back
from trial_site.management.commands.seed_demo import DEMO_USERS
from trial_site.models import Site
from trial_site.roles import Role


def seed(*args: str) -> dict[str, str]:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return dict(re.findall(r"^  (\w+)\s+(\S+)\s+", out.getvalue(), flags=re.MULTILINE))


@pytest.fixture(scope="module")
def seeded_once(django_db_setup: Any, django_db_blocker: Any) -> Iterator[dict[str, str]]:
    """The demo data, seeded once for this module (about 25 s) inside a transaction rolled back at its end; the
    passwords it printed."""
    with rolled_back(django_db_blocker):
        yield seed()


@pytest.fixture
def seeded(seeded_once: dict[str, str], db: Any) -> dict[str, str]:
    """The demo data for one test: in a savepoint of the module's transaction, rolled back after the test."""
    return seeded_once


def can_log_in(username: str, password: str) -> bool:
    response = Client().post("/accounts/login/", {"username": username, "password": password})
    return response.status_code == 302


def test_seed_demo_creates_the_site_and_a_working_login_per_role(seeded: dict[str, str]) -> None:
    passwords = seeded
    site = Site.objects.get(code="DHK")
    assert site.name == "BSMMU Dhaka" and site.time_zone == "Asia/Dhaka"
    assert set(passwords) == {username for username, *_ in DEMO_USERS}
    assert {role for _, role, *_ in DEMO_USERS} == set(Role)
    for username, role, *_ in DEMO_USERS:
        client = Client()
        response = client.post("/accounts/login/", {"username": username, "password": passwords[username]})
        assert response.status_code == 302, username
        assert str(role.label) in client.get("/").content.decode()


def test_seed_demo_again_keeps_passwords_unless_asked(seeded: dict[str, str]) -> None:
    first = seeded
    again = seed()
    assert set(again.values()) == {"(unchanged)"}
    assert can_log_in("monitor", first["monitor"])
    reset = seed("--reset-passwords")
    assert reset["monitor"] != first["monitor"]
    assert can_log_in("monitor", reset["monitor"])
    assert not can_log_in("monitor", first["monitor"])
    assert Site.objects.count() == 1


def test_seed_demo_screens_about_forty_participants_with_varied_outcomes(seeded: dict[str, str]) -> None:
    from collections import Counter

    from screening.models import Participant
    from screening.selectors import participants_with_screening, screening_row
    from screening.status import ScreeningStatus

    rows = [screening_row(p) for p in participants_with_screening(Participant.objects.all())]
    statuses = Counter(row.status for row in rows)
    assert 36 <= len(rows) <= 44
    assert statuses[ScreeningStatus.RANDOMISED] == 20
    assert statuses[ScreeningStatus.CONFIRMED] == 4
    assert statuses[ScreeningStatus.SCREEN_FAILED] >= 8
    assert statuses[ScreeningStatus.SCREENING] >= 2  # incomplete: labs not back yet
    failed_codes = {code for row in rows for code in row.decision.failed_codes}
    assert {"I2", "I3", "I4", "E6", "E8", "E10", "E13", "E14", "E17"} <= failed_codes
    seed()
    assert Participant.objects.count() == len(rows)


def test_seed_demo_puts_visit_schedules_at_different_stages(seeded: dict[str, str]) -> None:
    from django.utils import timezone

    from visits.models import EndOfStudy, Visit
    from visits.status import VisitState, state_of

    today = timezone.localdate()
    states = [state_of(visit, today) for visit in Visit.objects.all()]
    assert VisitState.DONE in states and VisitState.UPCOMING in states
    assert VisitState.MISSED in states and VisitState.OVERDUE in states and VisitState.CANCELLED in states
    assert Visit.objects.filter(code="W24", done_on__isnull=False).exists()
    assert EndOfStudy.objects.filter(reason="withdrawn").count() == 1


def test_seed_demo_enters_visit_forms_and_leaves_some_missing(seeded: dict[str, str]) -> None:
    from visits.crfs import LabPanel, VisitMrss
    from visits.models import RequiredForm

    assert VisitMrss.objects.filter(visit__code="W24", status="complete").exists()
    assert LabPanel.objects.filter(status="complete").count() > 40
    assert RequiredForm.objects.filter(status="entered").exists()
    assert RequiredForm.objects.filter(status="required", visit__done_on__isnull=False, form="labs").exists()


def test_seed_demo_adds_adverse_events_sae_reports_and_lab_alerts(seeded: dict[str, str]) -> None:
    from django.utils import timezone

    from safety.models import AdverseEvent, LabAlert, SaeReport

    assert AdverseEvent.objects.count() >= 5
    now = timezone.now()
    assert SaeReport.objects.filter(deadline__gt=now).count() == 1
    assert SaeReport.objects.filter(deadline__lt=now).count() == 1
    assert LabAlert.objects.exists()


def test_seed_demo_plans_reminders_three_to_go_now_one_stop_and_one_with_email(seeded: dict[str, str]) -> None:
    from reminders.models import Reminder
    from screening.models import Participant

    assert Reminder.objects.filter(status="planned").count() > 20
    asked = Reminder.objects.exclude(send_now_at=None)
    assert asked.count() == 3 and {r.send_now_reason for r in asked} == {"demo: the participant asked for it"}
    assert Reminder.objects.filter(status="cancelled", cancel_reason="reminder choice changed").exists()
    assert Participant.objects.filter(reminder_channel="both").exists()
    assert Reminder.objects.filter(channel="email", status="planned").exists()


def test_seed_demo_adds_queries_verifications_and_a_locked_casebook(seeded: dict[str, str]) -> None:
    from monitoring.models import DataLock, DataQuery, SourceVerification

    by_monitor = DataQuery.objects.filter(raised_by__username="monitor")
    assert by_monitor.count() == 2 and by_monitor.filter(status="answered").count() == 1
    assert SourceVerification.objects.filter(cleared_at__isnull=True).count() == 3
    assert DataLock.objects.filter(scope="casebook", unlocked_at__isnull=True).count() == 1
