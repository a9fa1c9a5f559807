"""Adverse events, SAE reports and their 24-hour clock, laboratory alerts per arm, the summary, blinding."""

from __future__ import annotations

import html
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from safety import services
from safety.models import AdverseEvent, LabAlert, SaeReport
from safety.selectors import open_sae_reports
from safety.tasks import remind_overdue_sae_reports
from tests.randomization.factories import list_in_use
from tests.visits.test_schedule import randomised_on
from visits import services as visit_services
from visits.crf_services import visit_form_save
from visits.crfs import LabPanel

DHAKA = ZoneInfo("Asia/Dhaka")


@pytest.fixture
def participant(site: Any, coordinator: Any, investigator: Any, statistician: Any) -> Any:
    list_in_use(statistician)
    return randomised_on(timezone.localdate() - timedelta(days=20), site, coordinator, investigator)


def event_for(participant: Any, **overrides: Any) -> AdverseEvent:
    values = {
        "description": "Herpes zoster, thoracic", "onset_date": timezone.localdate() - timedelta(days=2),
        "grade": 2, "relationship": "possible", "action_taken": "interrupted", "outcome": "recovering",
        "special_interest": "infection", **overrides,
    }  # fmt: skip
    return AdverseEvent(participant=participant, **values)


@pytest.mark.parametrize(
    "criterion",
    ["serious_death", "serious_life_threatening", "serious_hospitalisation", "serious_disability",
     "serious_congenital_anomaly", "serious_important_medical_event"],
)  # fmt: skip
def test_any_seriousness_criterion_opens_an_sae_report(participant: Any, coordinator: Any, criterion: str) -> None:
    extra = {"grade": 5, "outcome": "fatal"} if criterion == "serious_death" else {}
    event = services.adverse_event_record(event=event_for(participant, **{criterion: True}, **extra), by=coordinator)
    report = SaeReport.objects.get(adverse_event=event)
    assert report.kind == "initial" and report.deadline == event.learned_at + timedelta(hours=24)


def test_a_non_serious_event_opens_no_report_until_it_becomes_serious(participant: Any, coordinator: Any) -> None:
    event = services.adverse_event_record(event=event_for(participant), by=coordinator)
    assert not SaeReport.objects.exists()
    event.serious_hospitalisation = True
    with pytest.raises(ValidationError, match="reason for change"):
        services.adverse_event_change(event=event, by=coordinator, reason="")
    assert not SaeReport.objects.exists()
    services.adverse_event_change(event=event, by=coordinator, reason="admitted on day 3")
    assert SaeReport.objects.filter(adverse_event=event).count() == 1
    latest = AdverseEvent.objects.get().history.first()
    assert latest.history_change_reason == "admitted on day 3" and latest.serious_hospitalisation


def test_the_deadline_is_24_hours_from_learning_shown_in_the_sites_time(participant: Any, coordinator: Any) -> None:
    learned = datetime(2026, 11, 20, 23, 30, tzinfo=DHAKA)
    event = services.adverse_event_record(
        event=event_for(participant, serious_hospitalisation=True, learned_at=learned), by=coordinator
    )
    report = event.sae_reports.get()
    assert timezone.localtime(report.deadline, DHAKA) == datetime(2026, 11, 21, 23, 30, tzinfo=DHAKA)
    [row] = open_sae_reports(coordinator)
    assert row.overdue  # that deadline has passed
    client = Client()
    client.force_login(coordinator)
    page = client.get("/safety/").content.decode()
    assert 'data-overdue="yes"' in page and "overdue by" in page and "2026-11-21 23:30 +06" in page


def test_a_recent_report_is_not_overdue_and_shows_the_time_left(participant: Any, coordinator: Any) -> None:
    services.adverse_event_record(
        event=event_for(participant, serious_hospitalisation=True, learned_at=timezone.now() - timedelta(hours=2)),
        by=coordinator,
    )
    [row] = open_sae_reports(coordinator)
    assert not row.overdue and timedelta(hours=21) < row.time_left <= timedelta(hours=22)


def test_an_unexpected_related_serious_event_is_a_susar_with_its_clock(participant: Any, coordinator: Any) -> None:
    event = services.adverse_event_record(
        event=event_for(participant, serious_life_threatening=True, relationship="probable", expected=False),
        by=coordinator,
    )
    report = event.sae_reports.get()
    assert report.susar
    assert (report.regulatory_deadline - event.learned_at).days in {6, 7}


