"""Impossible dates are refused next to their field, over the pages: in the future at the site, before the date of
birth, before consent for what is done in the trial, before Day 1 for the treatment period, an end before its start.
The page answers 200 with the form and the message; nothing is saved, and nothing saved changes."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.html import escape

from safety.models import AdverseEvent
from screening.models import DiseaseHistory, Participant
from screening.timeline import participant_timeline
from tests.randomization.factories import list_in_use
from tests.visits.test_schedule import randomised_on, site_today
from visits import services
from visits.crfs import PregnancyTest, StudyDrug
from visits.models import ConcomitantMedication, EndOfStudy, Visit

DAY = timedelta(days=1)


@pytest.fixture
def participant(site: Any, coordinator: Any, investigator: Any, statistician: Any) -> Participant:
    """Randomised 20 days ago: screened (and consented) a week before Day 1."""
    list_in_use(statistician)
    return randomised_on(timezone.localdate() - timedelta(days=20), site, coordinator, investigator)


def client_of(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def consent_day(participant: Participant) -> date:
    return timezone.localdate(participant.consent.consented_at, ZoneInfo(participant.site.time_zone))


def day1_of(participant: Participant) -> date:
    return participant.visits.get(code="D1").target_date


def refused(response: Any, form: str, field: str, words: str) -> None:
    """A 200 with the form, and ``words`` in the message next to ``field``."""
    assert response.status_code == 200
    errors = response.context[form].errors[field]
    assert any(words in message for message in errors), errors
    assert escape(words) in response.content.decode()


def saved(response: Any, form: str = "form") -> bool:
    """The page redirected after saving (else the form's errors say why)."""
    assert response.status_code == 302, response.context[form].errors
    return True


def done_on(visit: Visit, day: date, by: Any) -> Visit:
    return services.visit_record_done(visit=visit, by=by, done_on=day, deviation_reason="for the test")


def test_the_participants_timeline_is_read_in_the_sites_time_zone(site: Any, participant: Participant) -> None:
    site.time_zone = "Pacific/Kiritimati"  # UTC+14: often a day ahead of Dhaka
    site.save()
    participant = Participant.objects.select_related("site").get(pk=participant.pk)
    timeline = participant_timeline(participant)
    assert timeline.today == site_today(site) == timezone.localdate(timezone=ZoneInfo("Pacific/Kiritimati"))
    assert timeline.date_of_birth == participant.date_of_birth
    assert timeline.consented_on == consent_day(participant)


@pytest.mark.parametrize("zone", ["Asia/Dhaka", "Pacific/Kiritimati", "Pacific/Pago_Pago"])
def test_a_visit_is_done_today_at_the_site_not_tomorrow(
    site: Any, participant: Participant, coordinator: Any, zone: str
) -> None:
    site.time_zone = zone
    site.save()
    w2 = participant.visits.get(code="W2")
    today = site_today(site)
    page = client_of(coordinator).post(
        f"/visits/{w2.pk}/done/", {"done_on": (today + DAY).isoformat(), "deviation_reason": "late"}
    )
    refused(page, "done_form", "done_on", f"in the future: today is {today.isoformat()} at the site")
    assert Visit.objects.get(pk=w2.pk).done_on is None
    saved = client_of(coordinator).post(
        f"/visits/{w2.pk}/done/", {"done_on": today.isoformat(), "deviation_reason": "late"}
    )
    assert saved.status_code == 302 and Visit.objects.get(pk=w2.pk).done_on == today


def test_a_visit_is_not_done_before_day_1_and_a_correction_there_changes_nothing(
    participant: Participant, coordinator: Any
) -> None:
    d1 = participant.visits.get(code="D1")
    url = f"/visits/{d1.pk}/done/"
    day1 = day1_of(participant)
    before = client_of(coordinator).post(url, {"done_on": (day1 - DAY).isoformat(),
                                              "deviation_reason": "early"})  # fmt: skip
    refused(before, "done_form", "done_on", f"before Day 1 ({day1.isoformat()})")
    assert client_of(coordinator).post(url, {"done_on": day1.isoformat()}).status_code == 302
    versions = d1.history.count()
    again = client_of(coordinator).post(url, {"done_on": (day1 - 2 * DAY).isoformat(),
                                             "deviation_reason": "corrected"})  # fmt: skip
    refused(again, "done_form", "done_on", "before Day 1")
    assert Visit.objects.get(pk=d1.pk).done_on == day1 and d1.history.count() == versions


def test_a_pregnancy_test_at_a_visit_is_not_before_consent(participant: Participant, coordinator: Any) -> None:
    d1 = done_on(participant.visits.get(code="D1"), day1_of(participant), coordinator)
    consented = consent_day(participant)
    url = f"/visits/{d1.pk}/forms/pregnancy/"
    page = client_of(coordinator).post(url, {"result": "negative", "tested_on": (consented - DAY).isoformat()})
    refused(page, "form", "tested_on", f"before the participant's informed consent ({consented.isoformat()})")
    assert not PregnancyTest.objects.exists()
    saved = client_of(coordinator).post(url, {"result": "negative", "tested_on": consented.isoformat()})
    assert saved.status_code == 302 and PregnancyTest.objects.get().tested_on == consented


def test_the_study_drug_is_not_dispensed_before_day_1_and_an_interruption_does_not_end_before_it_starts(
    participant: Participant, coordinator: Any
) -> None:
    day1 = day1_of(participant)
    done_on(participant.visits.get(code="D1"), day1, coordinator)
    w2 = participant.visits.get(code="W2")
    w2 = done_on(w2, w2.target_date, coordinator)
    url = f"/visits/{w2.pk}/forms/drug/"
    values = {"dispensed": "100", "returned": "30", "tablets_per_week": "7", "period_start": day1.isoformat(),
              "dose_changed": "False", "interrupted": "False"}  # fmt: skip
    early = client_of(coordinator).post(url, {**values, "period_start": (day1 - DAY).isoformat()})
    refused(early, "form", "period_start", f"before Day 1 ({day1.isoformat()})")
    backwards = {**values, "interrupted": "True", "interruption_from": (day1 + 5 * DAY).isoformat(),
                 "interruption_to": (day1 + 4 * DAY).isoformat(), "interruption_reason": "zoster"}  # fmt: skip
    refused(client_of(coordinator).post(url, backwards), "form", "interruption_to", "cannot end before it starts")
    before_day1 = {**backwards, "interruption_from": (day1 - DAY).isoformat(), "interruption_to": day1.isoformat()}
    refused(client_of(coordinator).post(url, before_day1), "form", "interruption_from", "before Day 1")
    assert not StudyDrug.objects.exists()
    one_day = {**backwards, "interruption_to": (day1 + 5 * DAY).isoformat()}
    assert saved(client_of(coordinator).post(url, one_day))
    assert StudyDrug.objects.get().interruption_to == day1 + 5 * DAY


def adverse_event(onset: date, **changes: Any) -> dict[str, Any]:
    not_serious = {name: "False" for name in ("serious_death", "serious_life_threatening", "serious_hospitalisation",
                                              "serious_disability", "serious_congenital_anomaly",
                                              "serious_important_medical_event", "expected")}  # fmt: skip
    return {"description": "Herpes zoster", "onset_date": onset.isoformat(), "ongoing": "True", "grade": "2",
            "relationship": "possible", "action_taken": "interrupted", "outcome": "recovering",
            "learned_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"), **not_serious, **changes}  # fmt: skip


