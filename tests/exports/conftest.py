"""The exports' shared fixtures: a small generated trial with every road through the CONSORT flow."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from clinical.mrss import MRSS_AREA_CODES
from screening import services as screening_services
from screening.models import ConsentWithdrawal, Participant, ScreeningLabs, ScreeningMrss
from tests.randomization.factories import list_in_use
from tests.screening.factories import consent_for, register, save_form, screen_eligible
from tests.visits.test_schedule import randomised_on
from visits import services as visit_services
from visits.crf_services import visit_form_save
from visits.crfs import VisitMrss
from visits.models import Visit

# --- A generated trial --------------------------------------------------------------------------------------


def score_mrss(visit: Visit, by: Any, per_area: int) -> None:
    visit_services.visit_record_done(visit=visit, by=by, done_on=visit.target_date)
    record = VisitMrss(visit=Visit.objects.get(pk=visit.pk), assessor=by, **dict.fromkeys(MRSS_AREA_CODES, per_area))
    visit_form_save(record=record, by=by, complete=True)


def screen_fail(participant: Participant, by: Any, form: type, values: dict[str, Any]) -> Participant:
    save_form(form, participant, by, values, reason="value corrected")
    participant = Participant.objects.get(pk=participant.pk)
    screening_services.screen_failure_record(participant=participant, by=by)
    return Participant.objects.get(pk=participant.pk)


@pytest.fixture
def trial(site: Any, coordinator: Any, investigator: Any, statistician: Any) -> dict[str, Any]:
    """15 people: 3 screen failures (I4, E17, and I4 again then re-screened), 1 consent withdrawn, 1 still in
    screening, 10 randomised (one withdrawn, one lost, one died, one stopping treatment, three with both mRSS)."""
    list_in_use(statistician)
    today = timezone.localdate()
    screen_fail(screen_eligible(register(site, coordinator), coordinator), coordinator, ScreeningMrss,
                dict.fromkeys(MRSS_AREA_CODES, 0))  # fmt: skip
    screen_fail(screen_eligible(register(site, coordinator), coordinator), coordinator, ScreeningLabs,
                {"hb_g_dl": 7.0})  # fmt: skip
    failed = screen_fail(screen_eligible(register(site, coordinator), coordinator), coordinator, ScreeningMrss,
                         dict.fromkeys(MRSS_AREA_CODES, 0))  # fmt: skip
    screening_services.participant_rescreen(
        previous=failed, screening_date=today, consent=consent_for(site, coordinator), by=coordinator
    )
    declined = register(site, coordinator)
    screening_services.consent_withdraw(
        withdrawal=ConsentWithdrawal(participant=declined, withdrawn_on=today, scope="follow_up"), by=coordinator
    )
    register(site, coordinator)
    randomised = [randomised_on(today - timedelta(days=200), site, coordinator, investigator) for _ in range(10)]
    for participant in randomised[:6]:
        d1 = participant.visits.get(code="D1")
        score_mrss(d1, investigator, 2)
    for participant, per_area in zip(randomised[:3], (1, 1, 2), strict=True):
        score_mrss(participant.visits.get(code="W24"), investigator, per_area)
    day = today - timedelta(days=10)
    for participant, reason in zip(randomised[6:9], ("withdrawn", "lost", "death"), strict=True):
        visit_services.end_of_study_record(
            participant=participant, by=coordinator, ended_on=day, reason=reason, details="left"
        )
    screening_services.consent_withdraw(
        withdrawal=ConsentWithdrawal(participant=randomised[9], withdrawn_on=day, scope="treatment"), by=coordinator
    )
    return {"randomised": randomised}


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client
