"""Two people acting on the same query (or lock) from pages opened on the same version, over HTTP against gunicorn's
worker processes on PostgreSQL: at the same instant, or one after the other, one action is done and the other is
refused (409) with a message saying who did what when, nothing of it written, its text kept; the history attributes
each step to the person who took it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import lxml.html
import pytest
import requests
from django.db import connection, transaction
from django.test import Client

from monitoring.models import DataLock, DataQuery, QueryMessage
from monitoring.services import queries as services
from monitoring.services.locks import lock_data
from screening.models import Participant
from tests.faults.support import backends_waiting_for_locks
from tests.http.conftest import live_gunicorn, start_gunicorn  # noqa: F401  (fixtures of the HTTP tests)
from tests.http.server import WAIT_SECONDS, GunicornServer, StaffSession, fire_together, form_fields, wait_for
from trial_site.roles import Role

Status = DataQuery.Status


@contextmanager
def query_row_held(query: DataQuery) -> Iterator[None]:
    """Another connection holds the query's row (``FOR UPDATE``) until the block ends: whoever acts on the query
    meanwhile waits at its row lock, so actions sent together meet there at the same instant."""
    granted, finish = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f'SELECT id FROM "{DataQuery._meta.db_table}" WHERE id = %s FOR UPDATE', [query.pk])
                granted.set()
                finish.wait(WAIT_SECONDS)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert granted.wait(WAIT_SECONDS), "the query's row was not locked"
        yield
    finally:
        finish.set()
        holder.join(WAIT_SECONDS)


def at_the_same_instant(server: GunicornServer, query: DataQuery, posts: list[Any]) -> list[requests.Response]:
    """Send ``posts`` together and let them through only once all of them wait at the query's row lock."""
    with ThreadPoolExecutor(1) as pool:
        with query_row_held(query):
            pending = pool.submit(fire_together, posts)
            waiting = lambda: backends_waiting_for_locks() == len(posts)  # noqa: E731
            wait_for(waiting, "the actions waiting at the query", log=server.log)
        outcomes = pending.result(WAIT_SECONDS * 2)
    failed = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    assert not failed, failed
    return outcomes  # type: ignore[return-value]


def step_form(page: requests.Response, action: str, text: str) -> dict[str, Any]:
    """The answer / close / re-open form of a query page as the browser would send it, with ``text``."""
    return {**form_fields(page.text, f"//form[@data-testid='{action}-form']"), "text": text}


def conflict_text(page: requests.Response) -> str:
    found = lxml.html.fromstring(page.text).xpath("//*[@data-testid='query-conflict']")
    assert found, f"no conflict message on the page ({page.status_code})"
    return " ".join(found[0].text_content().split())


def steps(query: DataQuery) -> list[tuple[str, str]]:
    """(who, status) of every history row of the query, oldest first."""
    rows = DataQuery.history.filter(id=query.pk).order_by("history_id")  # type: ignore[attr-defined]
    return [(row.history_user.username, row.status) for row in rows.select_related("history_user")]


def said(query: DataQuery) -> list[tuple[str, str]]:
    return [(m.author.username if m.author else "", m.action) for m in query.messages.order_by("at", "pk")]


@pytest.fixture
def people(user_with_role: Any) -> dict[str, Any]:
    return {
        "monitor": user_with_role(Role.MONITOR, username="monitor"),  # raises the queries: may close them
        "monica": user_with_role(Role.MONITOR, username="monica"),  # another monitor: may re-open them
        "rahima": user_with_role(Role.COORDINATOR, username="rahima"),
        "rashed": user_with_role(Role.COORDINATOR, username="rashed"),
    }