def test_an_adverse_event_begins_on_or_after_consent_and_not_in_the_future(
    site: Any, participant: Participant, coordinator: Any
) -> None:
    url = f"/safety/participants/{participant.screening_number}/"
    consented, today = consent_day(participant), site_today(site)
    before = client_of(coordinator).post(url, adverse_event(consented - DAY))
    refused(before, "form", "onset_date", "medical history, not an adverse event")
    refused(client_of(coordinator).post(url, adverse_event(today + DAY)), "form", "onset_date", "in the future")
    stop_tomorrow = adverse_event(today, ongoing="False", stop_date=(today + DAY).isoformat())
    refused(client_of(coordinator).post(url, stop_tomorrow), "form", "stop_date", "in the future")
    assert not AdverseEvent.objects.exists()
    assert saved(client_of(coordinator).post(url, adverse_event(consented)))
    assert AdverseEvent.objects.get().onset_date == consented


def test_a_medication_may_start_before_consent_but_not_before_birth_nor_stop_before_its_start(
    participant: Participant, coordinator: Any
) -> None:
    url = f"/visits/participants/{participant.screening_number}/medications/"
    born = participant.date_of_birth
    add = {"drug": "Omeprazole", "dose": "20 mg", "frequency": "daily", "route": "oral",
           "indication": "reflux", "stop_date": ""}  # fmt: skip
    page = client_of(coordinator).post(f"{url}add/", {**add, "start_date": (born - DAY).isoformat()})
    refused(page, "add_form", "start_date", f"before the participant's date of birth ({born.isoformat()})")
    assert not ConcomitantMedication.objects.exists()
    started = consent_day(participant) - timedelta(days=400)  # long before consent: history
    assert client_of(coordinator).post(f"{url}add/", {**add, "start_date": started.isoformat()}).status_code == 302
    medication = ConcomitantMedication.objects.get()
    stop = {"medication": medication.pk}
    early = client_of(coordinator).post(f"{url}stop/", {**stop, "stopped_on": (started - DAY).isoformat()})
    refused(early, "stop_form", "stopped_on", f"cannot be before the start ({started.isoformat()})")
    assert ConcomitantMedication.objects.get().stop_date is None and medication.history.count() == 1
    assert client_of(coordinator).post(f"{url}stop/", {**stop, "stopped_on": started.isoformat()}).status_code == 302


