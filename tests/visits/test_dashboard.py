"""The record status dashboard: each visit's state as a cell, the filters, the sites a user sees, the links a user
may follow, and the database's filter by state agreeing with the rules."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from bench.generate import generate_trial
from clinical.mrss import MRSS_AREAS
from screening.models import Participant
from tests.randomization.factories import list_in_use
from tests.visits.test_crfs import save
from tests.visits.test_schedule import randomised_on
from trial_site.models import StaffMembership
from trial_site.roles import Role
from visits import services
from visits.crf_services import visit_form_save
from visits.crfs import LabPanel, VisitMrss
from visits.dashboard import cell_state_sql
from visits.models import Visit
from visits.progress import refresh_all
from visits.record_status import visit_cells

pytestmark = pytest.mark.django_db


def cell(page: str, number: str, code: str) -> str:
    """The state of visit ``code`` of participant ``number`` on the dashboard's HTML."""
    row = re.search(rf'<tr data-participant="{number}">(.*?)</tr>', page, re.S)
    assert row, f"{number} is not on the page"
    found = re.search(rf'data-state="(\w+)" data-visit="{code}"', row.group(1))
    assert found, f"no {code} cell for {number}"
    return found.group(1)


@pytest.fixture
def two_participants(site: Any, coordinator: Any, investigator: Any, statistician: Any) -> tuple[Visit, Visit]:
    """Two participants whose Day 1 took place: one with a draft laboratory panel, one with nothing entered."""
    list_in_use(statistician)
    today = timezone.localdate()
    visits = []
    for days in (10, 12):
        participant = randomised_on(today - timedelta(days=days), site, coordinator, investigator)
        d1 = participant.visits.get(code="D1")
        visits.append(services.visit_record_done(visit=d1, by=coordinator, done_on=d1.target_date))
    save(LabPanel, visits[0], coordinator, {"hb_g_dl": 12.5}, complete=False)
    return visits[0], visits[1]


def test_a_draft_visit_and_an_empty_one_are_different_cells(two_participants: Any, coordinator: Any) -> None:
    draft, empty = two_participants
    client = Client()
    client.force_login(coordinator)
    page = client.get(reverse("visits:dashboard")).content.decode()
    assert cell(page, draft.participant.screening_number, "D1") == "draft"
    assert cell(page, empty.participant.screening_number, "D1") == "empty"
    assert cell(page, empty.participant.screening_number, "W24") == "not_due"
    assert 'data-testid="state-legend"' in page
    assert reverse("visits:visit", args=[draft.pk]) in page  # one click into the visit


def test_the_filter_by_state_and_visit_keeps_the_matching_participants(two_participants: Any, coordinator: Any) -> None:
    draft, empty = two_participants
    client = Client()
    client.force_login(coordinator)
    page = client.get(reverse("visits:dashboard"), {"state": "draft", "visit": "D1"}).content.decode()
    assert f'data-participant="{draft.participant.screening_number}"' in page
    assert f'data-participant="{empty.participant.screening_number}"' not in page
    assert 'data-visit="W4"' not in page  # only the chosen visit's column
    page = client.get(reverse("visits:dashboard"), {"state": "empty"}).content.decode()
    assert f'data-participant="{empty.participant.screening_number}"' in page
    assert f'data-participant="{draft.participant.screening_number}"' not in page


def test_the_participants_grid_tells_a_draft_from_an_empty_form(two_participants: Any, coordinator: Any) -> None:
    draft, _empty = two_participants
    client = Client()
    client.force_login(coordinator)
    page = client.get(reverse("visits:participant", args=[draft.participant.screening_number])).content.decode()
    assert re.search(r'data-state="draft" data-form="labs"', page)
    assert re.search(r'data-state="empty" data-form="vitals"', page)
    assert 'data-testid="state-legend"' in page


def test_a_blinded_assessor_is_offered_no_link_that_would_be_refused(
    two_participants: Any, assessor: Any, coordinator: Any
) -> None:
    draft, _empty = two_participants
    save(VisitMrss, draft, assessor, {"assessor": assessor, **{code: 1 for code, _ in MRSS_AREAS}}, complete=True)
    client = Client()
    client.force_login(assessor)
    for url in (reverse("visits:dashboard"), reverse("visits:participant", args=[draft.participant.screening_number])):
        page = client.get(url).content.decode()
        links = set(re.findall(r'href="(/visits/[^"?]+)"', page))
        assert links, url
        for link in links:
            assert client.get(link).status_code == 200, link
    # The complete mRSS is not linked (the assessor may not see it again); the visit is.
    assert reverse("visits:crf", args=[draft.pk, "mrss"]) not in page


@pytest.mark.needs_postgres
def test_the_databases_state_of_every_visit_is_the_rules_state() -> None:
    generate_trial(40, sites=2, seed=7)
    refresh_all()  # the generator writes without the services: the stored progress is computed once for all
    # Some forms saved back to drafts, with a reason, by the site's coordinator.
    for panel in LabPanel.objects.select_related("visit").order_by("pk")[:5]:
        by = StaffMembership.objects.get(role=Role.COORDINATOR, site_id=panel.site_id).user
        visit_form_save(record=panel, by=by, complete=False, reason="values to check again")
    today = timezone.localdate()
    visits = list(Visit.objects.annotate(cell_state=cell_state_sql(today)))
    python = visit_cells(visits, today=today)
    assert {visit.pk: visit.cell_state for visit in visits} == {pk: str(c.state) for pk, c in python.items()}
    assert {"draft", "complete", "not_due"} <= {visit.cell_state for visit in visits}


@pytest.mark.needs_postgres
def test_a_coordinator_sees_the_participants_of_their_own_site_only() -> None:
    trial = generate_trial(30, sites=2, seed=7)
    refresh_all()
    membership = StaffMembership.objects.filter(role=Role.COORDINATOR, site_id=trial.site_ids[0]).first()
    client = Client()
    client.force_login(membership.user)
    page = client.get(reverse("visits:dashboard"), {"sort": "next_due"}).content.decode()
    shown = set(re.findall(r'<tr data-participant="([^"]+)"', page))
    here = set(Participant.objects.filter(site_id=trial.site_ids[0]).values_list("screening_number", flat=True))
    assert shown and shown <= here
