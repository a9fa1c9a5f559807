"""Safety forms that create something, sent again and again over HTTP against gunicorn's worker processes on
PostgreSQL, the server's e-mail going over SMTP to the test: a serious adverse event sent 2, 5 or 20 times at once
(and once more after) is one adverse event with one SAE report and one e-mail; a follow-up report and an
acknowledgement likewise; no answer is a server error."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from safety import services
from safety.models import AdverseEvent, LabAlert, SaeReport
from tests.http.conftest import smtp_address, start_gunicorn  # noqa: F401  (fixtures of the HTTP tests)
from tests.http.server import GunicornServer, html_form, wait_for
from tests.randomization.factories import list_in_use
from tests.safety.test_safety import FIRING, event_for
from tests.visits.test_double_submit import burst, check_taken_to_the_first, create_body, form_posting_to
from tests.visits.test_schedule import randomised_on
from trial_site.models import OutboxMessage
from visits import services as visit_services
from visits.crf_services import visit_form_save
from visits.crfs import LabPanel

AE_FORM = "//form[.//button[@type='submit']][.//*[@name='description']]"


@pytest.fixture
def participant(site: Any, coordinator: Any, investigator: Any, statistician: Any) -> Any:
    list_in_use(statistician)
    return randomised_on(timezone.localdate() - timedelta(days=20), site, coordinator, investigator)


@pytest.fixture
def mailing_gunicorn(
    start_gunicorn: Callable[..., GunicornServer],  # noqa: F811
    smtp_address: tuple[str, int],  # noqa: F811
    smtp_inbox: Any,
    participant: Any,
) -> GunicornServer:
    """Gunicorn sending its e-mail over SMTP to ``smtp_inbox`` (emptied of the set-up's randomisation e-mail)."""
    server = start_gunicorn(smtp=smtp_address)
    smtp_inbox.messages.clear()
    return server


def sae_emails_once_delivered(inbox: Any) -> list[Any]:
    """The SAE e-mails received, once no e-mail of the outbox is waiting any more (each is sent after its write
    commits, by the server process)."""
    wait_for(
        lambda: not OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING).exists(),
        "the delivery of every outbox message",
    )
    assert not OutboxMessage.objects.filter(status=OutboxMessage.Status.FAILED).exists()
    return [message for message in inbox.messages if " SAE " in message["Subject"]]


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("times", [2, 5, 20])
def test_a_serious_adverse_event_sent_many_times_at_once_is_one_event_one_report_one_email(
    mailing_gunicorn: GunicornServer, smtp_inbox: Any, participant: Any, coordinator: Any, times: int
) -> None:
    session = mailing_gunicorn.login(coordinator)
    url = f"/safety/participants/{participant.screening_number}/"
    body = create_body(
        session.get(url),
        AE_FORM,
        description="Pneumonia, right lower lobe",
        onset_date=(timezone.localdate() - timedelta(days=1)).isoformat(),
        grade="3",
        relationship="possible",
        action_taken="interrupted",
        outcome="recovering",
        ongoing="True",
        expected="False",  # every yes/no question starts empty and is answered (no silent "No")
        serious_death="False",
        serious_life_threatening="False",
        serious_hospitalisation="True",
        serious_disability="False",
        serious_congenital_anomaly="False",
        serious_important_medical_event="False",
    )

    answers = burst(session, url, body, times)

    check_taken_to_the_first(answers)
    event = AdverseEvent.objects.get()
    assert event.serious and event.history.count() == 1
    report = SaeReport.objects.get()
    assert report.adverse_event == event and report.history.count() == 1
    [email] = sae_emails_once_delivered(smtp_inbox)
    assert participant.screening_number in email["Subject"] and "Pneumonia" in email.get_content()


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_follow_up_report_sent_five_times_at_once_is_one_report_and_one_email(
    mailing_gunicorn: GunicornServer, smtp_inbox: Any, participant: Any, coordinator: Any
) -> None:
    event = services.adverse_event_record(event=event_for(participant, serious_hospitalisation=True), by=coordinator)
    sae_emails_once_delivered(smtp_inbox)  # the initial report's
    smtp_inbox.messages.clear()
    session = mailing_gunicorn.login(coordinator)
    page = session.get(f"/safety/events/{event.pk}/")
    initial = event.sae_reports.get()

    answers = burst(
        session, f"/safety/reports/{initial.pk}/follow-up/", create_body(page, form_posting_to("/follow-up/")), 5
    )

    check_taken_to_the_first(answers)
    assert event.sae_reports.filter(kind=SaeReport.Kind.FOLLOW_UP).count() == 1
    [email] = sae_emails_once_delivered(smtp_inbox)
    assert "follow-up" in email["Subject"]


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_an_alert_acknowledged_five_times_at_once_is_acknowledged_once(
    start_gunicorn: Callable[..., GunicornServer],  # noqa: F811
    participant: Any,
    coordinator: Any,
    investigator: Any,
) -> None:
    d1 = participant.visits.get(code="D1")
    visit_services.visit_record_done(visit=d1, by=coordinator, done_on=d1.target_date)
    visit_form_save(record=LabPanel(visit=d1, **FIRING[participant.allocation.arm]), by=coordinator, complete=False)
    alert = LabAlert.objects.first()
    assert alert is not None
    server = start_gunicorn()
    session = server.login(investigator)
    page = session.get("/safety/")
    form = f"//form[contains(@action, '/safety/alerts/{alert.pk}/acknowledge/')]"

    answers = burst(session, f"/safety/alerts/{alert.pk}/acknowledge/", create_body(page, form, action_taken="held"), 5)

    check_taken_to_the_first(answers)
    alert.refresh_from_db()
    assert (alert.acknowledged_by, alert.action_taken) == (investigator, "held")
    assert alert.history.count() == 2  # raised, acknowledged


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_an_sae_report_signed_five_times_at_once_is_signed_once(
    start_gunicorn: Callable[..., GunicornServer],  # noqa: F811
    participant: Any,
    coordinator: Any,
    investigator: Any,
) -> None:
    """A signature is an edit of the report: the same form sent again changes nothing (no second history row)."""
    event = services.adverse_event_record(event=event_for(participant, serious_hospitalisation=True), by=coordinator)
    report = event.sae_reports.get()
    session = start_gunicorn().login(investigator)
    page = session.get(f"/safety/events/{event.pk}/")
    body = {**html_form(page.text, form_posting_to("/sign/")).fields, "causality": "possible"}

    answers = burst(session, f"/safety/reports/{report.pk}/sign/", body, 5)

    check_taken_to_the_first(answers)
    report.refresh_from_db()
    assert (report.signed_by, report.causality) == (investigator, "possible")
    assert report.history.count() == 2  # opened, signed
