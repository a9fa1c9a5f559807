"""The screening pages as staff use them: the log, registration, the summary, the forms."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from screening.models import Participant, ScreeningLabs
from tests.factories import make_site, make_user
from tests.screening.factories import register, screen_eligible
from trial_site.models import AccessEvent
from trial_site.roles import Role


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def registration_data(**overrides: Any) -> dict[str, Any]:
    today = timezone.localdate()
    return {
        "screening_date": today.isoformat(),
        "initials": "nak",
        "date_of_birth": today.replace(year=today.year - 35).isoformat(),
        "sex": "F",
        "mobile_phone": "01812 345678",
        "email": "",
        "preferred_language": "bn",
        "reminder_channel": "sms",
        "reminder_consent": "on",
        "consent-form_version": "1.0",
        "consent-consented_at": (timezone.localtime() - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M"),
        "consent-signature_method": "thumbprint",
        "consent-witness_name": "Abdul Karim",
        "consent-copy_given": "on",
        **overrides,
    }


def test_registering_through_the_page_stores_e164_and_the_consent(site: Any, coordinator: Any) -> None:
    client = logged_in(coordinator)
    data = registration_data(**{"consent-obtained_by": coordinator.pk})
    response = client.post("/screening/register/DHK/", data)
    assert response.status_code == 302 and response["Location"] == "/screening/DHK-S-0001/"
    participant = Participant.objects.get()
    assert participant.mobile_phone == "+8801812345678" and participant.initials == "NAK"
    assert participant.consent.witness_name == "Abdul Karim"


@pytest.mark.parametrize(
    ("overrides", "field_message"),
    [
        ({"mobile_phone": "12345"}, "for example 01712 345678"),
        ({"consent-witness_name": ""}, "needs the name of the impartial witness"),
        ({"date_of_birth": "2015-01-01"}, "participants are 18 to 100"),
        ({"reminder_channel": "email"}, "E-mail reminders need an e-mail address"),
        ({"consent-copy_given": ""}, "signed copy"),
    ],
)
def test_bad_registration_input_is_shown_next_to_the_field_and_saves_nothing(
    site: Any, coordinator: Any, overrides: dict[str, Any], field_message: str
) -> None:
    client = logged_in(coordinator)
    response = client.post(
        "/screening/register/DHK/", registration_data(**{"consent-obtained_by": coordinator.pk, **overrides})
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert field_message in page and "invalid-feedback" in page
    assert not Participant.objects.exists()


def test_the_summary_shows_every_criterion_and_the_computed_values(site: Any, coordinator: Any) -> None:
    participant = screen_eligible(register(site, coordinator), coordinator)
    page = logged_in(coordinator).get(f"/screening/{participant.screening_number}/").content.decode()
    for code in [f"I{n}" for n in range(1, 5)] + [f"E{n}" for n in range(1, 18)]:
        assert f'data-code="{code}"' in page
    assert "Eligible" in page
    assert "mL/min/1.73 m²" in page and "diffuse" in page


def test_editing_a_form_asks_for_a_reason_and_shows_the_voided_confirmation(
    site: Any, coordinator: Any, investigator: Any
) -> None:
    participant = screen_eligible(register(site, coordinator), coordinator)
    number = participant.screening_number
    assert logged_in(investigator).post(f"/screening/{number}/confirm/", {"confirmed": "yes"}).status_code == 302

    client = logged_in(coordinator)
    form_page = client.get(f"/screening/{number}/forms/labs/").content.decode()
    assert "Reason for change" in form_page
    labs = ScreeningLabs.objects.get()
    data = {
        field: getattr(labs, field).isoformat() if hasattr(getattr(labs, field), "isoformat") else getattr(labs, field)
        for field in ("sampled_on", "hb_g_dl", "wbc", "anc", "platelets", "alc", "alt", "alt_uln", "creatinine",
                      "creatinine_unit", "fvc_percent", "dlco_percent", "hbsag", "hbsag_date", "hcv_antigen",
                      "hcv_date", "pregnancy_test", "pregnancy_test_date")
    }  # fmt: skip
    data["hb_g_dl"] = 10.5
    refused = client.post(f"/screening/{number}/forms/labs/", data)
    assert refused.status_code == 200 and "Give the reason for changing saved data" in refused.content.decode()
    assert ScreeningLabs.objects.get().hb_g_dl == 12.1

    saved = client.post(f"/screening/{number}/forms/labs/", {**data, "reason_for_change": "repeat sample"})
    assert saved.status_code == 302
    summary = client.get(f"/screening/{number}/").content.decode()
    assert 'data-testid="voided-confirmation"' in summary and "repeat sample" in summary


def test_a_monitor_reads_but_cannot_enter_data(site: Any, coordinator: Any, user_with_role: Any) -> None:
    participant = register(site, coordinator)
    monitor = logged_in(user_with_role(Role.MONITOR))
    assert monitor.get(f"/screening/{participant.screening_number}/").status_code == 200
    labs = monitor.get(f"/screening/{participant.screening_number}/forms/labs/")  # read only
    assert labs.status_code == 200 and 'data-testid="read-only"' in labs.content.decode()
    assert monitor.post(f"/screening/{participant.screening_number}/forms/labs/", {"hb_g_dl": "12"}).status_code == 403
    assert monitor.get("/screening/register/DHK/").status_code == 403


def test_another_sites_participant_is_not_found(site: Any, coordinator: Any, other_site: Any) -> None:
    participant = register(site, coordinator)
    stranger = make_user("stranger", role=Role.COORDINATOR, site=other_site)
    response = logged_in(stranger).get(f"/screening/{participant.screening_number}/")
    assert response.status_code == 404
    assert AccessEvent.objects.filter(kind="access_denied", username="stranger").exists()


def test_the_log_filters_by_status_and_counts_failures(site: Any, coordinator: Any) -> None:
    from screening import services

    eligible = screen_eligible(register(site, coordinator), coordinator)
    failed = screen_eligible(register(site, coordinator), coordinator, mrss_per_area=0)
    services.screen_failure_record(participant=failed, by=coordinator)
    register(site, coordinator)
    client = logged_in(coordinator)
    page = client.get("/screening/").content.decode()
    assert page.count("/screening/DHK-S-") >= 3
    assert 'data-testid="failures-by-code"' in page and "I4" in page
    assert 'data-testid="status-bar"' in page and "<title>Screen failed: 1</title>" in page
    only_failed = client.get("/screening/?status=screen_failed").content.decode()
    assert failed.screening_number in only_failed and eligible.screening_number not in only_failed


def test_the_log_runs_the_same_number_of_queries_for_5_and_50_participants(
    site: Any, coordinator: Any, django_assert_num_queries: Any
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = logged_in(coordinator)

    def queries_for_log() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/screening/").status_code == 200
        return len(captured.captured_queries)

    for _ in range(5):
        screen_eligible(register(site, coordinator), coordinator)
    with_five = queries_for_log()
    for _ in range(45):
        register(site, coordinator)
    assert Participant.objects.count() == 50
    assert queries_for_log() == with_five


def test_other_sites_are_not_in_the_log(site: Any, coordinator: Any) -> None:
    elsewhere = make_site(code="RAJ")
    other = make_user("rajshahi", role=Role.COORDINATOR, site=elsewhere)
    register(elsewhere, other)
    register(site, coordinator)
    page = logged_in(coordinator).get("/screening/").content.decode()
    assert "DHK-S-0001" in page and "RAJ-S-0001" not in page


def test_correcting_a_phone_number_needs_a_reason_and_is_audited(site: Any, coordinator: Any) -> None:
    participant = register(site, coordinator)
    client = logged_in(coordinator)
    url = f"/screening/{participant.screening_number}/details/"
    data = {
        "screening_date": participant.screening_date.isoformat(),
        "initials": participant.initials,
        "date_of_birth": participant.date_of_birth.isoformat(),
        "sex": participant.sex,
        "mobile_phone": "01912 000111",
        "email": "",
        "preferred_language": "bn",
        "reminder_channel": "sms",
        "reminder_consent": "on",
    }
    refused = client.post(url, data)
    assert refused.status_code == 200 and "Give the reason for changing saved data" in refused.content.decode()
    assert Participant.objects.get().mobile_phone == "+8801712345678"
    assert client.post(url, {**data, "reason_for_change": "new number"}).status_code == 302
    latest, previous = Participant.objects.get().history.all()[:2]
    assert (previous.mobile_phone, latest.mobile_phone) == ("+8801712345678", "+8801912000111")
    assert latest.history_change_reason == "new number" and latest.history_user == coordinator


def test_the_screening_forms_speak_bangla(site: Any, coordinator: Any) -> None:
    participant = register(site, coordinator)
    client = logged_in(coordinator)
    client.post("/i18n/setlang/", {"language": "bn", "next": "/"})
    labs = client.get(f"/screening/{participant.screening_number}/forms/labs/").content.decode()
    assert "হিমোগ্লোবিন" in labs and "(g/dL)" in labs  # "Haemoglobin (g/dL)", the unit kept as it is
    log = client.get("/screening/").content.decode()
    assert "সম্মতি দিয়েছেন" in log  # status "Consented"


def test_a_randomised_participant_s_screening_and_allocation_pages_lead_to_their_visits(
    site: Any, coordinator: Any, investigator: Any, statistician: Any, assessor: Any
) -> None:
    from tests.randomization.factories import list_in_use
    from tests.visits.test_schedule import randomised_on

    list_in_use(statistician)
    participant = randomised_on(timezone.localdate(), site, coordinator, investigator)
    visits_page = f"/visits/participants/{participant.screening_number}/"
    for user in (coordinator, assessor):
        client = Client()
        client.force_login(user)
        for page in (
            f"/screening/{participant.screening_number}/",
            f"/randomization/participants/{participant.screening_number}/",
        ):
            assert f'href="{visits_page}"' in client.get(page).content.decode(), (user, page)
        assert client.get(visits_page).status_code == 200

    waiting = register(site, coordinator)  # not randomised: no visits yet, so no link
    client = Client()
    client.force_login(coordinator)
    assert "/visits/participants/" not in client.get(f"/screening/{waiting.screening_number}/").content.decode()
