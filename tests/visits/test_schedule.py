"""The visit schedule: created on randomisation from the protocol, visits done, missed, rescheduled, end of study."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from randomization import services as randomization_services
from screening.models import Participant
from tests.randomization.factories import confirmed_participant, list_in_use
from trial_site.protocol import PROTOCOL
from trial_site.protocol_versions import base_protocol
from visits import selectors, services
from visits.models import RequiredForm, Visit
from visits.status import VisitState

DHAKA = ZoneInfo("Asia/Dhaka")


def site_today(site: Any) -> date:
    """Today at ``site``, in its own time zone (a test site moved to another zone may be a day behind Dhaka)."""
    return timezone.localdate(timezone=ZoneInfo(site.time_zone))


def randomised_on(day1: date, site: Any, coordinator: Any, investigator: Any, **kwargs: Any) -> Participant:
    """A participant randomised (backdated) with Day 1 = ``day1`` at the site (10:00 in the site's time zone), and
    their schedule."""
    participant = confirmed_participant(site, coordinator, investigator, day1=day1, **kwargs)
    at = datetime.combine(day1, datetime.min.time().replace(hour=10), tzinfo=ZoneInfo(site.time_zone))
    randomization_services.participant_randomize(participant=participant, by=investigator, at=at)
    return Participant.objects.get(pk=participant.pk)


@pytest.fixture
def in_use(statistician: Any) -> Any:
    return list_in_use(statistician)


def test_randomisation_creates_the_protocol_schedule_from_day_1(
    site: Any, coordinator: Any, investigator: Any, in_use: Any, django_capture_on_commit_callbacks: Any
) -> None:
    participant = confirmed_participant(site, coordinator, investigator)
    with django_capture_on_commit_callbacks(execute=True):
        allocation = randomization_services.participant_randomize(participant=participant, by=investigator)
    day1 = timezone.localtime(allocation.randomised_at, DHAKA).date()
    visits = list(Visit.objects.filter(participant=participant).order_by("sequence"))
    assert [v.code for v in visits] == [v.code for v in PROTOCOL.visits]
    w4 = visits[2]
    assert (w4.target_date - day1).days == 28
    assert (w4.earliest, w4.latest) == (w4.target_date - timedelta(days=3), w4.target_date + timedelta(days=3))
    assert visits[0].target_date == visits[0].earliest == visits[0].latest == day1
    assert set(visits[-1].required_forms.values_list("form", flat=True)) == set(base_protocol().visit("W24").forms)
    assert visits[0].history.get().history_user == investigator
    services.visit_schedule_create(allocation_id=allocation.pk)
    assert Visit.objects.filter(participant=participant).count() == len(PROTOCOL.visits)


def test_pregnancy_tests_are_not_required_for_men(site: Any, coordinator: Any, investigator: Any, in_use: Any) -> None:
    from screening import services as screening_services
    from tests.screening.factories import record_day1, register, screen_eligible

    man = screen_eligible(register(site, coordinator, sex="M", screening_date=timezone.localdate() - timedelta(days=7)),
                          coordinator)  # fmt: skip
    screening_services.eligibility_confirm(participant=man, by=investigator)
    man = record_day1(man, investigator)
    allocation = randomization_services.participant_randomize(participant=man, by=investigator)
    services.visit_schedule_create(allocation_id=allocation.pk)
    rows = RequiredForm.objects.filter(visit__participant=man, form="pregnancy")
    assert rows.exists() and set(rows.values_list("status", flat=True)) == {"not_required"}


def test_a_visit_outside_its_window_needs_a_deviation_reason(
    site: Any, coordinator: Any, investigator: Any, in_use: Any
) -> None:
    participant = randomised_on(timezone.localdate() - timedelta(days=60), site, coordinator, investigator)
    w4 = participant.visits.get(code="W4")
    late = w4.latest + timedelta(days=1)
    with pytest.raises(ValidationError) as error:
        services.visit_record_done(visit=w4, by=coordinator, done_on=late)
    assert "outside the window" in str(error.value.message_dict["deviation_reason"])
    w4.refresh_from_db()
    assert w4.done_on is None
    services.visit_record_done(visit=w4, by=coordinator, done_on=late, deviation_reason="patient travelled")
    w4.refresh_from_db()
    assert w4.done_on == late and w4.deviation_reason == "patient travelled"
    assert w4.history.first().history_user == coordinator

    w2 = participant.visits.get(code="W2")
    services.visit_record_done(visit=w2, by=coordinator, done_on=w2.latest)
    assert Visit.objects.get(pk=w2.pk).deviation_reason == ""


def test_states_missed_rescheduled_and_overdue(site: Any, coordinator: Any, investigator: Any, in_use: Any) -> None:
    today = timezone.localdate()
    participant = randomised_on(today - timedelta(days=30), site, coordinator, investigator)
    states = {row.visit.code: row.state for row in selectors.participant_schedule(participant)}
    assert (
        states["D1"] == VisitState.OVERDUE and states["W4"] == VisitState.OPEN and states["W8"] == VisitState.UPCOMING
    )
    d1 = participant.visits.get(code="D1")
    with pytest.raises(ValidationError):
        services.visit_record_missed(visit=d1, by=coordinator, reason="  ")
    services.visit_record_missed(visit=d1, by=coordinator, reason="flood, clinic closed")
    w8 = participant.visits.get(code="W8")
    with pytest.raises(ValidationError, match="within the window"):
        services.visit_reschedule(visit=w8, by=coordinator, planned_date=w8.latest + timedelta(days=1), reason="x")
    services.visit_reschedule(visit=w8, by=coordinator, planned_date=w8.earliest, reason="patient asked")
    states = {row.visit.code: row.state for row in selectors.participant_schedule(participant)}
    assert states["D1"] == VisitState.MISSED
    assert Visit.objects.get(pk=w8.pk).planned_date == w8.earliest


def test_end_of_study_leaves_no_later_visit_open_or_overdue(
    site: Any, coordinator: Any, investigator: Any, in_use: Any
) -> None:
    today = timezone.localdate()
    participant = randomised_on(today - timedelta(days=100), site, coordinator, investigator)
    with pytest.raises(ValidationError) as error:
        services.end_of_study_record(participant=participant, by=investigator, ended_on=today, reason="withdrawn")
    assert "details" in error.value.message_dict
    services.end_of_study_record(
        participant=participant, by=investigator, ended_on=today - timedelta(days=1), reason="withdrawn",
        details="moved abroad",
    )  # fmt: skip
    participant = Participant.objects.get(pk=participant.pk)
    states = {row.state for row in selectors.participant_schedule(participant)}
    assert VisitState.OPEN not in states and VisitState.OVERDUE not in states
    assert not selectors.overdue_visits(investigator)
    follow_up = services.follow_up_schedule(
        participant=participant, by=investigator, last_dose=today - timedelta(days=1)
    )
    assert follow_up.code == "FU" and follow_up.target_date == today + timedelta(days=27)
    w24 = participant.visits.get(code="W24")
    with pytest.raises(ValidationError):
        services.visit_record_done(visit=w24, by=coordinator, done_on=today)


def test_an_unscheduled_visit_needs_a_reason(site: Any, coordinator: Any, investigator: Any, in_use: Any) -> None:
    participant = randomised_on(timezone.localdate() - timedelta(days=10), site, coordinator, investigator)
    with pytest.raises(ValidationError):
        services.unscheduled_visit_add(participant=participant, by=coordinator, on=timezone.localdate(), reason="")
    visit = services.unscheduled_visit_add(
        participant=participant, by=coordinator, on=timezone.localdate(), reason="rash"
    )
    assert visit.is_unscheduled and visit.done_on == timezone.localdate()


@pytest.mark.parametrize("page", ["/visits/", "/visits/missing-forms/"])
def test_site_wide_pages_run_the_same_number_of_queries_for_5_and_50_participants(
    site: Any, coordinator: Any, investigator: Any, in_use: Any, page: str
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(coordinator)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(page)
        assert response.status_code == 200
        return len(captured.captured_queries)

    def add(count: int) -> None:
        for _ in range(count):
            randomised_on(timezone.localdate() - timedelta(days=40), site, coordinator, investigator)

    add(5)
    with_five = queries()
    add(45)
    content = client.get(page).content.decode()
    assert content.count("DHK-S-") >= 50
    assert queries() == with_five


def test_the_participant_page_shows_the_timeline_and_the_grid(
    site: Any, coordinator: Any, investigator: Any, in_use: Any, assessor: Any
) -> None:
    participant = randomised_on(timezone.localdate() - timedelta(days=20), site, coordinator, investigator)
    client = Client()
    client.force_login(coordinator)
    page = client.get(f"/visits/participants/{participant.screening_number}/").content.decode()
    for code in ("D1", "W2", "W24"):
        assert f'data-visit="{code}"' in page
    assert 'data-state="empty" data-form="mrss"' in page and 'data-state="overdue"' in page
    blinded = Client()
    blinded.force_login(assessor)
    assert (
        "treatment concealed" in blinded.get(f"/visits/participants/{participant.screening_number}/").content.decode()
    )


def test_recording_a_visit_through_the_page_shows_errors_next_to_the_field(
    site: Any, coordinator: Any, investigator: Any, in_use: Any
) -> None:
    participant = randomised_on(timezone.localdate() - timedelta(days=60), site, coordinator, investigator)
    w4 = participant.visits.get(code="W4")
    client = Client()
    client.force_login(coordinator)
    late = (w4.latest + timedelta(days=2)).isoformat()
    response = client.post(f"/visits/{w4.pk}/done/", {"done_on": late, "deviation_reason": ""})
    assert response.status_code == 200 and "outside the window" in response.content.decode()
    assert Visit.objects.get(pk=w4.pk).done_on is None
    saved = client.post(f"/visits/{w4.pk}/done/", {"done_on": late, "deviation_reason": "travel"})
    assert saved.status_code == 302


def test_concomitant_medications_are_listed_stopped_and_audited(
    site: Any, coordinator: Any, investigator: Any, in_use: Any
) -> None:
    from visits.models import ConcomitantMedication

    participant = randomised_on(timezone.localdate() - timedelta(days=20), site, coordinator, investigator)
    client = Client()
    client.force_login(coordinator)
    url = f"/visits/participants/{participant.screening_number}/medications/"
    today = timezone.localdate()
    add = f"{url}add/"
    base = {"drug": "Prednisolone", "dose": "7.5 mg", "frequency": "once daily", "route": "oral",
            "indication": "SSc", "start_date": (today - timedelta(days=90)).isoformat(), "stop_date": ""}  # fmt: skip
    refused = client.post(add, {**base, "stop_date": (today - timedelta(days=100)).isoformat()})
    assert refused.status_code == 200 and "cannot be before the start" in refused.content.decode()
    missing_dose = client.post(add, {**base, "steroid_drug": "prednisolone"})
    assert "daily dose in mg" in missing_dose.content.decode()
    assert not ConcomitantMedication.objects.exists()

    assert client.post(add, {**base, "steroid_drug": "methylprednisolone", "steroid_daily_mg": "8"}).status_code == 302
    medication = ConcomitantMedication.objects.get()
    assert medication.prednisone_equivalent_mg_day == 10.0
    assert "10.0 mg/day" in client.get(url).content.decode()
    stopped = client.post(f"{url}stop/", {"medication": medication.pk, "stopped_on": today.isoformat()})
    assert stopped.status_code == 302
    latest = ConcomitantMedication.objects.get().history.first()
    assert latest.stop_date == today and latest.history_user == coordinator
    assert latest.history_change_reason.startswith("medication stopped")


def test_the_missing_forms_page_names_each_form(site: Any, coordinator: Any, investigator: Any, in_use: Any) -> None:
    participant = randomised_on(timezone.localdate() - timedelta(days=10), site, coordinator, investigator)
    d1 = participant.visits.get(code="D1")
    services.visit_record_done(visit=d1, by=coordinator, done_on=d1.target_date)
    client = Client()
    client.force_login(coordinator)
    page = client.get("/visits/missing-forms/").content.decode()
    for label in ("Laboratory panel", "Vital signs", "HAQ-DI"):  # the registry's labels, not the codes
        assert f"<td>{label}</td>" in page, label
