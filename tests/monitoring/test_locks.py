"""Data locks: a data manager locks a form, a visit, a casebook or the whole database; nothing under a lock can be
changed by a page, the admin, a service or a command; unlocking needs a reason; lock and unlock are audited."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from monitoring.models import DataLock
from monitoring.panels import lock_panel, refuse_locked_write
from monitoring.services.locks import DataLocked, lock_data, unlock_data
from reminders.models import Reminder
from safety import services as safety_services
from safety.forms import AdverseEventForm
from safety.models import AdverseEvent, LabAlert
from screening.forms import build_screening_form
from screening.models import ConsentWithdrawal, DiseaseHistory, Participant
from tests.factories import make_user
from tests.reminders.sms_gateway import webhook_headers
from tests.safety.test_safety import event_for
from tests.screening.factories import register
from tests.visits.test_schedule import randomised_on
from trial_site.roles import Role
from visits import services as visit_services
from visits.crf_services import visit_form_save
from visits.crfs import LabPanel, VitalSigns
from visits.models import Visit

VITALS = {"weight_kg": 55.0, "height_cm": 158.0, "systolic_bp": 120, "diastolic_bp": 80, "heart_rate": 72,
          "temperature_c": 36.8}  # fmt: skip
LOCKED = "is locked by Dana since"


@pytest.fixture
def vitals(d1: Visit, coordinator: Any) -> VitalSigns:
    record = VitalSigns(visit=d1, **VITALS)
    visit_form_save(record=record, by=coordinator, complete=True)
    return VitalSigns.objects.get(pk=record.pk)


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def form_data(form: Any) -> dict[str, Any]:
    """What a browser would post back for an unchanged form."""
    data: dict[str, Any] = {}
    for name in form.fields:
        value = form[name].value()
        if value is None or value is False:
            continue
        data[name] = value.isoformat() if isinstance(value, date | datetime) else value
    return data


def changing_vitals(vitals: VitalSigns, coordinator: Any, weight: float) -> None:
    record = VitalSigns.objects.get(pk=vitals.pk)
    record.weight_kg = weight
    visit_form_save(record=record, by=coordinator, complete=True, reason="weighed again")


# The guard, service by service


def test_a_locked_form_refuses_a_service_change_with_a_message_naming_the_lock(
    vitals: VitalSigns, coordinator: Any, data_manager: Any
) -> None:
    lock_data(scope="form", record=vitals, by=data_manager, reason="database lock before analysis")
    history = vitals.history.count()
    with pytest.raises(DataLocked) as refused:
        changing_vitals(vitals, coordinator, 57.0)
    today = timezone.localdate().isoformat()
    assert refused.value.messages == [
        f"The form Vital signs, D1 of {vitals.visit.participant.screening_number} is locked by Dana since {today} "
        "(database lock before analysis). A data manager must unlock it first."
    ]
    assert isinstance(refused.value, ValidationError)
    assert VitalSigns.objects.get(pk=vitals.pk).weight_kg == 55.0
    assert vitals.history.count() == history


def test_a_casebook_lock_reads_like_the_participant_and_refuses_a_delete_too(
    vitals: VitalSigns, data_manager: Any
) -> None:
    participant = vitals.visit.participant
    lock_data(scope="casebook", participant=participant, by=data_manager, reason="database lock before analysis")
    record = VitalSigns.objects.get(pk=vitals.pk)
    with pytest.raises(DataLocked, match=f"The casebook of {participant.screening_number} is locked by Dana"):
        record.delete(by=data_manager, reason="entered twice")
    assert VitalSigns.objects.filter(pk=vitals.pk).exists()


def test_a_visit_lock_refuses_the_visit_itself_and_new_forms_on_it(
    participant: Participant, coordinator: Any, data_manager: Any
) -> None:
    d1 = participant.visits.get(code="D1")
    lock_data(scope="visit", visit=d1, by=data_manager, reason="visit reviewed")
    history = d1.history.count()
    with pytest.raises(ValidationError, match=f"Visit D1 of {participant.screening_number} is locked by Dana"):
        visit_services.visit_record_done(visit=d1, by=coordinator, done_on=d1.target_date)
    assert Visit.objects.get(pk=d1.pk).done_on is None and d1.history.count() == history
    with pytest.raises(DataLocked):
        visit_form_save(record=LabPanel(visit=d1, hb_g_dl=12.0), by=coordinator, complete=False)
    assert not LabPanel.objects.exists()
    # Other visits of the same participant are not locked.
    w2 = participant.visits.get(code="W2")
    visit_services.visit_reschedule(visit=w2, by=coordinator, planned_date=w2.latest, reason="holiday")
    assert Visit.objects.get(pk=w2.pk).planned_date == w2.latest


def test_a_locked_adverse_event_refuses_a_change_and_a_casebook_lock_refuses_a_new_one(
    participant: Participant, coordinator: Any, data_manager: Any
) -> None:
    event = safety_services.adverse_event_record(event=event_for(participant), by=coordinator)
    lock_data(scope="form", record=event, by=data_manager, reason="reviewed")
    event.grade = 3
    with pytest.raises(DataLocked):
        safety_services.adverse_event_change(event=event, by=coordinator, reason="worse")
    assert AdverseEvent.objects.get(pk=event.pk).grade == 2 and event.history.count() == 1
    lock_data(scope="casebook", participant=participant, by=data_manager, reason="casebook closed")
    with pytest.raises(DataLocked, match="casebook"):
        safety_services.adverse_event_record(event=event_for(participant, description="Cough"), by=coordinator)
    assert AdverseEvent.objects.count() == 1


def test_a_database_lock_refuses_writes_at_every_site(
    vitals: VitalSigns, coordinator: Any, data_manager: Any, other_site: Any
) -> None:
    other_coordinator = make_user("ctg-coordinator", role=Role.COORDINATOR, site=other_site)
    other_participant = register(other_site, other_coordinator)
    lock_data(scope="database", by=data_manager, reason="database lock before analysis")
    with pytest.raises(DataLocked, match="The whole database is locked by Dana"):
        changing_vitals(vitals, coordinator, 57.0)
    with pytest.raises(DataLocked):
        register(other_site, other_coordinator, initials="ABC")
    other_participant.initials = "XYZ"
    with pytest.raises(DataLocked):
        other_participant.save(by=other_coordinator, reason="typo")
    assert Participant.objects.filter(site=other_site).count() == 1


def test_after_unlocking_with_a_reason_changes_work_again_and_both_are_in_the_lock_history(
    vitals: VitalSigns, coordinator: Any, data_manager: Any
) -> None:
    lock = lock_data(scope="form", record=vitals, by=data_manager, reason="reviewed")
    with pytest.raises(ValidationError) as no_reason:
        unlock_data(lock=lock, by=data_manager, reason="  ")
    assert "unlock_reason" in no_reason.value.message_dict
    assert DataLock.objects.get(pk=lock.pk).unlocked_at is None
    with pytest.raises(DataLocked):
        changing_vitals(vitals, coordinator, 57.0)
    unlock_data(lock=lock, by=data_manager, reason="site found a transcription error")
    changing_vitals(vitals, coordinator, 57.0)
    assert VitalSigns.objects.get(pk=vitals.pk).weight_kg == 57.0
    saved = DataLock.objects.get(pk=lock.pk)
    assert (saved.unlocked_by, saved.unlock_reason) == (data_manager, "site found a transcription error")
    history = list(saved.history.order_by("history_date").values_list("history_user", "history_change_reason",
                                                                        "unlocked_at"))  # fmt: skip
    assert [(user, reason) for user, reason, _ in history] == [
        (data_manager.pk, "reviewed"),
        (data_manager.pk, "site found a transcription error"),
    ]
    assert history[0][2] is None and history[1][2] is not None
    with pytest.raises(ValidationError, match="lifted already"):
        unlock_data(lock=saved, by=data_manager, reason="again")


def test_locking_needs_a_reason_and_the_same_target_cannot_be_locked_twice(
    vitals: VitalSigns, data_manager: Any
) -> None:
    with pytest.raises(ValidationError) as no_reason:
        lock_data(scope="form", record=vitals, by=data_manager, reason=" ")
    assert "reason" in no_reason.value.message_dict and not DataLock.objects.exists()
    lock_data(scope="form", record=vitals, by=data_manager, reason="reviewed")
    with pytest.raises(ValidationError, match="is locked already \\(by Dana since"):
        lock_data(scope="form", record=vitals, by=data_manager, reason="reviewed again")
    lock_data(scope="database", by=data_manager, reason="analysis")
    with pytest.raises(ValidationError, match="The whole database is locked already"):
        lock_data(scope="database", by=data_manager, reason="analysis")
    assert DataLock.objects.count() == 2


def test_only_data_managers_lock_and_unlock(
    vitals: VitalSigns, coordinator: Any, investigator: Any, user_with_role: Any, data_manager: Any, other_site: Any
) -> None:
    monitor = user_with_role(Role.MONITOR, username="monitor")
    for user in (coordinator, investigator, monitor):
        with pytest.raises(PermissionDenied):
            lock_data(scope="form", record=vitals, by=user, reason="x")
        with pytest.raises(PermissionDenied):
            lock_data(scope="database", by=user, reason="x")
        assert client_for(user).get("/monitoring/locks/new/?scope=database").status_code == 403
    elsewhere = make_user("ctg-dm", role=Role.DATA_MANAGER, site=other_site)
    with pytest.raises(PermissionDenied):
        lock_data(scope="form", record=vitals, by=elsewhere, reason="x")
    url = f"/monitoring/locks/new/?scope=form&form=visits.vitalsigns&object={vitals.pk}"
    assert client_for(elsewhere).get(url).status_code == 404  # another site's form is not found
    lock = lock_data(scope="form", record=vitals, by=data_manager, reason="reviewed")
    with pytest.raises(PermissionDenied):
        unlock_data(lock=lock, by=monitor, reason="x")
    assert client_for(monitor).post(f"/monitoring/locks/{lock.pk}/unlock/", {"unlock_reason": "x"}).status_code == 403
    assert client_for(elsewhere).post(f"/monitoring/locks/{lock.pk}/unlock/", {"unlock_reason": "x"}).status_code == 404
    assert DataLock.objects.get().unlocked_at is None
    assert not DataLock.objects.filter(locked_by__in=[coordinator, investigator, monitor, elsewhere]).exists()


def test_the_guard_costs_one_query_per_write(vitals: VitalSigns, data_manager: Any) -> None:
    with CaptureQueriesContext(connection) as free:
        refuse_locked_write(vitals)
    assert len(free) == 1
    lock_data(scope="visit", visit=vitals.visit, by=data_manager, reason="reviewed")
    with CaptureQueriesContext(connection) as locked, pytest.raises(DataLocked):
        refuse_locked_write(vitals)
    assert len(locked) == 1


# Every path: pages, the admin, a command


def test_the_visit_crf_page_answers_a_locked_form_with_the_message_and_keeps_the_value(
    vitals: VitalSigns, coordinator: Any, data_manager: Any
) -> None:
    lock_data(scope="form", record=vitals, by=data_manager, reason="database lock before analysis")
    client = client_for(coordinator)
    url = f"/visits/{vitals.visit_id}/forms/vitals/"
    page = client.get(url).content.decode()
    assert 'data-testid="lock-panel"' in page and "database lock before analysis" in page
    assert "Lock this form" not in page  # a coordinator does not lock
    data = {name: str(value) for name, value in VITALS.items()} | {
        "weight_kg": "57",
        "complete": "1",
        "reason_for_change": "weighed again",
    }
    response = client.post(url, data)
    assert response.status_code in (200, 400)
    assert LOCKED in response.content.decode()
    assert VitalSigns.objects.get(pk=vitals.pk).weight_kg == 55.0


def test_the_visit_page_answers_a_locked_visit_with_the_message(
    participant: Participant, coordinator: Any, data_manager: Any
) -> None:
    d1, w2 = participant.visits.get(code="D1"), participant.visits.get(code="W2")
    for visit in (d1, w2):
        lock_data(scope="visit", visit=visit, by=data_manager, reason="visit reviewed")
    client = client_for(coordinator)
    for visit, action, data in (
        (d1, "done", {"done_on": d1.target_date.isoformat(), "deviation_reason": ""}),
        (w2, "reschedule", {"planned_date": w2.latest.isoformat(), "reason": "holiday"}),
    ):
        response = client.post(f"/visits/{visit.pk}/{action}/", data)
        assert response.status_code in (200, 400), action
        assert LOCKED in response.content.decode(), action
    assert Visit.objects.get(pk=d1.pk).done_on is None
    assert Visit.objects.get(pk=w2.pk).planned_date == w2.planned_date


def test_the_visit_page_answers_a_locked_visit_recorded_as_missed_with_the_message(
    participant: Participant, coordinator: Any, data_manager: Any
) -> None:
    w2 = participant.visits.get(code="W2")
    lock_data(scope="visit", visit=w2, by=data_manager, reason="visit reviewed")
    response = client_for(coordinator).post(f"/visits/{w2.pk}/missed/", {"reason": "travelling"})
    assert Visit.objects.get(pk=w2.pk).missed is False
    assert response.status_code in (200, 400) and LOCKED in response.content.decode()


def test_the_adverse_event_page_answers_a_locked_event_with_the_message(
    participant: Participant, coordinator: Any, data_manager: Any
) -> None:
    event = safety_services.adverse_event_record(event=event_for(participant), by=coordinator)
    lock_data(scope="casebook", participant=participant, by=data_manager, reason="casebook closed")
    client = client_for(coordinator)
    page = client.get(f"/safety/events/{event.pk}/").content.decode()
    assert 'data-testid="lock-panel"' in page and "casebook closed" in page
    data = form_data(AdverseEventForm(instance=event, participant=participant)) | {
        "action": "change",
        "grade": "3",
        "reason_for_change": "worse",
    }
    response = client.post(f"/safety/events/{event.pk}/", data)
    assert response.status_code in (200, 400)
    assert LOCKED in response.content.decode()
    assert AdverseEvent.objects.get(pk=event.pk).grade == 2


def test_the_screening_form_page_answers_a_locked_casebook_with_the_message(
    participant: Participant, coordinator: Any, data_manager: Any
) -> None:
    lock_data(scope="casebook", participant=participant, by=data_manager, reason="casebook closed")
    history = DiseaseHistory.history.count()
    form = build_screening_form(DiseaseHistory, participant=participant, user=coordinator)
    first = participant.disease_history.first_non_raynaud_date
    data = form_data(form) | {
        "first_non_raynaud_date": (first - timedelta(days=1)).isoformat(),
        "reason_for_change": "date corrected",
    }
    response = client_for(coordinator).post(f"/screening/{participant.screening_number}/forms/disease/", data)
    assert response.status_code in (200, 400)
    assert LOCKED in response.content.decode()
    assert DiseaseHistory.objects.get(participant=participant).first_non_raynaud_date == first
    assert DiseaseHistory.history.count() == history


def test_the_admin_offers_no_clinical_form_and_a_model_save_as_the_admin_would_do_is_refused(
    vitals: VitalSigns, participant: Participant, coordinator: Any, data_manager: Any
) -> None:
    event = safety_services.adverse_event_record(event=event_for(participant), by=coordinator)
    lock_data(scope="database", by=data_manager, reason="database lock before analysis")
    superuser = get_user_model().objects.create_superuser("root", "root@example.org", "a-long-password-1")
    client = client_for(superuser)
    for url in (f"/admin/visits/vitalsigns/{vitals.pk}/change/", f"/admin/safety/adverseevent/{event.pk}/change/"):
        assert client.get(url).status_code == 404
        assert client.post(url, {"weight_kg": "57", "grade": "4"}).status_code == 404
    # ModelAdmin.save_model calls obj.save(); the guard is in the model layer, so a future admin is refused too.
    record = VitalSigns.objects.get(pk=vitals.pk)
    record.weight_kg = 57.0
    with pytest.raises(DataLocked):
        record.save(by=superuser, reason="changed in the admin")
    assert VitalSigns.objects.get(pk=vitals.pk).weight_kg == 55.0
    assert AdverseEvent.objects.get(pk=event.pk).grade == 2


def test_a_management_command_cannot_change_locked_data(
    vitals: VitalSigns, coordinator: Any, data_manager: Any
) -> None:
    """A command runs the same services; raw SQL and ``loaddata`` (raw saves) bypass the model layer, which is why
    only the application's database role may write in production."""
    lock_data(scope="visit", visit=vitals.visit, by=data_manager, reason="visit reviewed")
    script = (
        "from django.contrib.auth import get_user_model\n"
        "from visits.crf_services import visit_form_save\n"
        "from visits.crfs import VitalSigns\n"
        f"record = VitalSigns.objects.get(pk={vitals.pk})\n"
        "record.weight_kg = 60\n"
        f"visit_form_save(record=record, by=get_user_model().objects.get(pk={coordinator.pk}), complete=True,"
        " reason='from a command')\n"
    )
    with pytest.raises(DataLocked):
        call_command("shell", command=script)
    assert VitalSigns.objects.get(pk=vitals.pk).weight_kg == 55.0


