"""The reminder pages (log, participant, delivery), the gateway's webhook (STOP, delivery reports) and the staff
digest."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from reminders.digest import site_digest, staff_digests_send
from reminders.models import Reminder
from reminders.services import reminders_sweep
from safety import services as safety_services
from tests.reminders.sms_gateway import webhook_headers
from tests.reminders.test_delivery import first_reminders
from tests.safety.test_safety import event_for
from tests.visits.test_schedule import randomised_on, site_today
from trial_site.models import AccessEvent
from trial_site.roles import Role

WEBHOOK = "/reminders/inbound/sms/"
SECRET = "a-long-shared-secret-of-the-gateway"


def signed(secret: str | None, body: bytes) -> dict[str, str]:
    """The gateway's signature headers for ``body`` (none when ``secret`` is None)."""
    if secret is None:
        return {}
    return {name: value for name, value in webhook_headers(secret, body).items() if name != "Content-Type"}


def post_json(client: Client, payload: Any, secret: str | None = SECRET) -> Any:
    body = json.dumps(payload).encode()
    return client.post(WEBHOOK, data=body, content_type="application/json", headers=signed(secret, body))


@pytest.fixture
def webhook(settings: Any, db: None) -> Client:  # refusals and signatures seen are rows
    settings.SMS_WEBHOOK_SECRET = SECRET
    return Client(enforce_csrf_checks=True)  # the gateway has no CSRF token: the secret replaces it


def test_a_stop_reply_opts_the_participant_out_of_sms_and_cancels_pending_sms(
    participant: Any, webhook: Client
) -> None:
    local_number = "0" + participant.mobile_phone.removeprefix("+880")
    response = post_json(webhook, {"from": local_number, "text": " stop "})
    assert response.status_code == 200 and response.json() == {"opted_out": 1}
    participant.refresh_from_db()
    assert participant.reminder_channel == "none"
    assert not Reminder.objects.filter(participant=participant, status="planned").exists()
    latest = participant.history.first()
    assert latest.history_change_reason == "STOP reply by SMS" and latest.history_user.username == "system"


def test_a_stop_in_bangla_keeps_the_email_reminders_of_a_participant_who_has_both(
    participant: Any, coordinator: Any, webhook: Client
) -> None:
    from screening import services as screening_services

    participant.reminder_channel, participant.email = "both", "p@example.org"
    screening_services.participant_details_change(participant=participant, by=coordinator, reason="both")
    assert post_json(webhook, {"from": participant.mobile_phone, "text": "বন্ধ"}).json() == {"opted_out": 1}
    pending = Reminder.objects.filter(participant=participant, status="planned")
    assert set(pending.values_list("channel", flat=True)) == {"email"}


def test_other_replies_change_nothing(participant: Any, webhook: Client) -> None:
    assert post_json(webhook, {"from": participant.mobile_phone, "text": "ok thanks"}).json()["opted_out"] == 0
    participant.refresh_from_db()
    assert participant.reminder_channel == "sms"


def test_the_webhook_refuses_a_wrong_or_missing_secret_and_logs_it(participant: Any, webhook: Client) -> None:
    for secret in ("wrong", None):
        response = post_json(webhook, {"from": participant.mobile_phone, "text": "STOP"}, secret=secret)
        assert response.status_code == 403
    # counted, not logged one by one: the minute's first refusal (two if the minute turned between the calls)
    assert 1 <= AccessEvent.objects.filter(kind="access_denied", detail__contains="SMS webhook").count() <= 2
    participant.refresh_from_db()
    assert participant.reminder_channel == "sms"


def test_the_webhook_is_closed_without_a_configured_secret(participant: Any, settings: Any) -> None:
    settings.SMS_WEBHOOK_SECRET = ""
    assert post_json(Client(), {"from": participant.mobile_phone, "text": "STOP"}, secret="").status_code == 403


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '{"from": 5}', "{}"])
def test_malformed_webhook_bodies_get_a_400(webhook: Client, body: str) -> None:
    response = webhook.post(WEBHOOK, data=body, content_type="application/json", headers=signed(SECRET, body.encode()))
    assert response.status_code == 400 and "error" in response.json()


