"""The month calendar of visits: each visit on its day (done ones on the day done), the months around it, only the
user's sites, today marked, a month or site that cannot be read answered with this month, never an error."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinical.calendar import Month, month_weeks, parse_month
from tests.factories import make_user
from tests.randomization.factories import list_in_use
from tests.visits.test_schedule import randomised_on
from trial_site.roles import Role
from trial_site.services import membership_grant, system_user
from visits import services

pytestmark = pytest.mark.django_db


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def shown(response: Any) -> dict[date, list[tuple[str, str, str]]]:
    """Day → the visits the calendar shows on it: (screening number, visit code, state)."""
    return {
        day.day: [(e.visit.participant.screening_number, e.visit.code, str(e.state)) for e in day.entries]
        for week in response.context["weeks"]
        for day in week
        if day.entries
    }


def last_month() -> Month:
    return Month.of(timezone.localdate()).previous


@pytest.fixture
def month_of_visits(site: Any, coordinator: Any, investigator: Any, statistician: Any) -> dict[str, Any]:
    """Two participants of last month: Day 1 on its first day (done) and on its last day (missed)."""
    list_in_use(statistician)
    month = last_month()
    first = randomised_on(month.first_day, site, coordinator, investigator)
    last = randomised_on(month.last_day, site, coordinator, investigator)
    services.visit_record_done(visit=first.visits.get(code="D1"), by=coordinator, done_on=month.first_day)
    services.visit_record_missed(visit=last.visits.get(code="D1"), by=coordinator, reason="could not travel")
    return {"month": month, "first": first, "last": last}


def test_the_pure_month_grid_has_whole_weeks_around_the_month() -> None:
    weeks = month_weeks(Month(2026, 2))  # Monday first
    assert weeks[0][0] == date(2026, 1, 26) and weeks[-1][-1] == date(2026, 3, 1)
    assert all(len(week) == 7 for week in weeks)
    assert month_weeks(Month(2026, 2), first_weekday=5)[0][0] == date(2026, 1, 31)  # Saturday first
    assert (Month(2026, 12).next, Month(2026, 1).previous) == (Month(2027, 1), Month(2025, 12))
    assert parse_month("2026-02") == Month(2026, 2)
    assert [parse_month(text) for text in ("2026-13", "2026-0", "abc", "99999-01", "1999-12", "", None)] == [None] * 7


def test_visits_on_the_first_and_last_day_of_the_month_open_in_one_click(
    month_of_visits: dict[str, Any], coordinator: Any
) -> None:
    month, first, last = month_of_visits["month"], month_of_visits["first"], month_of_visits["last"]
    response = logged_in(coordinator).get("/visits/calendar/", {"month": str(month)})
    assert response.status_code == 200
    days = shown(response)
    assert days[month.first_day] == [(first.screening_number, "D1", "done")]
    assert days[month.last_day] == [(last.screening_number, "D1", "missed")]
    assert (first.screening_number, "W2", "overdue") in days[month.first_day + timedelta(days=14)]
    assert all(day.month == month.month for day in days)  # the weeks' days of the months around it stay empty
    page = response.content.decode()
    assert f'href="/visits/{first.visits.get(code="D1").pk}/"' in page
    assert f'href="?month={month.previous}"' in page and f'href="?month={month.next}"' in page
    assert month.first_day.strftime("%B") in page


def test_the_next_month_shows_its_own_visits_only(month_of_visits: dict[str, Any], coordinator: Any) -> None:
    month, last = month_of_visits["month"], month_of_visits["last"]
    days = shown(logged_in(coordinator).get("/visits/calendar/", {"month": str(month.next)}))
    listed = [visit for visits in days.values() for visit in visits]
    assert (last.screening_number, "D1", "missed") not in listed
    assert (last.screening_number, "W2", "upcoming") in days.get(month.last_day + timedelta(days=14), []) or (
        last.screening_number, "W2", "open") in days.get(month.last_day + timedelta(days=14), [])  # fmt: skip
    assert not any(code == "D1" for _number, code, _state in listed)
    previous = shown(logged_in(coordinator).get("/visits/calendar/", {"month": str(month.previous)}))
    assert previous == {}


def test_another_sites_visits_are_absent_and_a_site_filter_shows_one_site(
    site: Any, other_site: Any, coordinator: Any, investigator: Any, statistician: Any
) -> None:
    list_in_use(statistician)
    ctg_coordinator = make_user("ctg_coordinator", role=Role.COORDINATOR, site=other_site)
    ctg_investigator = make_user("ctg_investigator", role=Role.INVESTIGATOR, site=other_site)
    today = timezone.localdate()
    here = randomised_on(today, site, coordinator, investigator)
    there = randomised_on(today, other_site, ctg_coordinator, ctg_investigator)
    mine = shown(logged_in(coordinator).get("/visits/calendar/"))
    assert [number for number, _code, _state in mine[today]] == [here.screening_number]
    assert there.screening_number not in logged_in(coordinator).get("/visits/calendar/").content.decode()
    refused = logged_in(coordinator).get("/visits/calendar/", {"site": "CTG"})
    assert refused.status_code == 200 and "not one of yours" in refused.content.decode()
    assert there.screening_number not in refused.content.decode()

    membership_grant(user=coordinator, site=other_site, role=Role.COORDINATOR, by=system_user())
    both = logged_in(coordinator).get("/visits/calendar/")
    assert 'data-testid="calendar-site-filter"' in both.content.decode()
    assert {number for number, _c, _s in shown(both)[today]} == {here.screening_number, there.screening_number}
    one = logged_in(coordinator).get("/visits/calendar/", {"site": "CTG"})
    assert [number for number, _c, _s in shown(one)[today]] == [there.screening_number]
    assert "site=CTG" in one.content.decode()  # the months around it stay at that site


def test_today_is_marked_and_a_blinded_assessor_reads_no_arm(
    site: Any, coordinator: Any, investigator: Any, statistician: Any, assessor: Any
) -> None:
    list_in_use(statistician)
    today = timezone.localdate()
    randomised_on(today, site, coordinator, investigator)
    response = logged_in(assessor).get("/visits/calendar/")
    page = response.content.decode()
    assert response.status_code == 200
    assert f'data-date="{today:%Y-%m-%d}" aria-current="date"' in page
    assert page.count('aria-current="date"') == 1
    assert "baricitinib" not in page.lower() and "methotrexate" not in page.lower()


@pytest.mark.parametrize("month", ["2026-13", "abc", "", "99999-01", "1999-12", "2026-00", "-1", "2026-1-1"])
def test_a_month_that_cannot_be_read_shows_this_month_with_a_note(coordinator: Any, month: str) -> None:
    response = logged_in(coordinator).get("/visits/calendar/", {"month": month})
    assert response.status_code == 200
    assert response.context["month"] == Month.of(timezone.localdate())
    assert "could not be read" in response.content.decode()


def test_roles_without_visits_are_refused(user_with_role: Any) -> None:
    assert logged_in(user_with_role(Role.STATISTICIAN)).get("/visits/calendar/").status_code == 403
    assert Client().get("/visits/calendar/").status_code == 302


def test_the_visits_page_links_to_the_calendar(coordinator: Any) -> None:
    assert 'href="/visits/calendar/"' in logged_in(coordinator).get("/visits/").content.decode()


def test_the_number_of_queries_does_not_grow_with_the_participants(
    site: Any, coordinator: Any, investigator: Any, statistician: Any
) -> None:
    list_in_use(statistician)
    today = timezone.localdate()
    created: list[Any] = []

    def queries(count: int) -> int:
        while len(created) < count:
            created.append(randomised_on(today - timedelta(days=len(created) % 3), site, coordinator, investigator))
        client = logged_in(coordinator)
        client.get("/visits/calendar/")  # the session and the menu's caches warm
        with CaptureQueriesContext(connection) as captured:
            response = client.get("/visits/calendar/")
        assert sum(len(visits) for visits in shown(response).values()) >= count
        return len(captured.captured_queries)

    assert queries(2) == queries(10)