# The lock pages and the panel


def test_a_data_manager_locks_from_the_record_page_and_unlocks_on_the_locks_page_with_a_reason(
    participant: Participant, coordinator: Any, data_manager: Any
) -> None:
    event = safety_services.adverse_event_record(event=event_for(participant), by=coordinator)
    client = client_for(data_manager)
    page = client.get(f"/safety/events/{event.pk}/").content.decode()
    link = f"/monitoring/locks/new/?scope=form&amp;form=safety.adverseevent&amp;object={event.pk}"
    assert link in page and "Lock this form" in page and 'data-testid="lock-panel"' not in page
    url = link.replace("&amp;", "&")
    assert f"Lock the form Adverse event of {participant.screening_number}" in client.get(url).content.decode()
    refused = client.post(url, {"reason": ""})
    assert refused.status_code == 400 and "This field is required." in refused.content.decode()
    assert not DataLock.objects.exists()
    assert client.post(url, {"reason": "reviewed"}).status_code == 302
    lock = DataLock.objects.get()
    assert (lock.scope, lock.object_id, lock.participant_id, lock.site_id) == (
        "form", event.pk, participant.pk, participant.site_id,
    )  # fmt: skip
    again = client.post(url, {"reason": "again"})
    assert again.status_code == 400 and "is locked already" in again.content.decode()
    page = client.get(f"/safety/events/{event.pk}/").content.decode()
    assert 'data-testid="lock-panel"' in page and "Lock this form" not in page and "Unlock on the locks page" in page
    listing = client.get("/monitoring/locks/").content.decode()
    assert "The form Adverse event of" in listing and "reviewed" in listing
    assert f"/monitoring/locks/{lock.pk}/unlock/" in listing
    no_reason = client.post(f"/monitoring/locks/{lock.pk}/unlock/", {"unlock_reason": ""})
    assert no_reason.status_code == 400 and "This field is required." in no_reason.content.decode()
    assert DataLock.objects.get().unlocked_at is None
    assert client.post(f"/monitoring/locks/{lock.pk}/unlock/", {"unlock_reason": "query answered"}).status_code == 302
    listing = client.get("/monitoring/locks/").content.decode()
    assert "No lock in force." in listing and "query answered" in listing
    assert 'data-testid="lock-panel"' not in client.get(f"/safety/events/{event.pk}/").content.decode()


