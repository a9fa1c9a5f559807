"""Issue 18, finding 6 (identifying data on pages) and the no-store part of finding 8, replayed over real HTTP
against gunicorn's worker processes on PostgreSQL.

- A participant's initials, date of birth, phone and e-mail are shown only to the roles that work with the
  participant at the site (``trial_site.permissions.may_see_identifiers``): not on the administrator's
  verification, randomisation and audit pages, not on any page of the statistician; the coordinator, the
  investigator and the monitor still see them where they need them.
- Every answer with participant data, and the login page, says ``Cache-Control: no-store``: pages, CRFs, the
  audit-trail CSV, a streamed export and an export file downloaded from its job; static files keep their cache.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
import requests
from django.utils import timezone

from randomization import services as randomization_services
from screening import services as screening_services
from screening.models import Participant
from tests.exports.test_double_submit import export_form
from tests.http.conftest import live_gunicorn, start_gunicorn  # noqa: F401  (fixtures of the HTTP tests)
from tests.http.server import GunicornServer
from tests.randomization.factories import list_in_use
from tests.screening.factories import record_day1, register, screen_eligible
from tests.visits.test_schedule import DHAKA
from trial_site.roles import Role
from visits import services as visit_services

pytestmark = [pytest.mark.needs_postgres, pytest.mark.django_db(transaction=True)]

# Distinctive values, so that finding one on a page can only mean it was shown.
RANDOMISED = {"initials": "ZQXJ", "date_of_birth": date(1959, 11, 23), "mobile_phone": "+8801898765432",
              "email": "zqxj.patient@example.org"}  # fmt: skip
NEW_PHONE = "+8801677123499"  # the randomised participant's phone after a correction (old → new in the audit trail)
AWAITING = {"initials": "QJZX", "date_of_birth": date(1962, 4, 9), "mobile_phone": "+8801911222333"}
IDENTIFYING_TEXTS = ("ZQXJ", "QJZX", "1959", "898765432", "677123499", "zqxj.patient", "1962", "911222333")


def identifiers_in(page: requests.Response) -> list[str]:
    return [text for text in IDENTIFYING_TEXTS if text in page.text]


@pytest.fixture
def people(site: Any, coordinator: Any, investigator: Any, statistician: Any) -> dict[str, Participant]:
    """One participant randomised ten days ago (with a corrected phone), one confirmed and awaiting randomisation."""
    list_in_use(statistician)
    day1 = timezone.localdate() - timedelta(days=10)
    first = screen_eligible(register(site, coordinator, screening_date=day1 - timedelta(days=7), **RANDOMISED),
                            coordinator)  # fmt: skip
    screening_services.eligibility_confirm(participant=first, by=investigator)
    first = record_day1(first, investigator, day1=day1)
    at = datetime.combine(day1, datetime.min.time().replace(hour=10), tzinfo=DHAKA)
    randomization_services.participant_randomize(participant=first, by=investigator, at=at)
    first = Participant.objects.get(pk=first.pk)
    first.mobile_phone = NEW_PHONE
    screening_services.participant_details_change(participant=first, by=coordinator, reason="new SIM card")
    waiting = screen_eligible(register(site, coordinator, **AWAITING), coordinator)
    screening_services.eligibility_confirm(participant=waiting, by=investigator)
    return {"randomised": Participant.objects.get(pk=first.pk), "awaiting": Participant.objects.get(pk=waiting.pk)}


def test_the_administrator_sees_no_identifying_data_on_verification_randomisation_or_audit_pages(
    live_gunicorn: GunicornServer,  # noqa: F811
    people: dict[str, Participant],
    user_with_role: Any,
) -> None:
    randomised, awaiting = people["randomised"].screening_number, people["awaiting"].screening_number
    session = live_gunicorn.login(user_with_role(Role.ADMINISTRATOR))
    pages = [
        "/monitoring/verification/",
        f"/monitoring/verification/mark/?form=screening.participant&object={people['randomised'].pk}",
        f"/monitoring/verification/mark/?form=screening.participant&object={people['awaiting'].pk}",
        "/randomization/",
        f"/randomization/participants/{randomised}/",
        f"/randomization/participants/{awaiting}/",
        f"/monitoring/audit/participants/{randomised}/",
        "/monitoring/audit/",
    ]
    for path in pages:
        page = session.get(path)
        assert page.status_code == 200, path
        assert identifiers_in(page) == [], path
    verification = session.get(pages[1])
    assert "(identifying: not shown)" in verification.text
    assert randomised in verification.text  # the page itself is there: the participant is named by number


def test_the_statistician_sees_no_initials_or_other_identifying_data_on_any_of_their_pages(
    live_gunicorn: GunicornServer,  # noqa: F811
    people: dict[str, Participant],
    statistician: Any,
) -> None:
    randomised, awaiting = people["randomised"].screening_number, people["awaiting"].screening_number
    session = live_gunicorn.login(statistician)
    pages = [
        "/randomization/",
        f"/randomization/participants/{randomised}/",
        f"/randomization/participants/{awaiting}/",
        "/randomization/lists/",
        "/exports/",
        "/exports/reports/",
        "/exports/reports/consort/",
        "/exports/reports/enrolment/",
        "/exports/reports/primary-endpoint/",
    ]
    for path in pages:
        page = session.get(path)
        assert page.status_code == 200, path
        assert identifiers_in(page) == [], path
    assert awaiting in session.get("/randomization/").text  # listed as awaiting, by number only


def test_the_site_team_and_the_monitor_still_see_the_identifying_data_they_work_with(
    live_gunicorn: GunicornServer,  # noqa: F811
    people: dict[str, Participant],
    coordinator: Any,
    investigator: Any,
    user_with_role: Any,
) -> None:
    randomised = people["randomised"].screening_number
    site_team = live_gunicorn.login(coordinator)
    assert {"ZQXJ", "QJZX"} <= set(identifiers_in(site_team.get("/screening/")))
    assert "ZQXJ" in site_team.get(f"/screening/{randomised}/").text
    assert "QJZX" in site_team.get("/randomization/").text
    assert "ZQXJ" in site_team.get(f"/visits/participants/{randomised}/").text
    assert "ZQXJ" in live_gunicorn.login(investigator).get(f"/randomization/participants/{randomised}/").text

    monitor = live_gunicorn.login(user_with_role(Role.MONITOR))
    verification = monitor.get(
        f"/monitoring/verification/mark/?form=screening.participant&object={people['randomised'].pk}"
    )
    assert verification.status_code == 200
    assert {"ZQXJ", "1959", "677123499", "zqxj.patient"} <= set(identifiers_in(verification))
    assert "(identifying: not shown)" not in verification.text
    trail = monitor.get(f"/monitoring/audit/participants/{randomised}/")
    assert {"898765432", "677123499"} <= set(identifiers_in(trail))  # old → new phone, unmasked for the monitor


def no_store(response: requests.Response) -> bool:
    directives = {part.strip() for part in response.headers.get("Cache-Control", "").split(",")}
    return "no-store" in directives and response.headers.get("Pragma") == "no-cache"


def test_every_page_and_file_with_participant_data_says_no_store(
    live_gunicorn: GunicornServer,  # noqa: F811
    people: dict[str, Participant],
    coordinator: Any,
    user_with_role: Any,
) -> None:
    randomised = people["randomised"]
    number = randomised.screening_number
    d1 = randomised.visits.get(code="D1")
    visit_services.visit_record_done(visit=d1, by=coordinator, done_on=d1.target_date)

    anonymous = live_gunicorn.session()
    login_page = anonymous.get("/accounts/login/")
    assert login_page.status_code == 200 and no_store(login_page)
    static = anonymous.get("/static/css/app.css")
    assert static.status_code == 200 and not no_store(static)  # static files keep their cache headers

    site_team = live_gunicorn.login(coordinator)
    for path in (
        f"/screening/{number}/",
        f"/screening/{number}/forms/labs/",
        f"/visits/participants/{number}/",
        f"/visits/{d1.pk}/forms/vitals/",
        "/screening/",
        "/screening/NOT-A-NUMBER/",
    ):
        page = site_team.get(path)
        assert page.status_code in (200, 404), path
        assert no_store(page), (path, page.headers.get("Cache-Control"))

    monitor = live_gunicorn.login(user_with_role(Role.MONITOR))
    audit_csv = monitor.get(f"/monitoring/audit/export.csv?participant={number}")
    assert audit_csv.status_code == 200 and audit_csv.headers["Content-Type"].startswith("text/csv")
    assert number in audit_csv.text and no_store(audit_csv)

    data_manager = live_gunicorn.login(user_with_role(Role.DATA_MANAGER, username="dana"))
    streamed = data_manager.post("/exports/", export_form(data_manager, kind="csv", dataset="VISIT"))
    assert streamed.status_code == 200 and streamed.headers["Content-Disposition"].startswith("attachment")
    assert no_store(streamed)

    asked = data_manager.post("/exports/", export_form(data_manager, kind="odm"))
    assert asked.status_code == 302
    status = data_manager.get(asked.headers["Location"] + "status/")
    assert status.status_code == 200 and no_store(status)
    download_url = status.json()["download_url"]
    assert download_url, status.json()
    download = data_manager.get(download_url)
    assert download.status_code == 200 and download.headers["Content-Disposition"].startswith("attachment")
    assert number in download.text and no_store(download)
