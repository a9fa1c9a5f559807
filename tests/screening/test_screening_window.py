"""The screening window (TRIAL.md, SCR: Day −28 to −1): randomisation only 1 to 28 days after screening, by the
page and by the service; the confirmation shows until when it holds; past the window, screening again."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from randomization import services as randomisation_services
from randomization.models import Allocation
from screening import services
from screening.models import Participant, ScreeningLabs
from tests.randomization.factories import list_in_use
from tests.screening.factories import record_day1, register, save_form, screen_eligible

DHAKA = ZoneInfo("Asia/Dhaka")


@pytest.fixture
def in_use(statistician: Any) -> Any:
    return list_in_use(statistician)


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def confirmed(site: Any, coordinator: Any, investigator: Any, *, screened: date, day1: date) -> Participant:
    """Screened on ``screened`` (all forms dated that day), confirmed, the Day 1 form dated ``day1``."""
    participant = screen_eligible(register(site, coordinator, screening_date=screened), coordinator)
    services.eligibility_confirm(participant=participant, by=investigator)
    return record_day1(participant, investigator, day1=day1)


def at_site(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour, 0), DHAKA)


# --- the service, whatever the path -------------------------------------------------------------------------

DAY1 = date(2026, 10, 20)  # a past Day 1: the service is given the moment of randomisation


@pytest.mark.parametrize(
    ("days_before", "allowed"),
    [(1, True), (28, True), (29, False), (0, False)],
    ids=["Day -1 allowed", "Day -28 allowed", "Day -29 refused", "the same day refused"],
)
def test_randomisation_only_1_to_28_days_after_screening(
    site: Any, coordinator: Any, investigator: Any, in_use: Any, days_before: int, allowed: bool
) -> None:
    screened = DAY1 - timedelta(days=days_before)
    participant = confirmed(site, coordinator, investigator, screened=screened, day1=DAY1)
    if allowed:
        allocation = randomisation_services.participant_randomize(
            participant=participant, by=investigator, at=at_site(DAY1)
        )
        assert timezone.localtime(allocation.randomised_at, DHAKA).date() == DAY1
        return
    with pytest.raises(ValidationError) as refused:
        randomisation_services.participant_randomize(participant=participant, by=investigator, at=at_site(DAY1))
    message = refused.value.messages[0]
    assert f"screening counts from {screened.isoformat()} (the screening date)" in message.lower()
    if days_before == 0:
        assert "Day 1 cannot be on the day of screening" in message
        assert "Randomise from 2026-10-21 to 2026-11-17" in message
    else:
        assert "The screening window has passed" in message
        assert "29 days before Day 1 (2026-10-20)" in message
        assert "the eligibility confirmation held until 2026-10-19" in message
        assert "Screen the participant again" in message
    assert not Allocation.objects.exists()


def test_day_1_is_the_site_s_date_not_the_server_s(site: Any, coordinator: Any, investigator: Any, in_use: Any) -> None:
    """01:00 in Dhaka is still the day before in UTC: Day 1 is Dhaka's date, so screening the day before is
    Day −1 there (allowed), though the same day in UTC."""
    screened = DAY1 - timedelta(days=1)
    participant = confirmed(site, coordinator, investigator, screened=screened, day1=DAY1)
    at = datetime.combine(screened, time(19, 0), ZoneInfo("UTC"))  # 01:00 on DAY1 in Dhaka
    allocation = randomisation_services.participant_randomize(participant=participant, by=investigator, at=at)
    assert timezone.localtime(allocation.randomised_at, DHAKA).date() == DAY1


def test_an_earlier_screening_assessment_starts_the_window(
    site: Any, coordinator: Any, investigator: Any, in_use: Any
) -> None:
    """Laboratory samples taken 29 days before Day 1 are too old, although the screening date is Day −20."""
    participant = confirmed(site, coordinator, investigator, screened=DAY1 - timedelta(days=20), day1=DAY1)
    save_form(
        ScreeningLabs, participant, coordinator, {"sampled_on": DAY1 - timedelta(days=29)}, reason="date corrected"
    )
    participant = Participant.objects.get(pk=participant.pk)
    services.eligibility_confirm(participant=participant, by=investigator)  # the change voided the confirmation
    with pytest.raises(ValidationError, match=r"2026-09-21 \(the screening laboratory samples\)"):
        randomisation_services.participant_randomize(participant=participant, by=investigator, at=at_site(DAY1))


# --- the pages ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days_before", "allowed"),
    [(28, True), (29, False), (0, False)],
    ids=["Day -28 allowed", "Day -29 refused", "the same day refused"],
)
def test_the_randomisation_page_refuses_outside_the_window_with_the_reason(
    site: Any, coordinator: Any, investigator: Any, in_use: Any, days_before: int, allowed: bool
) -> None:
    today = timezone.localdate()
    participant = confirmed(site, coordinator, investigator, screened=today - timedelta(days=days_before), day1=today)
    client = logged_in(investigator)
    page_url = f"/randomization/participants/{participant.screening_number}/"
    page = client.get(page_url).content.decode()
    posted = client.post(page_url + "randomise/", {"confirmed": "yes"})
    if allowed:
        assert 'data-testid="randomise"' in page and 'data-testid="refusal"' not in page
        assert posted.status_code == 302 and Allocation.objects.filter(participant=participant).exists()
        return
    assert 'data-testid="refusal"' in page and 'data-testid="randomise"' not in page
    expected = "The screening window has passed" if days_before else "Day 1 cannot be on the day of screening"
    assert expected in page
    assert posted.status_code == 403
    assert not Allocation.objects.exists()


def test_the_confirmation_shows_until_when_it_holds(site: Any, coordinator: Any, investigator: Any) -> None:
    today = timezone.localdate()
    participant = confirmed(site, coordinator, investigator, screened=today - timedelta(days=3), day1=today)
    page = logged_in(coordinator).get(f"/screening/{participant.screening_number}/").content.decode()
    until = (today + timedelta(days=25)).isoformat()
    assert f'<strong data-testid="valid-until">Valid until {until}</strong>' in page
    assert f"randomise (Day 1) from {(today - timedelta(days=2)).isoformat()} to that day." in page
    assert 'data-testid="window-passed"' not in page


def test_past_the_window_the_way_forward_is_screening_again(
    site: Any, coordinator: Any, investigator: Any, in_use: Any
) -> None:
    today = timezone.localdate()
    participant = confirmed(site, coordinator, investigator, screened=today - timedelta(days=29), day1=today)
    coordinator_client = logged_in(coordinator)
    summary = f"/screening/{participant.screening_number}/"
    page = coordinator_client.get(summary).content.decode()
    assert 'data-testid="window-passed"' in page
    assert "This screening can no longer lead to randomisation" in page
    assert 'data-testid="screen-fail"' in page and 'data-testid="confirm"' not in page

    coordinator_client.post(summary + "screen-failure/", {"note": "window passed"})
    participant = Participant.objects.get(pk=participant.pk)
    assert participant.screen_failure.failed_codes == ["SCR"]
    again = services.participant_rescreen(
        previous=participant,
        screening_date=today,
        consent=participant.consent.__class__(
            site=site,
            form_version="1.0",
            consented_at=timezone.now() - timedelta(minutes=5),
            obtained_by=coordinator,
            signature_method="signature",
            copy_given=True,
        ),
        by=coordinator,
    )
    assert again.episode == 2 and again.first_episode == participant


def test_a_screen_failure_needs_a_failed_criterion_or_a_passed_window(
    site: Any, coordinator: Any, investigator: Any
) -> None:
    today = timezone.localdate()
    within = confirmed(site, coordinator, investigator, screened=today - timedelta(days=28), day1=today)
    with pytest.raises(ValidationError, match="or a screening window that has passed"):
        services.screen_failure_record(participant=within, by=coordinator)


def test_in_bangla_the_confirmation_shows_until_when_it_holds_and_the_refusal_its_reason(
    site: Any, coordinator: Any, investigator: Any, in_use: Any
) -> None:
    today = timezone.localdate()
    holding = confirmed(site, coordinator, investigator, screened=today - timedelta(days=3), day1=today)
    stale = confirmed(site, coordinator, investigator, screened=today - timedelta(days=29), day1=today)
    client = logged_in(investigator)
    client.post("/i18n/setlang/", {"language": "bn", "next": "/"})
    page = client.get(f"/screening/{holding.screening_number}/").content.decode()
    assert f"{(today + timedelta(days=25)).isoformat()} পর্যন্ত বহাল" in page
    refusal = client.get(f"/randomization/participants/{stale.screening_number}/").content.decode()
    assert "স্ক্রিনিং-এর সময়সীমা পার হয়ে গেছে" in refusal
    assert "আবার স্ক্রিনিং করুন" in refusal