def test_a_data_manager_locks_a_visit_form_by_its_address(vitals: VitalSigns, data_manager: Any) -> None:
    """The lock page's address, as the form's page links it; the list links back to the form."""
    url = f"/monitoring/locks/new/?scope=form&form=visits.vitalsigns&object={vitals.pk}"
    client = client_for(data_manager)
    assert "Lock the form Vital signs, D1 of" in client.get(url).content.decode()
    assert client.post(url, {"reason": "reviewed"}).status_code == 302
    lock = DataLock.objects.get()
    assert (lock.object_id, lock.visit_id) == (vitals.pk, vitals.visit_id)
    assert "The form Vital signs, D1 of" in client.get("/monitoring/locks/").content.decode()
    assert f'href="/visits/{vitals.visit_id}/forms/vitals/"' in client.get("/monitoring/locks/").content.decode()


@pytest.mark.parametrize(
    ("query", "expected"),
    [("scope=visit&visit={visit}", "Lock visit D1 of {number}"),
     ("scope=casebook&participant={number}", "Lock the casebook of {number}"),
     ("scope=database", "Lock the whole database")],
)  # fmt: skip
def test_the_lock_page_names_what_it_locks(vitals: VitalSigns, data_manager: Any, query: str, expected: str) -> None:
    number = vitals.visit.participant.screening_number
    url = "/monitoring/locks/new/?" + query.format(visit=vitals.visit_id, number=number)
    client = client_for(data_manager)
    assert expected.format(number=number) in client.get(url).content.decode()
    assert client.post(url, {"reason": "closed"}).status_code == 302
    assert DataLock.objects.get().reason == "closed"


