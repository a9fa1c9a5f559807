"""Data queries: raised by a monitor on a field or a whole form, answered by the site (which corrects the data with
a reason, linked to the query), closed by the raiser or re-opened; markers on the form; the list with counts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from monitoring.models import DataQuery, QueryMessage
from monitoring.selectors.queries import query_counts
from monitoring.services import queries as services
from tests.randomization.factories import list_in_use
from tests.visits.test_schedule import randomised_on
from trial_site.roles import Role
from visits import services as visit_services
from visits.crf_services import visit_form_save
from visits.crfs import LabPanel
from visits.models import Visit

FULL_LABS = {"hb_g_dl": 12.5, "wbc": 6.0, "anc": 3.5, "alc": 1.8, "platelets": 240.0, "alt": 25.0, "alt_uln": 40.0,
             "creatinine": 0.8, "creatinine_unit": "mg/dL"}  # fmt: skip


@pytest.fixture
def in_use(statistician: Any) -> Any:
    return list_in_use(statistician)


@pytest.fixture
def monitor(user_with_role: Any) -> Any:
    return user_with_role(Role.MONITOR, username="monitor")


@pytest.fixture
def data_manager(user_with_role: Any) -> Any:
    return user_with_role(Role.DATA_MANAGER, username="datamanager")


def done_d1(site: Any, coordinator: Any, investigator: Any) -> Visit:
    participant = randomised_on(timezone.localdate() - timedelta(days=10), site, coordinator, investigator)
    visit = participant.visits.get(code="D1")
    return visit_services.visit_record_done(visit=visit, by=coordinator, done_on=visit.target_date)


def labs_on(visit: Visit, by: Any, **values: Any) -> LabPanel:
    record = LabPanel(visit=visit, **{**FULL_LABS, **values})
    visit_form_save(record=record, by=by, complete=True)
    return record


@pytest.fixture
def labs(site: Any, coordinator: Any, investigator: Any, in_use: Any) -> LabPanel:
    return labs_on(done_d1(site, coordinator, investigator), coordinator)


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def change_labs(labs: LabPanel, by: Any, reason: str, **values: Any) -> LabPanel:
    record = LabPanel.objects.get(pk=labs.pk)
    for name, value in values.items():
        setattr(record, name, value)
    visit_form_save(record=record, by=by, complete=True, reason=reason)
    return record


def actions(query: DataQuery) -> list[str]:
    return list(query.messages.order_by("at", "pk").values_list("action", flat=True))


def test_the_lifecycle_raise_answer_correct_close_reopen(
    labs: LabPanel, monitor: Any, coordinator: Any, investigator: Any
) -> None:
    monitor_client, site_client = client_for(monitor), client_for(coordinator)
    raise_url = f"/monitoring/queries/raise/?form=visits.labpanel&object={labs.pk}"
    page = monitor_client.get(raise_url).content.decode()
    assert "Haemoglobin" in page and "The whole form" in page  # fields by their verbose names
    due = timezone.localdate() + timedelta(days=7)
    response = monitor_client.post(
        raise_url,
        {"field": "hb_g_dl", "message": "Hb 12.5 — the source says 11.5?", "assignee": coordinator.pk,
         "due_date": due.isoformat()},
    )  # fmt: skip
    query = DataQuery.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/monitoring/queries/{query.pk}/"
    assert (query.status, query.field, query.raised_by, query.assignee, query.due_date) == (
        "open",
        "hb_g_dl",
        monitor,
        coordinator,
        due,
    )
    assert (query.participant_id, query.site_id) == (labs.visit.participant_id, labs.site_id)

    # The site answers, and corrects the value on the form with a reason: the correction is linked to the query.
    answered = site_client.post(f"/monitoring/queries/{query.pk}/", {"action": "answer", "text": "Typo."})
    assert answered.status_code == 302
    change_labs(labs, coordinator, "corrected from the lab report (query)", hb_g_dl=11.5)
    query.refresh_from_db()
    assert query.status == "answered"
    corrected = query.messages.get(action="corrected")
    newest = LabPanel.objects.get(pk=labs.pk).history.order_by("-history_id").first()
    assert corrected.correction_history_id == newest.history_id and newest.hb_g_dl == 11.5
    assert (corrected.author, corrected.text) == (coordinator, "corrected from the lab report (query)")

    # The site cannot close it: 403, and it stays answered.
    assert site_client.post(f"/monitoring/queries/{query.pk}/", {"action": "close"}).status_code == 403
    with pytest.raises(PermissionDenied):
        services.query_close(query=query, by=investigator)
    query.refresh_from_db()
    assert query.status == "answered"
    page = site_client.get(f"/monitoring/queries/{query.pk}/").content.decode()
    assert 'data-testid="close-form"' not in page and 'data-testid="record-link"' in page
    assert f'href="/visits/{labs.visit_id}/forms/labs/"' in page

    # The monitor closes it, then re-opens it; every step is in the conversation.
    monitor_client.post(f"/monitoring/queries/{query.pk}/", {"action": "close", "text": "Thanks."})
    query.refresh_from_db()
    assert (query.status, query.closed_by) == ("closed", monitor)
    monitor_client.post(f"/monitoring/queries/{query.pk}/", {"action": "reopen", "text": "The ALT too, please."})
    query.refresh_from_db()
    assert (query.status, query.closed_at) == ("open", None)
    assert actions(query) == ["raised", "answered", "corrected", "closed", "reopened"]
    assert query.history.count() == 4  # raised, answered, closed, re-opened: each change in the audit trail
    conversation = monitor_client.get(f"/monitoring/queries/{query.pk}/").content.decode()
    assert "Typo." in conversation and "corrected from the lab report (query)" in conversation
    assert f"change no. {newest.history_id} in the audit trail" in conversation


def test_a_correction_is_linked_only_to_the_queries_it_answers(labs: LabPanel, monitor: Any, coordinator: Any) -> None:
    on_hb = services.query_raise(record=labs, field="hb_g_dl", message="Hb?", by=monitor)
    on_platelets = services.query_raise(record=labs, field="platelets", message="Platelets?", by=monitor)
    whole = services.query_raise(record=labs, field="", message="Whole panel from the right date?", by=monitor)
    closed = services.query_raise(record=labs, field="hb_g_dl", message="Old question", by=monitor)
    services.query_answer(query=closed, by=coordinator, text="Fine.")
    services.query_close(query=closed, by=monitor)
    change_labs(labs, coordinator, "transcription error", hb_g_dl=11.0)
    assert actions(on_hb) == ["raised", "corrected"]
    assert actions(whole) == ["raised", "corrected"]
    assert actions(on_platelets) == ["raised"]
    assert actions(closed) == ["raised", "answered", "closed"]
    assert DataQuery.objects.get(pk=on_hb.pk).status == "open"  # a correction does not answer the query


def test_bad_input_is_refused_next_to_the_field_and_nothing_is_written(
    labs: LabPanel, monitor: Any, coordinator: Any
) -> None:
    with pytest.raises(ValidationError) as error:
        services.query_raise(record=labs, field="colour", message="?", by=monitor)
    assert "field" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        services.query_raise(
            record=labs, field="hb_g_dl", message=" ", by=monitor, due_date=timezone.localdate() - timedelta(days=1)
        )
    assert {"message", "due_date"} <= set(error.value.message_dict)
    response = client_for(monitor).post(
        f"/monitoring/queries/raise/?form=visits.labpanel&object={labs.pk}", {"field": "hb_g_dl", "message": ""}
    )
    assert response.status_code == 400 and "This field is required." in response.content.decode()
    assert not DataQuery.objects.exists() and not QueryMessage.objects.exists()

    query = services.query_raise(record=labs, field="hb_g_dl", message="Hb?", by=monitor)
    site_client = client_for(coordinator)
    response = site_client.post(f"/monitoring/queries/{query.pk}/", {"action": "answer", "text": ""})
    assert response.status_code == 400 and "Write the answer." in response.content.decode()
    services.query_answer(query=query, by=coordinator, text="Yes.")
    response = site_client.post(f"/monitoring/queries/{query.pk}/", {"action": "answer", "text": "Again"})
    assert response.status_code == 400  # answered already: no form, and the service refuses
    response = client_for(monitor).post(f"/monitoring/queries/{query.pk}/", {"action": "reopen", "text": ""})
    assert response.status_code == 400 and "Say why the query is re-opened." in response.content.decode()
    response = client_for(monitor).post(f"/monitoring/queries/{query.pk}/", {"action": "nonsense"})
    assert response.status_code == 400
    assert actions(query) == ["raised", "answered"]


def test_who_may_raise_and_close(
    labs: LabPanel, monitor: Any, data_manager: Any, coordinator: Any, user_with_role: Any, other_site: Any
) -> None:
    raise_url = f"/monitoring/queries/raise/?form=visits.labpanel&object={labs.pk}"
    assert client_for(coordinator).get(raise_url).status_code == 403
    with pytest.raises(PermissionDenied):
        services.query_raise(record=labs, field="", message="?", by=coordinator)
    foreign_monitor = user_with_role(Role.MONITOR, username="ctg-monitor", at=other_site)
    assert client_for(foreign_monitor).get(raise_url).status_code == 404  # another site's record
    assert client_for(monitor).get("/monitoring/queries/raise/?form=auth.user&object=1").status_code == 404

    query = services.query_raise(record=labs, field="alt", message="ALT?", by=monitor)
    assert client_for(foreign_monitor).get(f"/monitoring/queries/{query.pk}/").status_code == 404
    services.query_answer(query=query, by=coordinator, text="Checked.")
    with pytest.raises(PermissionDenied):  # only the monitor who raised it closes it
        services.query_close(query=query, by=data_manager)
    services.query_close(query=query, by=monitor)


def test_a_monitor_cannot_change_clinical_data(labs: LabPanel, monitor: Any) -> None:
    client = client_for(monitor)
    response = client.post(
        f"/visits/{labs.visit_id}/forms/labs/",
        {**FULL_LABS, "hb_g_dl": 9.0, "complete": "1", "reason_for_change": "monitor edit"},
    )
    assert response.status_code == 403
    assert LabPanel.objects.get(pk=labs.pk).hb_g_dl == 12.5
    assert LabPanel.objects.get(pk=labs.pk).history.count() == 1
    with pytest.raises(PermissionDenied):
        change_labs(labs, monitor, "monitor edit", hb_g_dl=9.0)


def test_markers_appear_next_to_the_queried_field_on_the_form_page(
    labs: LabPanel, monitor: Any, coordinator: Any
) -> None:
    query = services.query_raise(record=labs, field="platelets", message="Clumped sample?", by=monitor)
    url = f"/visits/{labs.visit_id}/forms/labs/"
    page = client_for(coordinator).get(url).content.decode()
    assert page.count('data-query-field="platelets"') == 1 and 'data-query-field="hb_g_dl"' not in page
    marker = page.index('data-query-field="platelets"')
    assert page.index('name="platelets"') > marker > page.index('name="alc"')  # just before its field
    assert f'href="/monitoring/queries/{query.pk}/"' in page
    assert 'data-testid="query-panel"' in page and "Clumped sample?" in page
    assert 'data-testid="raise-query"' not in page  # the site does not raise queries
    services.query_answer(query=query, by=coordinator, text="Repeated: 240.")
    services.query_close(query=query, by=monitor)
    page = client_for(coordinator).get(url).content.decode()
    assert 'data-query-field="platelets"' not in page and "Clumped sample?" in page  # closed: in the panel only


def test_a_monitor_raises_a_query_from_the_adverse_event_page(labs: LabPanel, monitor: Any, coordinator: Any) -> None:
    from safety.services import adverse_event_record
    from tests.safety.test_safety import event_for

    event = adverse_event_record(event=event_for(labs.visit.participant), by=coordinator)
    page = client_for(monitor).get(f"/safety/events/{event.pk}/").content.decode()
    link = f"/monitoring/queries/raise/?form=safety.adverseevent&amp;object={event.pk}"
    assert 'data-testid="raise-query"' in page and link in page
    client_for(monitor).post(link.replace("&amp;", "&"), {"field": "grade", "message": "Grade 2 or 3?"})
    query = DataQuery.objects.get()
    assert (query.field, query.participant_id) == ("grade", event.participant_id)
    page = client_for(coordinator).get(f"/safety/events/{event.pk}/").content.decode()
    assert 'data-query-field="grade"' in page and "Grade 2 or 3?" in page


def test_the_list_filters_shows_age_and_overdue_and_counts(
    labs: LabPanel, monitor: Any, coordinator: Any, investigator: Any, site: Any
) -> None:
    other = labs_on(done_d1(site, coordinator, investigator), coordinator)
    first = services.query_raise(record=labs, field="hb_g_dl", message="First?", by=monitor, assignee=coordinator,
                                 due_date=timezone.localdate())  # fmt: skip
    services.query_raise(record=labs, field="", message="Second?", by=monitor)
    third = services.query_raise(record=other, field="alt", message="Third?", by=monitor)
    services.query_answer(query=third, by=coordinator, text="Done.")
    services.query_raise(record=labs.visit, field="done_on", message="Date?", by=monitor)
    # Time passes: raised 5 days ago, due 2 days ago (non-clinical bookkeeping rows, moved back directly).
    DataQuery.objects.filter(pk=first.pk).update(
        raised_at=timezone.now() - timedelta(days=5), due_date=timezone.localdate() - timedelta(days=2)
    )
    client = client_for(monitor)
    page = client.get("/monitoring/queries/").content.decode()
    assert page.count("data-query-id=") == 4
    assert f'data-query-id="{first.pk}" data-overdue="1"' in page
    assert page.count('data-overdue="1"') == 1
    assert '<td data-testid="age">5</td>' in page
    number = labs.visit.participant.screening_number
    counts = query_counts(monitor)
    assert [(row.label, row.open, row.answered, row.overdue) for row in counts["site"]] == [("DHK", 3, 1, 1)]
    assert {row.label: (row.open, row.answered) for row in counts["participant"]} == {
        number: (3, 0),
        other.visit.participant.screening_number: (0, 1),
    }
    by_form = [(row.label, row.open, row.answered) for row in counts["form"]]
    assert by_form == [("Laboratory panel", 2, 1), ("Visit", 1, 0)]
    assert 'data-testid="query-counts-participant"' in page and f'data-count-key="{number}"' in page

    assert client.get("/monitoring/queries/?status=answered").content.decode().count("data-query-id=") == 1
    assert client.get(f"/monitoring/queries/?participant={number}").content.decode().count("data-query-id=") == 3
    assert client.get(f"/monitoring/queries/?assignee={coordinator.pk}").content.decode().count("data-query-id=") == 1
    assert client.get("/monitoring/queries/?form=visits.visit").content.decode().count("data-query-id=") == 1
    assert '<option value="visits.visit">Visit</option>' in page and "visits.vitalsigns" not in page  # forms queried
    assert client.get("/monitoring/queries/?status=bogus&site=x").status_code == 200  # bad filters: ignored


def test_the_list_runs_a_constant_number_of_queries(
    labs: LabPanel, monitor: Any, coordinator: Any, investigator: Any, site: Any
) -> None:
    client = client_for(monitor)

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/monitoring/queries/").status_code == 200
        return len(captured)

    services.query_raise(record=labs, field="hb_g_dl", message="?", by=monitor, assignee=coordinator)
    client.get("/monitoring/queries/")  # warm the caches (content types, roles)
    one = count()
    for _ in range(2):
        more = labs_on(done_d1(site, coordinator, investigator), coordinator)
        services.query_raise(record=more, field="alt", message="?", by=monitor, assignee=coordinator)
        services.query_raise(record=more, field="", message="?", by=monitor)
    assert count() == one


def test_people_without_query_rights_see_no_queries(labs: LabPanel, monitor: Any, assessor: Any) -> None:
    services.query_raise(record=labs, field="hb_g_dl", message="?", by=monitor)
    assert client_for(assessor).get("/monitoring/queries/").status_code == 403
