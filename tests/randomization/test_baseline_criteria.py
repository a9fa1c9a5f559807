"""The baseline criteria (I4 mRSS ≥ 10 at baseline, E7 mycophenolate before baseline, E15 renal crisis within 6
months before baseline) judged again for Day 1 from the Day 1 baseline form: randomisation is refused, by the page
and by the service, while one fails or is not yet known."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.utils import timezone

from clinical.eligibility import CriterionStatus
from clinical.mrss import MRSS_AREAS
from randomization import services
from randomization.models import Allocation
from screening import services as screening_services
from screening.models import Day1Baseline, ExclusionHistory, Participant
from screening.selectors import confirmation_in_force, participants_with_screening, screening_decision
from tests.randomization.factories import list_in_use
from tests.screening.factories import record_day1, register, save_form, screen_eligible

DHAKA = ZoneInfo("Asia/Dhaka")
DAY1 = date(2026, 10, 20)  # 6 months before it is 2026-04-20


@pytest.fixture
def in_use(statistician: Any) -> Any:
    return list_in_use(statistician)


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def screened_and_confirmed(
    site: Any, coordinator: Any, investigator: Any, *, day1: date = DAY1, **exclusions: Any
) -> Participant:
    """Screened 10 days before ``day1`` (Day −10), eligible and confirmed; ``exclusions`` change the exclusion
    history (a renal crisis, say) before the confirmation."""
    participant = screen_eligible(register(site, coordinator, screening_date=day1 - timedelta(days=10)), coordinator)
    if exclusions:
        save_form(ExclusionHistory, participant, coordinator, exclusions, reason="history completed")
        participant = Participant.objects.get(pk=participant.pk)
    screening_services.eligibility_confirm(participant=participant, by=investigator)
    return participant


def mrss_of(total: int) -> dict[str, int]:
    """17 areas scored so that they add up to ``total`` (≤ 17)."""
    return {code: 1 if index < total else 0 for index, (code, _label) in enumerate(MRSS_AREAS)}


def randomise(participant: Participant, by: Any, day1: date = DAY1) -> Allocation:
    return services.participant_randomize(participant=participant, by=by, at=datetime.combine(day1, time(11), DHAKA))


def refusal(participant: Participant, by: Any, day1: date = DAY1) -> str:
    with pytest.raises(ValidationError) as refused:
        randomise(participant, by, day1)
    assert not Allocation.objects.filter(participant=participant).exists()
    return refused.value.messages[0]


# --- I4 and E7 on Day 1 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("total", "allowed"), [(10, True), (9, False)], ids=["Day 1 mRSS 10", "Day 1 mRSS 9"])
def test_i4_the_day_1_mrss_decides(
    site: Any, coordinator: Any, investigator: Any, in_use: Any, total: int, allowed: bool
) -> None:
    participant = screened_and_confirmed(site, coordinator, investigator)  # screening mRSS 17
    participant = record_day1(participant, investigator, day1=DAY1, **mrss_of(total))
    if allowed:
        assert randomise(participant, investigator).participant_id == participant.pk
    else:
        assert "I4 inclusion not met: Day 1 mRSS 9" in refusal(participant, investigator)


@pytest.mark.parametrize(("dose", "allowed"), [(2.0, True), (2.1, False)], ids=["2 g/day", "2.1 g/day"])
def test_e7_the_day_1_mycophenolate_dose_decides(
    site: Any, coordinator: Any, investigator: Any, in_use: Any, dose: float, allowed: bool
) -> None:
    participant = screened_and_confirmed(site, coordinator, investigator)  # none at screening
    participant = record_day1(participant, investigator, day1=DAY1, mycophenolate_g_day=dose)
    if allowed:
        randomise(participant, investigator)
    else:
        assert "E7 exclusion present: mycophenolate mofetil 2.1 g/day on Day 1" in refusal(participant, investigator)


# --- E15 on both sides of 6 months before Day 1 -------------------------------------------------------------


@pytest.mark.parametrize(
    ("crisis", "allowed"),
    [
        (date(2026, 4, 5), True),  # 6 months and 15 days before Day 1
        (date(2026, 4, 19), True),  # 6 months and 1 day
        (date(2026, 4, 20), False),  # exactly 6 months: within
        (date(2026, 4, 30), False),  # 5 months and 20 days
    ],
    ids=["6 months 15 days before Day 1", "6 months 1 day", "exactly 6 months", "5 months 20 days"],
)
def test_e15_a_renal_crisis_recorded_at_screening_judged_against_day_1(
    site: Any, coordinator: Any, investigator: Any, in_use: Any, crisis: date, allowed: bool
) -> None:
    participant = screened_and_confirmed(site, coordinator, investigator, renal_crisis=True, renal_crisis_date=crisis)
    # Screened on 2026-10-10, less than 6 months after the crisis: screening leaves E15 to Day 1.
    e15_at_screening = next(result for result in screening_decision(participant).criteria if result.code == "E15")
    assert e15_at_screening.status is CriterionStatus.MET
    participant = record_day1(participant, investigator, day1=DAY1)
    if allowed:
        randomise(participant, investigator)
        return
    message = refusal(participant, investigator)
    expected = f"E15 exclusion present: SSc renal crisis on {crisis.isoformat()}: within the 6 months before Day 1"
    assert expected in message
    assert "on or after 2026-04-20" in message


def test_e15_a_renal_crisis_since_screening_refuses(
    site: Any, coordinator: Any, investigator: Any, in_use: Any
) -> None:
    participant = screened_and_confirmed(site, coordinator, investigator)
    participant = record_day1(
        participant,
        investigator,
        day1=DAY1,
        renal_crisis_since_screening=True,
        renal_crisis_since_screening_date=DAY1 - timedelta(days=3),
    )
    assert "E15 exclusion present: SSc renal crisis on 2026-10-17" in refusal(participant, investigator)


# --- unknown refuses too ------------------------------------------------------------------------------------


def test_without_the_day_1_form_randomisation_is_refused(
    site: Any, coordinator: Any, investigator: Any, in_use: Any
) -> None:
    participant = screened_and_confirmed(site, coordinator, investigator)
    message = refusal(participant, investigator)
    assert "The baseline criteria are not all met for Day 1 (2026-10-20)" in message
    assert "I4 not yet known: not yet recorded: the Day 1 baseline form" in message
    assert "E7 not yet known" in message and "E15 not yet known" in message


def test_a_day_1_form_of_the_day_before_is_not_day_1(
    site: Any, coordinator: Any, investigator: Any, in_use: Any
) -> None:
    participant = record_day1(
        screened_and_confirmed(site, coordinator, investigator), investigator, day1=DAY1 - timedelta(days=1)
    )
    message = refusal(participant, investigator)
    assert "the Day 1 baseline form is dated 2026-10-19, Day 1 is 2026-10-20" in message


@pytest.mark.parametrize(
    "missing",
    [{"mycophenolate_g_day": None}, {"renal_crisis_since_screening": None}, {"renal_crisis_since_screening": True}],
    ids=["E7 dose", "E15 answer", "E15 date"],
)
def test_an_unknown_baseline_criterion_refuses(
    site: Any, coordinator: Any, investigator: Any, in_use: Any, missing: dict[str, Any]
) -> None:
    participant = record_day1(
        screened_and_confirmed(site, coordinator, investigator), investigator, day1=DAY1, **missing
    )
    assert "not yet known" in refusal(participant, investigator)


# --- the pages ----------------------------------------------------------------------------------------------


def test_the_page_refuses_with_the_reason_and_randomises_once_day_1_is_recorded(
    site: Any, coordinator: Any, investigator: Any, in_use: Any
) -> None:
    today = timezone.localdate()
    participant = screened_and_confirmed(site, coordinator, investigator, day1=today)
    client = logged_in(investigator)
    page_url = f"/randomization/participants/{participant.screening_number}/"
    page = client.get(page_url).content.decode()
    assert 'data-testid="refusal"' in page and "The baseline criteria are not all met for Day 1" in page
    assert client.post(page_url + "randomise/").status_code == 403

    # The investigator enters the Day 1 form on its page, with a Day 1 mRSS of 9: still refused, I4 named.
    form_url = f"/screening/{participant.screening_number}/forms/day1/"
    values = {"day1": today.isoformat(), "assessor": investigator.pk, **mrss_of(9), "mycophenolate_g_day": "0",
              "renal_crisis_since_screening": "False"}  # fmt: skip
    assert client.post(form_url, values).status_code == 302
    assert Day1Baseline.objects.get(participant=participant).mrss_total == 9
    page = client.get(page_url).content.decode()
    assert "I4 inclusion not met: Day 1 mRSS 9" in page
    assert client.post(page_url + "randomise/").status_code == 403

    values |= mrss_of(12) | {"reason_for_change": "mRSS re-added from the source"}
    assert client.post(form_url, values).status_code == 302
    assert 'data-testid="randomise"' in client.get(page_url).content.decode()
    assert client.post(page_url + "randomise/", {"confirmed": "yes"}).status_code == 302
    assert Allocation.objects.filter(participant=participant).exists()


def test_the_summary_shows_the_baseline_criteria_for_day_1(site: Any, coordinator: Any, investigator: Any) -> None:
    today = timezone.localdate()
    participant = record_day1(
        screened_and_confirmed(site, coordinator, investigator, day1=today), investigator, mycophenolate_g_day=2.5
    )
    page = logged_in(coordinator).get(f"/screening/{participant.screening_number}/").content.decode()
    section = page[page.index('data-testid="baseline-criteria"') :]
    assert "mycophenolate mofetil 2.5 g/day on Day 1" in section
    assert "Day 1 mRSS 17" in section


def test_saving_the_day_1_form_leaves_the_confirmation_in_force(site: Any, coordinator: Any, investigator: Any) -> None:
    participant = screened_and_confirmed(site, coordinator, investigator, day1=timezone.localdate())
    record_day1(participant, investigator, mycophenolate_g_day=1.0)
    participant = participants_with_screening(Participant.objects.filter(pk=participant.pk)).get()
    assert confirmation_in_force(participant) is not None


def test_only_an_investigator_records_the_day_1_form(site: Any, coordinator: Any, investigator: Any) -> None:
    participant = screened_and_confirmed(site, coordinator, investigator, day1=timezone.localdate())
    with pytest.raises(PermissionDenied, match=r"lacks screening\.change_day1baseline"):
        record_day1(participant, coordinator)


def test_day_1_cannot_be_before_screening_nor_a_crisis_since_screening_before_it(
    site: Any, coordinator: Any, investigator: Any
) -> None:
    participant = screened_and_confirmed(site, coordinator, investigator, day1=timezone.localdate())
    with pytest.raises(ValidationError, match="cannot be before the screening date"):
        record_day1(participant, investigator, day1=participant.screening_date - timedelta(days=1))
    with pytest.raises(ValidationError, match="record it on the exclusion history"):
        record_day1(
            participant,
            investigator,
            renal_crisis_since_screening=True,
            renal_crisis_since_screening_date=participant.screening_date - timedelta(days=1),
        )