@pytest.mark.parametrize(
    "query",
    ["", "scope=everything", "scope=form&form=auth.user&object=1", "scope=form&form=visits.nothing&object=1",
     "scope=form&form=visits.vitalsigns&object=x", "scope=visit&visit=999999", "scope=casebook&participant=NOPE"],
)  # fmt: skip
def test_a_lock_page_for_nothing_lockable_is_not_found(data_manager: Any, query: str) -> None:
    assert client_for(data_manager).get(f"/monitoring/locks/new/?{query}").status_code == 404


def test_the_locks_page_runs_the_same_number_of_queries_for_more_participants(
    participant: Participant, site: Any, coordinator: Any, investigator: Any, data_manager: Any
) -> None:
    client = client_for(data_manager)

    def lock_and_lift(someone: Participant) -> None:
        visit = someone.visits.get(code="W2")
        lock_data(scope="casebook", participant=someone, by=data_manager, reason="closed")
        lock_data(scope="visit", visit=visit, by=data_manager, reason="reviewed")
        lifted = lock_data(scope="form", record=visit, by=data_manager, reason="reviewed")
        unlock_data(lock=lifted, by=data_manager, reason="reopened")

    lock_and_lift(participant)
    client.get("/monitoring/locks/")
    with CaptureQueriesContext(connection) as few:
        assert client.get("/monitoring/locks/").status_code == 200
    for _ in range(2):
        lock_and_lift(randomised_on(timezone.localdate() - timedelta(days=10), site, coordinator, investigator))
    with CaptureQueriesContext(connection) as many:
        page = client.get("/monitoring/locks/").content.decode()
    assert page.count("Unlock</button>") == 6
    assert len(many) == len(few)


