"""The home page as to-do lists per role (#20 item 4): each list shows its role's work at the user's own sites
only, with its count; every item and "see all" link opens for that user; a list with nothing to do says so; a
user with several roles sees each list once; the page runs the same number of queries whatever the number of
participants."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from monitoring.models import DataQuery
from monitoring.services import queries
from screening.models import Participant
from tests.bench.test_page_queries import busy_participant
from tests.factories import make_site, make_user, system_user
from tests.randomization.factories import list_in_use
from tests.screening.factories import register, screen_eligible
from trial_site.roles import Role
from trial_site.services import membership_grant

pytestmark = pytest.mark.django_db


@pytest.fixture
def trial(site: Any, other_site: Any, coordinator: Any, investigator: Any, statistician: Any, user_with_role: Any):
    """DHK: a participant randomised 30 days ago (Day 1 done, W4 in window, an SAE report not sent, a query to
    the coordinator) and one computed eligible, not yet confirmed. CTG: the same busy participant."""
    list_in_use(statistician)
    staff = {
        "coordinator": coordinator,
        "investigator": investigator,
        "monitor": user_with_role(Role.MONITOR, username="monitor"),
        "data_manager": user_with_role(Role.DATA_MANAGER, username="dana"),
        "assessor": user_with_role(Role.BLINDED_ASSESSOR, username="assessor"),
    }
    ctg = {
        role: user_with_role(role, username=f"ctg_{role.value}", at=other_site)
        for role in (Role.COORDINATOR, Role.INVESTIGATOR, Role.MONITOR)
    }
    busy = busy_participant(site, coordinator, investigator, staff["monitor"])
    eligible = screen_eligible(register(site, coordinator), coordinator)
    elsewhere = busy_participant(other_site, ctg[Role.COORDINATOR], ctg[Role.INVESTIGATOR], ctg[Role.MONITOR])
    return {"staff": staff, "busy": busy, "eligible": eligible, "elsewhere": elsewhere}


def home(user: Any) -> tuple[Client, Any, dict[str, Any]]:
    client = Client()
    client.force_login(user)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    return client, response, {todo.key: todo for todo in response.context["todo_lists"]}


def labels(todo: Any) -> str:
    return " | ".join(item.label for item in todo.items)


def assert_every_link_opens(client: Client, page: str, lists: dict[str, Any]) -> None:
    for todo in lists.values():
        urls = [item.url for item in todo.items] + ([todo.see_all_url] if todo.count else [])
        for url in urls:
            assert f'href="{url.replace("&", "&amp;")}"' in page, url
            assert client.get(url).status_code == 200, (todo.key, url)


def test_the_coordinator_sees_visits_due_missing_forms_and_queries_of_the_own_site(trial: Any) -> None:
    busy, elsewhere = trial["busy"].screening_number, trial["elsewhere"].screening_number
    client, response, lists = home(trial["staff"]["coordinator"])
    page = response.content.decode()
    assert list(lists) == ["visits_due", "missing_forms", "queries_to_answer", "reconsent_due"]
    assert lists["visits_due"].count == 2
    assert labels(lists["visits_due"]) == f"{busy} · W2 Week 2 safety labs | {busy} · W4 Week 4"
    overdue, in_window = lists["visits_due"].items
    assert overdue.urgent and overdue.detail.startswith("overdue: the window closed on ")
    assert not in_window.urgent and in_window.detail.startswith("window ")
    assert lists["missing_forms"].count >= 1 and all(
        item.label.startswith(f"{busy} · D1") for item in lists["missing_forms"].items
    )
    assert lists["queries_to_answer"].count == 1
    assert lists["queries_to_answer"].items[0].detail.startswith("assigned to you")
    assert elsewhere not in page  # nothing of the other site
    assert "No participant has to re-consent." in page
    assert_every_link_opens(client, page, lists)


def test_the_investigator_sees_eligibility_to_confirm_events_to_assess_visits_to_sign_and_sae_clocks(
    trial: Any,
) -> None:
    busy, elsewhere = trial["busy"].screening_number, trial["elsewhere"].screening_number
    client, response, lists = home(trial["staff"]["investigator"])
    page = response.content.decode()
    assert list(lists) == ["eligibility_to_confirm", "events_to_assess", "visits_to_sign", "sae_clocks"]
    assert labels(lists["eligibility_to_confirm"]) == f"{trial['eligible'].screening_number} · DHK"
    assert labels(lists["events_to_assess"]) == f"{busy} · Pneumonia"
    assert labels(lists["visits_to_sign"]) == f"{busy} · D1 Baseline"
    clock = lists["sae_clocks"].items[0]
    assert lists["sae_clocks"].count == 1 and clock.label == f"{busy} · Pneumonia"
    assert clock.detail.startswith("overdue by ") and clock.urgent  # learned of two days ago: 24 hours are past
    assert "overdue by" in page and elsewhere not in page
    assert_every_link_opens(client, page, lists)


def test_the_monitor_sees_an_answered_query_to_close_and_forms_to_verify(trial: Any) -> None:
    staff = trial["staff"]
    client, response, lists = home(staff["monitor"])
    assert list(lists) == ["queries_to_close", "forms_to_verify"]
    assert lists["queries_to_close"].count == 0
    assert "No answered query is waiting to be closed." in response.content.decode()
    query = DataQuery.objects.get(site__code="DHK")
    queries.query_answer(query=query, by=staff["coordinator"], text="Checked against the clinic notes.")
    client, response, lists = home(staff["monitor"])
    page = response.content.decode()
    busy = trial["busy"].screening_number
    assert lists["queries_to_close"].count == 1 and labels(lists["queries_to_close"]).startswith(busy)
    assert lists["queries_to_close"].items[0].url == reverse("monitoring:query", args=[query.pk])
    assert lists["forms_to_verify"].count >= 1
    assert all(
        item.label.split(" · ")[0] in {busy, trial["eligible"].screening_number}
        for item in lists["forms_to_verify"].items
    )
    assert trial["elsewhere"].screening_number not in page
    assert_every_link_opens(client, page, lists)


def test_the_data_manager_sees_open_queries_and_the_assessor_the_mrss_to_score(trial: Any) -> None:
    busy = trial["busy"].screening_number
    client, response, lists = home(trial["staff"]["data_manager"])
    assert list(lists) == ["queries_open", "queries_to_close"]
    assert lists["queries_open"].count == 1 and labels(lists["queries_open"]).startswith(busy)
    assert_every_link_opens(client, response.content.decode(), lists)
    client, response, lists = home(trial["staff"]["assessor"])
    assert list(lists) == ["mrss_to_score"]
    # Day 1 took place with its mRSS still to enter; week 4 is in window today.
    assert labels(lists["mrss_to_score"]) == f"{busy} · D1 Baseline | {busy} · W4 Week 4"
    assert_every_link_opens(client, response.content.decode(), lists)


def test_a_list_with_nothing_to_do_says_so(site: Any, user_with_role: Any) -> None:
    empty_site = make_site(code="SYL", name="Sylhet")
    coordinator = user_with_role(Role.COORDINATOR, username="sylhet", at=empty_site)
    _client, response, lists = home(coordinator)
    page = response.content.decode()
    assert all(todo.count == 0 and not todo.items for todo in lists.values())
    for text in (
        "No visit is due this week or overdue.",
        "No form is missing.",
        "No open query is waiting for an answer.",
        "No participant has to re-consent.",
    ):
        assert text in page


def test_a_statistician_keeps_the_section_cards_and_has_no_to_do_list(statistician: Any) -> None:
    _client, response, lists = home(statistician)
    assert lists == {}
    assert 'data-testid="home-section-randomization"' in response.content.decode()


def test_each_list_once_and_each_role_at_its_own_site(trial: Any, other_site: Any) -> None:
    staff = trial["staff"]
    # A monitor who is also a data manager: "answered queries to close" once.
    membership_grant(user=staff["monitor"], site=other_site, role=Role.DATA_MANAGER, by=system_user())
    _client, _response, lists = home(staff["monitor"])
    assert list(lists) == ["queries_to_close", "forms_to_verify", "queries_open"]
    # Monitor at DHK, coordinator at CTG: each list covers the sites where its pages' permission holds.
    both = make_user("both", role=Role.MONITOR, site=trial["busy"].site)
    membership_grant(user=both, site=other_site, role=Role.COORDINATOR, by=system_user())
    _client, _response, lists = home(both)
    assert list(lists) == [
        "visits_due", "missing_forms", "queries_to_answer", "reconsent_due", "queries_to_close", "forms_to_verify"
    ]  # fmt: skip
    here, there = trial["busy"].screening_number, trial["elsewhere"].screening_number
    for key in ("visits_due", "missing_forms", "queries_to_answer"):
        assert lists[key].count and all(item.label.startswith(there) for item in lists[key].items), key
    assert lists["forms_to_verify"].count and all(here in item.label for item in lists["forms_to_verify"].items[:1])
    assert all(there not in item.label for item in lists["forms_to_verify"].items)


def test_the_home_page_runs_the_same_queries_with_more_participants(trial: Any, site: Any) -> None:
    staff = trial["staff"]
    users = [staff[key] for key in ("coordinator", "investigator", "monitor", "data_manager", "assessor")]
    clients = {}
    for user in users:
        clients[user.pk] = Client()
        clients[user.pk].force_login(user)

    def counted() -> list[int]:
        numbers = []
        for user in users:
            with CaptureQueriesContext(connection) as captured:
                assert clients[user.pk].get(reverse("home")).status_code == 200
            numbers.append(len(captured.captured_queries))
        return numbers

    counted()
    before = counted()
    for _ in range(2):
        busy_participant(site, staff["coordinator"], staff["investigator"], staff["monitor"])
        screen_eligible(register(site, staff["coordinator"]), staff["coordinator"])
    assert Participant.objects.filter(site=site).count() == 6
    assert counted() == before


def test_a_to_do_list_counts_up_to_a_thousand_and_then_says_more(coordinator: Any) -> None:
    """A home page's count stops at 1,000 ("1,000+"): counting a large trial's list costs no more than a small one's;
    below it the count is exact, and the first rows are listed either way."""
    from trial_site.home import TodoItem, todo_list
    from visits.models import Visit

    def item(value: Any) -> TodoItem:
        return TodoItem(str(value), "", "/")

    many = todo_list("many", "Many", list(range(1001)), item, limit=3, see_all_url="/", empty="")
    assert (many.count, many.more, [i.label for i in many.items]) == (1000, True, ["0", "1", "2"])
    exact = todo_list("exact", "Exact", list(range(1000)), item, limit=3, see_all_url="/", empty="")
    assert (exact.count, exact.more) == (1000, False)
    none = todo_list("none", "None", Visit.objects.none(), item, limit=3, see_all_url="/", empty="")
    assert (none.count, none.more, none.items) == (0, False, [])


def test_the_missing_forms_are_counted_along_their_index_on_the_home_page_and_the_list(trial: Any) -> None:
    """The missing forms' count (home page and list) reads its first 1,001 rows in the list's order (due day, id),
    which the partial index ``requiredform_missing`` serves: unordered, PostgreSQL walked the forms by visit and
    filtered most of them away (223 ms at 50,000 participants, 17 ms in order). The count stays exact."""
    client, _, lists = home(trial["staff"]["coordinator"])
    expected = lists["missing_forms"].count
    assert expected > 0
    for url in (reverse("home"), reverse("visits:missing_forms")):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        counts = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT COUNT(*)")]
        missing = [sql for sql in counts if 'FROM "visits_requiredform"' in sql]
        assert len(missing) == 1, (url, counts)
        assert 'ORDER BY "visits_requiredform"."due_on" ASC, "visits_requiredform"."id" ASC' in missing[0], url
    assert response.context["page"].count == expected
