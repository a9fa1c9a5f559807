"""The stored screening status and decision (``ScreeningState``) equal the rule's result after every kind of write:
each service that changes what ``screening.status`` and ``clinical.eligibility`` read stores the new result in its
own transaction; ``refresh_all`` and the invariant rebuild rows written around the services."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from clinical.mrss import MRSS_AREAS
from screening import services, status_store
from screening.models import ClassificationCriteria, ConsentWithdrawal, Participant, ScreeningLabs, ScreeningMrss
from screening.models.state import ScreeningState
from screening.status import ScreeningStatus
from screening.status_store import refresh_all, states_current, stored_differs
from tests.screening.factories import (
    ELIGIBLE_CLASSIFICATION,
    consent_for,
    eligible_labs,
    register,
    save_form,
    screen_eligible,
)

pytestmark = pytest.mark.django_db


def stored(participant: Participant) -> ScreeningState:
    assert stored_differs([participant]) == [], "the stored row differs from the rule's result"
    assert status_store._tallies() == status_store._tallies_from_states(), "the tallies differ from the states"
    return ScreeningState.objects.get(participant=participant)


def mrss_of_total(total: int) -> dict[str, int]:
    """Seventeen areas summing to ``total`` (≤ 17): 1 in the first ``total`` areas, 0 elsewhere."""
    return {code: int(index < total) for index, (code, _) in enumerate(MRSS_AREAS)}


def test_every_screening_write_stores_the_status_the_rule_gives(site: Any, coordinator: Any, investigator: Any) -> None:
    participant = register(site, coordinator)
    assert stored(participant).status == ScreeningStatus.CONSENTED
    assert stored(participant).forms_entered == 0 and stored(participant).decision == "incomplete"

    save_form(ClassificationCriteria, participant, coordinator, ELIGIBLE_CLASSIFICATION)
    assert stored(participant).status == ScreeningStatus.SCREENING and stored(participant).forms_entered == 1

    participant = screen_eligible(participant, coordinator)
    state = stored(participant)
    assert (state.status, state.decision, state.failed, state.unknown) == ("eligible", "eligible", [], [])
    assert state.forms_entered == 5

    services.eligibility_confirm(participant=participant, by=investigator)
    assert stored(participant).status == ScreeningStatus.CONFIRMED

    # A change of a screening form voids the confirmation: eligible again, awaiting a new confirmation.
    labs = {**eligible_labs(participant.screening_date), "hb_g_dl": 11.9}
    save_form(ScreeningLabs, Participant.objects.get(pk=participant.pk), coordinator, labs, reason="Hb corrected")
    assert stored(participant).status == ScreeningStatus.ELIGIBLE

    # I4 at its boundary (mRSS ≥ 10): 9 fails it, 10 meets it.
    mrss = {"assessed_on": participant.screening_date, "assessor": coordinator}
    save_form(ScreeningMrss, Participant.objects.get(pk=participant.pk), coordinator,
              {**mrss, **mrss_of_total(9)}, reason="rescored")  # fmt: skip
    state = stored(participant)
    assert (state.status, state.decision, state.failed) == ("screening", "not_eligible", ["I4"])
    save_form(ScreeningMrss, Participant.objects.get(pk=participant.pk), coordinator,
              {**mrss, **mrss_of_total(10)}, reason="rescored again")  # fmt: skip
    assert stored(participant).status == ScreeningStatus.ELIGIBLE

    # The participant's details count (age and sex enter eGFR and the pregnancy criteria).
    participant = Participant.objects.get(pk=participant.pk)
    participant.sex = "M"
    services.participant_details_change(participant=participant, by=coordinator, reason="sex corrected")
    assert stored(participant).protocol_version == "1.0"

    withdrawal = ConsentWithdrawal(
        participant=Participant.objects.get(pk=participant.pk), withdrawn_on=participant.screening_date, scope="data"
    )
    services.consent_withdraw(withdrawal=withdrawal, by=coordinator)
    assert stored(participant).status == ScreeningStatus.WITHDRAWN


def test_a_screen_failure_and_the_next_episode_are_stored(site: Any, coordinator: Any) -> None:
    failed = screen_eligible(register(site, coordinator), coordinator, mrss_per_area=0)
    services.screen_failure_record(participant=failed, by=coordinator)
    state = stored(failed)
    assert (state.status, state.failure_codes) == ("screen_failed", "I4")
    again = services.participant_rescreen(
        previous=Participant.objects.get(pk=failed.pk),
        screening_date=failed.screening_date,
        consent=consent_for(site, coordinator),
        by=coordinator,
    )
    assert stored(again).status == ScreeningStatus.CONSENTED and stored(failed).status == "screen_failed"


AFTER_RANDOMISATION = "screening.status_store.after_randomisation"


def test_randomising_stores_randomised(
    site: Any, coordinator: Any, investigator: Any, statistician: Any, settings: Any
) -> None:
    from django.utils import timezone

    from tests.randomization.factories import list_in_use
    from tests.visits.test_schedule import randomised_on

    if AFTER_RANDOMISATION not in settings.FOLLOW_UPS["randomised"]:
        settings.FOLLOW_UPS = {
            **settings.FOLLOW_UPS,
            "randomised": (*settings.FOLLOW_UPS["randomised"], AFTER_RANDOMISATION),
        }
    list_in_use(statistician)
    participant = randomised_on(timezone.localdate(), site, coordinator, investigator)
    assert stored(participant).status == ScreeningStatus.RANDOMISED


def test_randomisation_and_amendments_are_followed_up() -> None:
    from django.conf import settings

    assert AFTER_RANDOMISATION in settings.FOLLOW_UPS["randomised"], "wire it in trial_site/settings/base.py"
    assert "screening.status_store.after_amendment" in settings.FOLLOW_UPS["protocol_amended"]
    assert "screening.status_store.states_current" in settings.INVARIANTS


def test_rows_written_around_the_services_are_rebuilt(site: Any, coordinator: Any) -> None:
    participants = [register(site, coordinator), screen_eligible(register(site, coordinator), coordinator)]
    ScreeningState.objects.all().delete()
    finding = states_current(repair=False)
    assert len(finding.problems) == 3 and not finding.holds  # two rows missing, and the tallies count them
    repaired = states_current(repair=True)
    assert repaired.holds and stored_differs(participants) == []
    ScreeningState.objects.update(status="withdrawn", protocol_version="1.0")
    assert refresh_all() == 2
    assert [stored(p).status for p in participants] == ["consented", "eligible"]


def test_a_protocol_version_in_force_from_today_makes_the_rows_stale(site: Any, coordinator: Any) -> None:
    participant = register(site, coordinator, screening_date=site_day(site) - timedelta(days=1))
    ScreeningState.objects.filter(participant=participant).update(protocol_version="0.9")
    finding = states_current(repair=True)
    assert finding.problems and finding.holds
    assert stored(participant).protocol_version == "1.0"


def site_day(site: Any) -> Any:
    from zoneinfo import ZoneInfo

    from django.utils import timezone

    return timezone.localdate(timezone.now(), ZoneInfo(site.time_zone))