def test_the_panel_shows_nothing_on_an_unlocked_record_to_site_staff(vitals: VitalSigns, coordinator: Any) -> None:
    request = type("Request", (), {"user": coordinator})()
    assert lock_panel(request, vitals) == ""


def test_the_data_lock_command_locks_the_database_with_a_reason_and_unlocks_it(
    vitals: VitalSigns, coordinator: Any, data_manager: Any
) -> None:
    with pytest.raises(CommandError, match="Give the reason"):
        call_command("data_lock", "database", by="dana", reason="")
    with pytest.raises(CommandError, match="may not lock data"):
        call_command("data_lock", "database", by=coordinator.username, reason="analysis")
    assert not DataLock.objects.exists()
    out = StringIO()
    call_command("data_lock", "database", by="dana", reason="database lock before analysis", stdout=out)
    lock = DataLock.objects.get()
    assert out.getvalue() == f"Locked: the whole database (lock {lock.pk}).\n"
    listing = StringIO()
    call_command("data_lock", "list", stdout=listing)
    assert "The whole database is locked by Dana" in listing.getvalue()
    with pytest.raises(DataLocked):
        changing_vitals(vitals, coordinator, 57.0)
    call_command("data_lock", "unlock", str(lock.pk), by="dana", reason="analysis rerun", stdout=StringIO())
    assert DataLock.objects.get().unlock_reason == "analysis rerun"
    assert DataLock.objects.get().history.first().history_user == data_manager
    changing_vitals(vitals, coordinator, 57.0)