def test_the_end_of_study_is_not_in_the_future_nor_before_day_1(
    site: Any, participant: Participant, investigator: Any
) -> None:
    url = f"/visits/participants/{participant.screening_number}/end/"
    end = {"reason": "withdrawn", "details": "moved away"}
    today, day1 = site_today(site), day1_of(participant)
    refused(client_of(investigator).post(url, {**end, "ended_on": (today + DAY).isoformat()}), "end_form",
            "ended_on", "in the future")  # fmt: skip
    refused(client_of(investigator).post(url, {**end, "ended_on": (day1 - DAY).isoformat()}), "end_form",
            "ended_on", "before Day 1")  # fmt: skip
    assert not EndOfStudy.objects.exists()
    assert client_of(investigator).post(url, {**end, "ended_on": today.isoformat()}).status_code == 302


def test_a_screening_date_is_not_before_birth_and_a_refused_correction_changes_nothing(
    participant: Participant, coordinator: Any
) -> None:
    url = f"/screening/{participant.screening_number}/forms/disease/"
    page = client_of(coordinator).get(url)
    form = {name: value for name, value in page.context["form"].initial.items() if value is not None}
    born, onset = participant.date_of_birth, participant.disease_history.first_non_raynaud_date
    sent = {**form, "first_non_raynaud_date": (born - DAY).isoformat(), "reason_for_change": "typed from source"}
    refused(client_of(coordinator).post(url, sent), "form", "first_non_raynaud_date", "date of birth")
    assert DiseaseHistory.objects.get(pk=participant.disease_history.pk).first_non_raynaud_date == onset
    tomorrow = {**sent, "first_non_raynaud_date": (site_today(participant.site) + DAY).isoformat()}
    refused(client_of(coordinator).post(url, tomorrow), "form", "first_non_raynaud_date", "in the future")
    on_birth = {**sent, "first_non_raynaud_date": born.isoformat()}
    assert client_of(coordinator).post(url, on_birth).status_code == 302