def test_overdue_reports_are_reminded_by_the_daily_task(participant: Any, coordinator: Any, investigator: Any) -> None:
    services.adverse_event_record(
        event=event_for(participant, serious_hospitalisation=True, learned_at=timezone.now() - timedelta(days=3)),
        by=coordinator,
    )
    mail.outbox.clear()
    assert remind_overdue_sae_reports() == 1
    assert mail.outbox[0].subject.startswith("OVERDUE") and investigator.email in mail.outbox[0].to


def test_sending_and_signing_the_report(participant: Any, coordinator: Any, investigator: Any) -> None:
    event = services.adverse_event_record(event=event_for(participant, serious_hospitalisation=True), by=coordinator)
    report = event.sae_reports.get()
    services.sae_report_submit(report=report, by=coordinator, narrative="Admitted with thoracic zoster.")
    assert not open_sae_reports(coordinator)
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.sae_report_sign(report=report, by=coordinator, causality="possible")
    services.sae_report_sign(report=report, by=investigator, causality="probable")
    report.refresh_from_db()
    assert report.signed_by == investigator and report.history.first().history_change_reason


def test_bad_adverse_event_input_is_refused(participant: Any, coordinator: Any) -> None:
    with pytest.raises(ValidationError) as error:
        services.adverse_event_record(
            event=event_for(participant, stop_date=timezone.localdate() - timedelta(days=5), ongoing=False),
            by=coordinator,
        )
    assert "stop_date" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        services.adverse_event_record(event=event_for(participant, grade=5, outcome="recovered"), by=coordinator)
    assert "outcome" in error.value.message_dict
    assert not AdverseEvent.objects.exists()


FIRING = {"A": {"alc": 0.4}, "B": {"wbc": 3.2, "anc": 2.0}}


def test_a_saved_lab_panel_raises_the_alerts_of_the_participants_arm(
    participant: Any, coordinator: Any, investigator: Any, django_capture_on_commit_callbacks: Any
) -> None:
    arm = participant.allocation.arm
    d1 = participant.visits.get(code="D1")
    visit_services.visit_record_done(visit=d1, by=coordinator, done_on=d1.target_date)
    values = {"hb_g_dl": 12.0, "wbc": 6.0, "anc": 3.0, "alc": 1.5, "platelets": 250.0, "alt": 20.0, "alt_uln": 40.0,
              "creatinine": 0.7, "creatinine_unit": "mg/dL", **FIRING[arm]}  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        visit_form_save(
            record=LabPanel(visit=d1, unusual_values_confirmed=True, **values), by=coordinator, complete=True
        )
    alerts = list(LabAlert.objects.all())
    assert alerts and all(alert.rule.startswith("BARI" if arm == "A" else "MTX") for alert in alerts)
    client = Client()
    client.force_login(investigator)
    assert alerts[0].text in html.unescape(client.get("/safety/").content.decode())
    response = client.post(f"/safety/alerts/{alerts[0].pk}/acknowledge/", {"action_taken": "held for one week"})
    assert response.status_code == 302
    acknowledged = LabAlert.objects.get(pk=alerts[0].pk)
    assert acknowledged.acknowledged_by == investigator and acknowledged.action_taken == "held for one week"


def test_a_blinded_assessor_sees_neither_the_summary_nor_the_alerts(participant: Any, assessor: Any) -> None:
    client = Client()
    client.force_login(assessor)
    assert client.get("/safety/summary/").status_code == 403
    assert client.get("/safety/").status_code == 403


def test_the_summary_by_arm_counts_events_and_exposure(participant: Any, coordinator: Any, investigator: Any) -> None:
    services.adverse_event_record(event=event_for(participant, serious_hospitalisation=True), by=coordinator)
    client = Client()
    client.force_login(investigator)
    page = client.get("/safety/summary/").content.decode()
    assert 'data-testid="safety-summary"' in page and "baricitinib" in page and "methotrexate" in page
    from safety.selectors import safety_summary

    arms = {summary.arm: summary for summary in safety_summary(investigator)}
    mine = arms[participant.allocation.arm]
    assert (mine.participants, mine.events, mine.serious, mine.related) == (1, 1, 1, 1)
    assert 0.05 < mine.patient_years < 0.06  # 21 days


