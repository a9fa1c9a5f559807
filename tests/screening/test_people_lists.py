"""Lists of people offer only those whose role fits (#20 item 8): "consent obtained by" the site's coordinators and
investigators; an mRSS "assessor" the site's investigators and blinded assessors. Never a monitor, data manager,
statistician or administrator, nor anyone of another site; an id outside the list is refused at the field."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from screening.models import Participant
from tests.randomization.factories import list_in_use
from tests.screening.factories import register
from tests.screening.test_screening_pages import registration_data
from tests.visits.test_schedule import randomised_on
from trial_site.roles import Role
from visits import services as visit_services
from visits.crfs import VisitMrss

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(user_with_role: Any, other_site: Any) -> dict[str, Any]:
    """One person of every role at DHK, named after it, and a coordinator and an investigator at CTG."""
    people = {role.value: user_with_role(role, username=f"dhk-{role.value}") for role in Role}
    people["ctg-coordinator"] = user_with_role(Role.COORDINATOR, username="ctg-coordinator", at=other_site)
    people["ctg-investigator"] = user_with_role(Role.INVESTIGATOR, username="ctg-investigator", at=other_site)
    return people


def options(page: str, name: str) -> dict[str, bool]:
    """The choices of the select ``name`` on the page: shown name → preselected."""
    select = re.search(rf'<select name="{re.escape(name)}".*?</select>', page, re.S)
    assert select, name
    return {
        label.strip(): "selected" in attributes
        for value, attributes, label in re.findall(r'<option value="([^"]*)"([^>]*)>([^<]*)</option>', select.group(0))
        if value
    }


def page_as(user: Any, path: str) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(path)
    assert response.status_code == 200, path
    return response.content.decode()


def test_consent_obtained_by_offers_the_sites_coordinators_and_investigators(staff: dict[str, Any]) -> None:
    offered = options(page_as(staff["coordinator"], "/screening/register/DHK/"), "consent-obtained_by")
    assert offered == {"Dhk-Coordinator": True, "Dhk-Investigator": False}


def test_a_consent_taker_outside_the_list_is_refused_at_the_field(staff: dict[str, Any]) -> None:
    client = Client()
    client.force_login(staff["coordinator"])
    for outsider in ("monitor", "data_manager", "administrator", "statistician", "blinded_assessor", "ctg-coordinator"):
        data = registration_data(**{"consent-obtained_by": staff[outsider].pk})
        response = client.post("/screening/register/DHK/", data)
        assert response.status_code == 200, outsider
        assert "Select a valid choice" in response.content.decode(), outsider
    assert not Participant.objects.exists()
    data = registration_data(**{"consent-obtained_by": staff["investigator"].pk})
    assert client.post("/screening/register/DHK/", data).status_code == 302


def test_the_screening_mrss_assessor_is_an_investigator_or_a_blinded_assessor(site: Any, staff: dict[str, Any]) -> None:
    participant = register(site, staff["coordinator"])
    path = f"/screening/{participant.screening_number}/forms/mrss/"
    by_coordinator = options(page_as(staff["coordinator"], path), "assessor")
    assert by_coordinator == {"Dhk-Blinded_Assessor": False, "Dhk-Investigator": False}  # the coordinator chooses
    by_assessor = options(page_as(staff["blinded_assessor"], path), "assessor")
    assert by_assessor == {"Dhk-Blinded_Assessor": True, "Dhk-Investigator": False}  # the scorer is preselected


def test_the_visit_mrss_assessor_list_and_a_foreign_id_refused(site: Any, staff: dict[str, Any]) -> None:
    list_in_use(staff["statistician"])
    participant = randomised_on(
        timezone.localdate() - timedelta(days=30), site, staff["coordinator"], staff["investigator"]
    )
    w4 = participant.visits.get(code="W4")
    visit_services.visit_record_done(visit=w4, by=staff["coordinator"], done_on=w4.target_date)
    path = f"/visits/{w4.pk}/forms/mrss/"
    assert options(page_as(staff["blinded_assessor"], path), "assessor") == {
        "Dhk-Blinded_Assessor": True,
        "Dhk-Investigator": False,
    }
    client = Client()
    client.force_login(staff["blinded_assessor"])
    response = client.post(path, {"assessor": staff["monitor"].pk, "assessed_on": w4.target_date.isoformat()})
    assert "Select a valid choice" in response.content.decode()
    assert not VisitMrss.objects.filter(visit=w4).exists()
