"""Entering a visit: the visit page lists its forms with their state, each form saves and returns to the visit page,
or saves and goes straight to the next form of the visit the user enters; a conflict is still refused (409)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import lxml.html
import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from tests.http.server import html_form
from tests.randomization.factories import list_in_use
from tests.visits.test_crfs import FULL_LABS, save
from tests.visits.test_more_crfs import LIPIDS
from tests.visits.test_schedule import randomised_on
from trial_site import registry
from trial_site.roles import Role
from visits import services
from visits.crfs import GlobalAssessment, InflammationMarkers, LabPanel, Lipids
from visits.models import Visit

# The week-12 forms in the registry's order; the mRSS is the investigator's and the blinded assessor's.
W12_FORMS = ["mrss", "labs", "haq", "globals", "inflammation", "lipids", "drug", "conmeds"]
GLOBALS = {"patient_global": 4.0, "physician_global": 3.5, "swollen_28": 2, "tender_28": 5}


@pytest.fixture
def w12(site: Any, coordinator: Any, investigator: Any, statistician: Any) -> Visit:
    """Week 12 of a participant randomised 84 days ago: in its window today, recorded done."""
    list_in_use(statistician)
    participant = randomised_on(timezone.localdate() - timedelta(days=84), site, coordinator, investigator)
    visit = participant.visits.get(code="W12")
    return services.visit_record_done(visit=visit, by=coordinator, done_on=timezone.localdate())


def client_of(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def listed(client: Client, visit: Visit) -> dict[str, tuple[str, bool]]:
    """The visit page's forms: code → (state, whether its name is a link)."""
    page = client.get(f"/visits/{visit.pk}/")
    assert page.status_code == 200
    document = lxml.html.fromstring(page.content.decode())
    return {
        item.get("data-form"): (item.get("data-state"), bool(item.xpath(".//a")))
        for item in document.xpath("//*[@data-testid='visit-forms']//li")
    }


def test_the_visit_page_lists_its_forms_in_order_with_their_state(w12: Visit, coordinator: Any) -> None:
    save(LabPanel, w12, coordinator, {"hb_g_dl": 12.5}, complete=False)
    save(Lipids, w12, coordinator, LIPIDS, complete=True)
    forms = listed(client_of(coordinator), w12)
    assert list(forms) == W12_FORMS
    assert forms["labs"] == ("draft", True)
    assert forms["lipids"] == ("complete", True)
    assert forms["haq"] == ("empty", True)
    assert forms["mrss"] == ("empty", True)  # the coordinator reads the mRSS (unblinded) but does not enter it
    html = client_of(coordinator).get(f"/visits/{w12.pk}/").content.decode()
    schedule = client_of(coordinator).get(f"/visits/participants/{w12.participant.screening_number}/")
    assert f'href="/visits/{w12.pk}/"' in schedule.content.decode()  # the participant's page links the visit
    assert html.count('data-testid="read-only-form"') == 1


def test_the_blinded_assessor_can_open_only_the_mrss(w12: Visit, user_with_role: Any) -> None:
    assessor = user_with_role(Role.BLINDED_ASSESSOR, username="nasrin")
    client = client_of(assessor)
    forms = listed(client, w12)
    assert [code for code, (_state, link) in forms.items() if link] == ["mrss"]
    for code in forms:  # and every form without a link is one the assessor may not open
        assert client.get(f"/visits/{w12.pk}/forms/{code}/").status_code == (200 if code == "mrss" else 403)


def lab_body(client: Client, visit: Visit, code: str, values: dict[str, Any], button: str = "1") -> dict[str, Any]:
    page = client.get(f"/visits/{visit.pk}/forms/{code}/")
    found = html_form(page.content.decode(), "//form[@data-testid='crf-form']", button=button)
    return {**found.fields, **{name: str(value) for name, value in values.items()}}


def test_complete_and_next_goes_to_the_next_form_not_complete_skipping_the_others(w12: Visit, coordinator: Any) -> None:
    save(GlobalAssessment, w12, coordinator, GLOBALS, complete=True)
    save(InflammationMarkers, w12, coordinator, {"esr_mm_h": 20.0, "crp_mg_l": 4.5}, complete=True)
    client = client_of(coordinator)
    url = f"/visits/{w12.pk}/forms/lipids/"
    answer = client.post(f"{url}?then=next", lab_body(client, w12, "lipids", LIPIDS))
    assert answer.status_code == 302 and answer["Location"] == f"/visits/{w12.pk}/forms/drug/"
    assert Lipids.objects.get().status == "complete"
    # From the labs (first of the coordinator's: the mRSS before it is not theirs) the next is the HAQ …
    answer = client.post(f"/visits/{w12.pk}/forms/labs/?then=next", lab_body(client, w12, "labs", FULL_LABS))
    assert answer["Location"] == f"/visits/{w12.pk}/forms/haq/"