def test_a_delivery_report_updates_the_providers_status(
    daytime_site: Any, participant: Any, webhook: Client, django_capture_on_commit_callbacks: Any
) -> None:
    [reminder] = first_reminders(participant)
    with django_capture_on_commit_callbacks(execute=True):
        reminders_sweep()
    reminder.refresh_from_db()
    response = post_json(webhook, {"message_id": reminder.provider_message_id, "status": "delivered"})
    assert response.json() == {"updated": 1}
    reminder.refresh_from_db()
    assert reminder.provider_status == "delivered"


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_reminder_log_runs_the_same_queries_for_1_or_5_participants(
    site: Any, coordinator: Any, investigator: Any, statistician: Any
) -> None:
    from tests.randomization.factories import list_in_use

    list_in_use(statistician)
    client = logged_in(coordinator)
    randomised_on(site_today(site), site, coordinator, investigator)
    client.get("/reminders/")
    with CaptureQueriesContext(connection) as one:
        page = client.get("/reminders/?status=planned")
    for _ in range(4):
        randomised_on(site_today(site), site, coordinator, investigator)
    with CaptureQueriesContext(connection) as five:
        page = client.get("/reminders/?status=planned")
    assert page.status_code == 200 and page.content.decode().count('data-status="planned"') == 50  # a full page
    assert len(five) == len(one)


def test_the_participant_page_shows_each_reminder_and_who_may_send_now(participant: Any, coordinator: Any) -> None:
    page = logged_in(coordinator).get(f"/reminders/participants/{participant.screening_number}/").content.decode()
    assert page.count('data-status="planned"') == 14 and page.count("Send now") == 14


def test_reminder_pages_by_role(participant: Any, user_with_role: Any, assessor: Any) -> None:
    number = participant.screening_number
    expected = {
        Role.COORDINATOR: (200, 403), Role.INVESTIGATOR: (200, 403), Role.MONITOR: (200, 403),
        Role.DATA_MANAGER: (200, 403), Role.ADMINISTRATOR: (200, 200), Role.BLINDED_ASSESSOR: (403, 403),
        Role.STATISTICIAN: (403, 403),
    }  # fmt: skip
    for role, (log, delivery) in expected.items():
        client = logged_in(user_with_role(role, username=f"r-{role.value}"))
        assert client.get("/reminders/").status_code == log, role
        assert client.get(f"/reminders/participants/{number}/").status_code in {log, 404}, role
        assert client.get("/reminders/delivery/").status_code == delivery, role


def test_another_sites_participant_reminders_are_a_404(participant: Any, other_site: Any, user_with_role: Any) -> None:
    outsider = user_with_role(Role.COORDINATOR, username="elsewhere", at=other_site)
    assert logged_in(outsider).get(f"/reminders/participants/{participant.screening_number}/").status_code == 404


def test_the_demo_outbox_is_shown_to_administrators_with_numbers_cut_short(
    daytime_site: Any, participant: Any, user_with_role: Any, django_capture_on_commit_callbacks: Any
) -> None:
    first_reminders(participant)
    with django_capture_on_commit_callbacks(execute=True):
        reminders_sweep()
    page = logged_in(user_with_role(Role.ADMINISTRATOR)).get("/reminders/delivery/").content.decode()
    assert "স্মরণ করিয়ে দিচ্ছি" in page and 'data-backend="sms-file"' in page
    assert participant.mobile_phone not in page and f"…{participant.mobile_phone[-3:]}" in page


def test_the_staff_digest_lists_the_weeks_visits_overdue_visits_missing_forms_and_open_sae_reports(
    site: Any, coordinator: Any, investigator: Any, statistician: Any
) -> None:
    from tests.randomization.factories import list_in_use

    list_in_use(statistician)
    today = timezone.localdate()
    soon = randomised_on(today - timedelta(days=10), site, coordinator, investigator)  # W2 due in 4 days
    late = randomised_on(today - timedelta(days=40), site, coordinator, investigator)  # D1, W2 and W4 overdue
    safety_services.adverse_event_record(event=event_for(late, serious_hospitalisation=True), by=coordinator)
    mail.outbox.clear()

    assert staff_digests_send() == 1
    [message] = mail.outbox
    assert message.to == [coordinator.email]
    body = message.body
    assert f"{soon.screening_number}  W2" in body
    assert f"{late.screening_number}  D1  window closed" in body and f"{late.screening_number}  W4" in body
    assert "SAE reports not yet sent (1)" in body and "h left" in body
    assert "1 open SAE reports" in message.subject
    for identifying in (late.initials, late.mobile_phone, late.date_of_birth.isoformat()):
        assert identifying not in body


def test_no_digest_when_nothing_needs_the_staff(site: Any) -> None:
    assert site_digest(site, today=timezone.localdate(), now=timezone.now()) is None