def test_open_alerts_and_reports_stay_on_the_home_page_until_dealt_with(
    participant: Any, coordinator: Any, investigator: Any, assessor: Any
) -> None:
    services.adverse_event_record(
        event=event_for(participant, serious_hospitalisation=True, learned_at=timezone.now() - timedelta(days=2)),
        by=coordinator,
    )
    client = Client()
    client.force_login(investigator)
    home = client.get("/").content.decode()
    assert 'data-testid="safety-attention"' in home and "1 SAE report(s) not yet sent, 1 overdue" in home
    blinded = Client()
    blinded.force_login(assessor)
    assert 'data-testid="safety-attention"' not in blinded.get("/").content.decode()


def test_a_death_is_a_grade_5_serious_event_that_ends_the_study(participant: Any, coordinator: Any) -> None:
    services.adverse_event_record(
        event=event_for(participant, grade=5, outcome="fatal", serious_death=True, description="Sudden cardiac death"),
        by=coordinator,
    )
    ending = type(participant).objects.get(pk=participant.pk).end_of_study
    assert ending.reason == "death" and ending.details == "Sudden cardiac death"
    assert SaeReport.objects.get().adverse_event.grade == 5  # a death is serious: its report is due in 24 hours


def test_a_severe_lab_value_offers_a_prefilled_adverse_event(participant: Any, coordinator: Any) -> None:
    d1 = participant.visits.get(code="D1")
    visit_services.visit_record_done(visit=d1, by=coordinator, done_on=d1.target_date)
    values = {"hb_g_dl": 12.0, "wbc": 6.0, "anc": 0.8, "alc": 1.5, "platelets": 250.0, "alt": 20.0, "alt_uln": 40.0,
              "creatinine": 0.7, "creatinine_unit": "mg/dL"}  # fmt: skip
    visit_form_save(record=LabPanel(visit=d1, unusual_values_confirmed=True, **values), by=coordinator, complete=True)
    client = Client()
    client.force_login(coordinator)
    page = client.get(f"/visits/participants/{participant.screening_number}/").content.decode()
    link = html.unescape(page.split('data-testid="prefilled-ae" href="', 1)[1].split('"', 1)[0])
    form_page = client.get(link).content.decode()
    assert "CTCAE grade 3" in html.unescape(form_page)


def test_a_follow_up_report_has_its_own_24_hours(participant: Any, coordinator: Any) -> None:
    event = services.adverse_event_record(event=event_for(participant, serious_hospitalisation=True), by=coordinator)
    client = Client()
    client.force_login(coordinator)
    initial = event.sae_reports.get()
    assert client.post(f"/safety/reports/{initial.pk}/follow-up/", {}).status_code == 302
    follow_up = event.sae_reports.get(kind="follow_up")
    assert timedelta(hours=23) < follow_up.deadline - timezone.now() <= timedelta(hours=24)


def test_a_positive_pregnancy_test_asks_for_a_report_in_safety(participant: Any, coordinator: Any) -> None:
    from visits.crfs import PregnancyTest

    d1 = participant.visits.get(code="D1")
    visit_services.visit_record_done(visit=d1, by=coordinator, done_on=d1.target_date)
    warnings = visit_form_save(
        record=PregnancyTest(visit=d1, result="positive", tested_on=d1.done_on), by=coordinator, complete=True
    )
    assert any("report it in Safety" in warning for warning in warnings)


def test_changing_an_adverse_event_on_its_page_needs_a_reason_and_is_in_the_history(
    participant: Any, coordinator: Any
) -> None:
    event = services.adverse_event_record(event=event_for(participant), by=coordinator)
    client = Client()
    client.force_login(coordinator)
    page = client.get(f"/safety/events/{event.pk}/")
    form = {name: value for name, value in page.context["form"].initial.items() if value is not None}
    form.update(action="change", grade="3", onset_date=event.onset_date.isoformat())
    # The yes/no questions are lists, not checkboxes: the page sends every saved answer, "No" (False) included.
    form = {name: str(value) if isinstance(value, bool) else value for name, value in form.items()}

    refused = client.post(f"/safety/events/{event.pk}/", form)
    assert refused.status_code == 200
    assert "reason_for_change" in refused.context["form"].errors
    assert AdverseEvent.objects.get().grade == 2 and AdverseEvent.objects.get().history.count() == 1

    saved = client.post(f"/safety/events/{event.pk}/", {**form, "reason_for_change": "re-graded from source"})
    assert saved.status_code == 302
    newest, previous = AdverseEvent.objects.get().history.order_by("-history_id")[:2]
    assert (previous.grade, newest.grade) == (2, 3)
    assert newest.history_user == coordinator and newest.history_change_reason == "re-graded from source"
    assert newest.history_date is not None