def answered_query(participant: Participant, people: dict[str, Any], question: str) -> DataQuery:
    query = services.query_raise(record=participant, field="", message=question, by=people["monitor"])
    return services.query_answer(query=query, by=people["rahima"], text="Checked: it is right.")


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_closing_and_reopening_one_query_at_the_same_instant_one_wins_the_other_is_told_who_did_what_when(
    live_gunicorn: GunicornServer,  # noqa: F811
    participant: Participant,
    people: dict[str, Any],
) -> None:
    query = answered_query(participant, people, "Is the date of birth right?")
    closer, reopener = live_gunicorn.login(people["monitor"]), live_gunicorn.login(people["monica"])
    url = f"/monitoring/queries/{query.pk}/"
    close = step_form(closer.get(url), "close", "Thanks, resolved.")
    reopen = step_form(reopener.get(url), "reopen", "The ID card says otherwise.")

    closed, reopened = at_the_same_instant(
        live_gunicorn, query, [lambda: closer.post(url, close), lambda: reopener.post(url, reopen)]
    )

    assert sorted([closed.status_code, reopened.status_code]) == [302, 409]
    query.refresh_from_db()
    raised_and_answered = [("monitor", Status.OPEN), ("rahima", Status.ANSWERED)]
    if closed.status_code == 302:  # the close came first: the re-open was taken on a page that showed it answered
        assert query.status == Status.CLOSED
        assert steps(query) == [*raised_and_answered, ("monitor", Status.CLOSED)]
        assert said(query)[-1] == ("monitor", QueryMessage.Action.CLOSED)
        assert "Monitor closed it on" in conflict_text(reopened)
        assert "The ID card says otherwise." in reopened.text  # the refused text is kept
    else:
        assert query.status == Status.OPEN
        assert steps(query) == [*raised_and_answered, ("monica", Status.OPEN)]
        assert said(query)[-1] == ("monica", QueryMessage.Action.REOPENED)
        assert "Monica re-opened it on" in conflict_text(closed)
        assert "Thanks, resolved." in closed.text
    assert len(said(query)) == 3  # raised, answered, and the one action done: nothing of the refused one


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_two_coordinators_answering_one_query_at_the_same_instant_send_one_answer(
    live_gunicorn: GunicornServer,  # noqa: F811
    participant: Participant,
    people: dict[str, Any],
) -> None:
    query = services.query_raise(record=participant, field="", message="Weight missing?", by=people["monitor"])
    rahima, rashed = live_gunicorn.login(people["rahima"]), live_gunicorn.login(people["rashed"])
    url = f"/monitoring/queries/{query.pk}/"
    answers = {
        "rahima": step_form(rahima.get(url), "answer", "Weighed again: 61 kg."),
        "rashed": step_form(rashed.get(url), "answer", "Scale broken that day."),
    }

    responses = at_the_same_instant(
        live_gunicorn, query, [lambda: rahima.post(url, answers["rahima"]), lambda: rashed.post(url, answers["rashed"])]
    )

    assert sorted(r.status_code for r in responses) == [302, 409]
    winner = "rahima" if responses[0].status_code == 302 else "rashed"
    loser = responses[1] if winner == "rahima" else responses[0]
    assert steps(query) == [("monitor", Status.OPEN), (winner, Status.ANSWERED)]
    assert said(query) == [("monitor", QueryMessage.Action.RAISED), (winner, QueryMessage.Action.ANSWERED)]
    assert f"{winner.title()} answered it on" in conflict_text(loser)
    assert answers["rashed" if winner == "rahima" else "rahima"]["text"] in loser.text


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("first", ["close", "reopen"])
def test_an_action_on_a_page_opened_before_someone_else_acted_is_refused_in_either_order(
    live_gunicorn: GunicornServer,  # noqa: F811
    participant: Participant,
    people: dict[str, Any],
    first: str,
) -> None:
    query = answered_query(participant, people, "Is the sex right?")
    sessions: dict[str, StaffSession] = {
        "close": live_gunicorn.login(people["monitor"]),
        "reopen": live_gunicorn.login(people["monica"]),
    }
    url = f"/monitoring/queries/{query.pk}/"
    forms = {action: step_form(session.get(url), action, f"{action} it") for action, session in sessions.items()}
    second = "reopen" if first == "close" else "close"

    done = sessions[first].post(url, forms[first])
    stale = sessions[second].post(url, forms[second])

    assert (done.status_code, stale.status_code) == (302, 409)
    who = {"close": "Monitor closed it on", "reopen": "Monica re-opened it on"}[first]
    assert who in conflict_text(stale)
    query.refresh_from_db()
    assert query.status == {"close": Status.CLOSED, "reopen": Status.OPEN}[first]
    assert len(steps(query)) == 3 and len(said(query)) == 3
    again = sessions[second].get(url)  # the page as it is now offers what can be done now, on the new version
    assert again.status_code == 200 and "query-conflict" not in again.text


@pytest.mark.django_db
def test_unlocking_a_lock_someone_lifted_since_the_page_was_opened_is_refused_saying_who_when_and_why(
    participant: Participant, user_with_role: Any
) -> None:
    dana, dario = (user_with_role(Role.DATA_MANAGER, username=name) for name in ("dana", "dario"))
    lock = lock_data(scope="casebook", participant=participant, by=dana, reason="interim analysis")
    pages = {}
    for user in (dana, dario):
        client = Client()
        client.force_login(user)
        pages[user.username] = client
    url = f"/monitoring/locks/{lock.pk}/unlock/"
    version = pages["dario"].get(url).context["form"].initial["opened_version"]

    lifted = pages["dana"].post(url, {"unlock_reason": "analysis done", "opened_version": version})
    stale = pages["dario"].post(url, {"unlock_reason": "correction needed", "opened_version": version})

    assert (lifted.status_code, stale.status_code) == (302, 409)
    assert "lifted already, by Dana on" in stale.content.decode() and "(analysis done)" in stale.content.decode()
    lock.refresh_from_db()
    assert (lock.unlocked_by, lock.unlock_reason) == (dana, "analysis done")
    assert DataLock.history.filter(id=lock.pk).count() == 2  # type: ignore[attr-defined]