# Pages that write clinical data answer a lock with its message, never a server error; a STOP reply from a
# participant whose casebook is locked still stops their SMS.
def test_locked_casebook_pages_show_the_lock_and_change_nothing(
    participant: Any,
    coordinator: Any,
    data_manager: Any,
    settings: Any,
) -> None:
    lock_data(scope="casebook", participant=participant, by=data_manager, reason="database lock before analysis")
    client = client_for(coordinator)
    number = participant.screening_number

    withdraw = client.post(
        f"/screening/{number}/withdraw/", {"withdrawn_on": timezone.localdate(), "scope": "treatment"}
    )
    assert withdraw.status_code == 200 and LOCKED in withdraw.content.decode()
    assert not ConsentWithdrawal.objects.filter(participant=participant).exists()

    details = client.get(f"/screening/{number}/details/").context["form"].initial
    posted = {key: value for key, value in details.items() if value not in (None, False)}
    posted.update(
        reminder_channel="none", reason_for_change="asked by phone", date_of_birth=str(details["date_of_birth"])
    )
    changed = client.post(f"/screening/{number}/details/", posted)
    assert changed.status_code == 200 and LOCKED in changed.content.decode()
    participant.refresh_from_db()
    assert participant.reminder_channel == "sms"

    settings.SMS_WEBHOOK_SECRET = "secret"
    pending = Reminder.objects.filter(participant=participant, channel="sms", status="planned").count()
    assert pending > 0
    body = json.dumps({"from": participant.mobile_phone, "text": "STOP"}).encode()
    stop = Client().post(
        "/reminders/inbound/sms/", data=body, content_type="application/json",
        headers={k: v for k, v in webhook_headers("secret", body).items() if k != "Content-Type"},
    )  # fmt: skip
    assert stop.status_code == 200 and stop.json()["sms_cancelled"] == pending
    assert not Reminder.objects.filter(participant=participant, status="planned", channel="sms").exists()


def test_acknowledging_an_alert_on_locked_data_says_so(
    participant: Any,
    coordinator: Any,
    investigator: Any,
    data_manager: Any,
) -> None:
    from tests.safety.test_safety import FIRING
    from visits import services as visit_services
    from visits.crf_services import visit_form_save
    from visits.crfs import LabPanel

    d1 = participant.visits.get(code="D1")
    visit_services.visit_record_done(visit=d1, by=coordinator, done_on=d1.target_date)
    arm = participant.allocation.arm
    panel = LabPanel(visit=d1, **FIRING[arm])
    visit_form_save(record=panel, by=coordinator, complete=False)
    from safety.services import lab_alerts_check

    lab_alerts_check(panel_id=panel.pk)
    alert = LabAlert.objects.get()
    lock_data(scope="casebook", participant=participant, by=data_manager, reason="database lock before analysis")
    response = client_for(investigator).post(
        f"/safety/alerts/{alert.pk}/acknowledge/", {"action_taken": "held"}, follow=True
    )
    assert response.status_code == 200 and LOCKED in response.content.decode()
    alert.refresh_from_db()
    assert alert.acknowledged_at is None