def only_lipids_and_labs_left(visit: Visit, coordinator: Any) -> None:
    """W12 with the globals and inflammation complete, the HAQ, study drug and medications not required."""
    save(GlobalAssessment, visit, coordinator, GLOBALS, complete=True)
    save(InflammationMarkers, visit, coordinator, {"esr_mm_h": 20.0, "crp_mg_l": 4.5}, complete=True)
    visit.required_forms.filter(form__in=["haq", "drug", "conmeds"]).update(status="not_required")


def test_the_next_form_comes_round_to_an_earlier_one_left_empty(w12: Visit, coordinator: Any) -> None:
    only_lipids_and_labs_left(w12, coordinator)
    client = client_of(coordinator)
    answer = client.post(f"/visits/{w12.pk}/forms/lipids/?then=next", lab_body(client, w12, "lipids", LIPIDS))
    assert answer.status_code == 302 and answer["Location"] == f"/visits/{w12.pk}/forms/labs/"


def test_the_last_form_to_enter_leads_to_the_visit_page_saying_all_are_entered(w12: Visit, coordinator: Any) -> None:
    only_lipids_and_labs_left(w12, coordinator)
    save(LabPanel, w12, coordinator, FULL_LABS, complete=True)
    client = client_of(coordinator)
    answer = client.post(f"/visits/{w12.pk}/forms/lipids/?then=next", lab_body(client, w12, "lipids", LIPIDS))
    assert answer.status_code == 302 and answer["Location"] == f"/visits/{w12.pk}/"
    texts = [str(message) for message in get_messages(answer.wsgi_request)]
    assert "Every form of this visit that you enter is complete." in texts
    assert listed(client, w12)["haq"][0] == "not_required"


def test_a_draft_is_kept_a_draft_and_a_plain_save_returns_to_the_visit_page(w12: Visit, coordinator: Any) -> None:
    client = client_of(coordinator)
    draft = lab_body(client, w12, "lipids", {"total_cholesterol": 5.2}, button="0")
    assert draft["complete"] == "0"
    answer = client.post(f"/visits/{w12.pk}/forms/lipids/", draft)
    assert answer.status_code == 302 and answer["Location"] == f"/visits/{w12.pk}/"
    assert Lipids.objects.get().status == "draft"
    assert listed(client, w12)["lipids"] == ("draft", True)
    # a draft saved "and next" goes on to the next form; the draft stays a draft and still to enter
    answer = client.post(
        f"/visits/{w12.pk}/forms/labs/?then=next", lab_body(client, w12, "labs", {"hb_g_dl": 12.5}, button="0")
    )
    assert answer["Location"] == f"/visits/{w12.pk}/forms/haq/"
    assert LabPanel.objects.get().status == "draft"


def test_a_save_against_a_form_changed_meanwhile_is_still_refused_with_409(
    w12: Visit, coordinator: Any, user_with_role: Any
) -> None:
    save(Lipids, w12, coordinator, LIPIDS, complete=False)
    client = client_of(coordinator)
    opened = lab_body(client, w12, "lipids", {"triglycerides": "1.6"})
    other = user_with_role(Role.COORDINATOR, username="karim")
    save(Lipids, w12, other, {"triglycerides": 1.5}, complete=False)
    answer = client.post(f"/visits/{w12.pk}/forms/lipids/?then=next", opened)
    assert answer.status_code == 409
    assert Lipids.objects.get().triglycerides == 1.5


def test_an_unscheduled_visit_lists_every_visit_form_and_offers_no_next(w12: Visit, coordinator: Any) -> None:
    visit = services.unscheduled_visit_add(
        participant=w12.participant, by=coordinator, on=timezone.localdate(), reason="flare of skin thickening"
    )
    client = client_of(coordinator)
    forms = listed(client, visit)
    assert list(forms) == list(registry.visit_form_labels())  # it takes any visit form
    assert forms["vitals"] == ("empty", True)
    page = client.get(f"/visits/{visit.pk}/forms/vitals/").content.decode()
    assert "Complete and next form" not in page and "Mark complete" in page
    answer = client.post(f"/visits/{visit.pk}/forms/lipids/", lab_body(client, visit, "lipids", LIPIDS))
    assert answer["Location"] == f"/visits/{visit.pk}/"
    assert listed(client, visit)["lipids"] == ("complete", True)
