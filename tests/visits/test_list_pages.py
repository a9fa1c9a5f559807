"""The visit lists show the right rows: the missing forms and the visits due, filtered and paged by keyset (every row
once, in order, across pages), with their counts; the stored state the lists read follows the services (a visit
done, missed, a form saved) and ``refresh_all`` gives what the services gave."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from tests.visits.test_schedule import randomised_on
from visits import selectors, services
from visits.crf_services import visit_form_save
from visits.crfs import VitalSigns
from visits.models import RequiredForm, VisitProgress
from visits.progress import refresh_all, tallies_recount, tallies_stored

pytestmark = pytest.mark.django_db


@pytest.fixture
def in_use(statistician: Any) -> Any:
    from tests.randomization.factories import list_in_use

    return list_in_use(statistician)


def _all_pages(page_of: Any) -> list[Any]:
    rows, cursor = [], None
    while True:
        page = page_of(cursor)
        rows += page.rows
        if page.next_cursor is None:
            return rows
        cursor = page.next_cursor


def test_missing_forms_and_overdue_visits_are_paged_filtered_and_kept_by_the_services(
    site: Any, coordinator: Any, investigator: Any, in_use: Any
) -> None:
    today = timezone.localdate()
    late = randomised_on(today - timedelta(days=60), site, coordinator, investigator)
    recent = randomised_on(today - timedelta(days=3), site, coordinator, investigator)
    d1 = recent.visits.get(code="D1")
    services.visit_record_done(visit=d1, by=coordinator, done_on=d1.target_date)

    # Missing: every form still required of a visit done (D1 of ``recent``) or whose window closed (``late``'s).
    expected = set(
        RequiredForm.objects.filter(status="required")
        .filter(visit__in=[*late.visits.filter(latest__lt=today), d1])
        .values_list("pk", flat=True)
    )
    assert expected
    page_of = lambda cursor: selectors.missing_forms_page(coordinator, today=today, cursor=cursor, per_page=3)  # noqa: E731
    rows = _all_pages(page_of)
    assert [row.pk for row in rows] == sorted(expected, key=lambda pk: (RequiredForm.objects.get(pk=pk).due_on, pk))
    assert page_of(None).count == len(expected) and not page_of(None).count_capped

    # Filtered by form; a form saved complete leaves the list.
    vitals = selectors.missing_forms_page(coordinator, today=today, form="vitals").rows
    assert vitals and {row.form for row in vitals} == {"vitals"}
    record = VitalSigns(visit=d1, site=d1.site, **_vitals())
    visit_form_save(record=record, by=coordinator, complete=True)
    after = {row.pk for row in selectors.missing_forms_page(coordinator, today=today).rows}
    assert RequiredForm.objects.get(visit=d1, form="vitals").pk not in after
    assert VisitProgress.objects.get(visit=d1).forms == VisitProgress.Forms.DRAFT  # other forms still empty

    # Overdue: the visits of ``late`` whose window closed, oldest first, paged; a visit missed leaves the list.
    overdue = late.visits.filter(latest__lt=today, done_on__isnull=True).order_by("latest", "pk")
    shown = _all_pages(lambda cursor: selectors.overdue_page(coordinator, today=today, cursor=cursor, per_page=1))
    assert [visit.pk for visit in shown] == [visit.pk for visit in overdue]
    first = overdue.first()
    services.visit_record_missed(visit=first, by=coordinator, reason="did not come")
    assert first.pk not in {v.pk for v in selectors.overdue_page(coordinator, today=today).rows}
    assert not RequiredForm.objects.filter(visit=first, due_on__isnull=False).exists()  # its forms are not missing

    # The pages: the count, the next page's link, the filter.
    client = Client()
    client.force_login(coordinator)
    page = client.get("/visits/missing-forms/", {"form": "labs"}).content.decode()
    assert 'data-form="labs"' in page and 'data-form="vitals"' not in page
    page = client.get("/visits/").content.decode()
    assert f'data-count="{overdue.count() - 1}"' in page

    # Recomputing everything gives what the services kept.
    kept = dict(VisitProgress.objects.values_list("visit_id", "forms"))
    due = dict(RequiredForm.objects.values_list("pk", "due_on"))
    tallies = tallies_stored()
    assert tallies == {key: +counts for key, counts in tallies_recount().items() if +counts}
    refresh_all()
    assert dict(VisitProgress.objects.values_list("visit_id", "forms")) == kept
    assert dict(RequiredForm.objects.values_list("pk", "due_on")) == due
    assert tallies_stored() == tallies


def _vitals() -> dict[str, Any]:
    return {
        "weight_kg": 60,
        "systolic_bp": 120,
        "diastolic_bp": 80,
        "heart_rate": 70,
        "temperature_c": 36.8,
        "height_cm": 160,
        "unusual_values_confirmed": False,
    }
