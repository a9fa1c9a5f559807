"""Pages that create something in monitoring, sent again and again with one submission key over HTTP against
gunicorn's worker processes on PostgreSQL: a double click (or twenty) raises one query and signs once; every
repeat, at the same instant or after, is taken to what the first created; no 500."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
import requests
from django.db import connection, transaction

from monitoring.models import DataQuery, QueryMessage, Signature
from monitoring.selectors.queries import raise_url
from monitoring.selectors.signatures import sign_url
from screening.models import Participant
from tests.factories import DEFAULT_PASSWORD
from tests.faults.support import backends_waiting_for_locks
from tests.http.conftest import live_gunicorn, start_gunicorn  # noqa: F401 - the fixtures, for these tests
from tests.http.server import (
    WAIT_SECONDS,
    FormData,
    GunicornServer,
    StaffSession,
    fire_together,
    form_fields,
    wait_for,
)
from tests.monitoring.casebook import complete_casebook
from trial_site.roles import Role
from visits.models import Visit

BURSTS = (2, 5, 20)
SIGN_FORM = "//form[@data-testid='sign-form']"


def send_together(session: StaffSession, path: str, data: FormData, n: int) -> list[requests.Response]:
    """The same POST (the same login, the same submission key) ``n`` times at once, each from a tab of its own,
    then once more after they have all been answered: the ``n + 1`` responses."""
    tabs = [session.twin() for _ in range(n)]
    outcomes = fire_together([lambda tab=tab: tab.post(path, data) for tab in tabs])
    failed = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    assert not failed, failed
    return [*outcomes, session.post(path, data)]  # type: ignore[list-item]


def statuses(responses: list[requests.Response]) -> list[int]:
    return sorted(response.status_code for response in responses)


def locations(responses: list[requests.Response]) -> set[str]:
    return {response.headers.get("Location", "") for response in responses}


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_query_sent_2_5_and_20_times_at_once_is_raised_once_and_every_repeat_goes_to_it(
    live_gunicorn: GunicornServer,  # noqa: F811
    participant: Participant,
    monitor: Any,
) -> None:
    session = live_gunicorn.login(monitor)
    url = raise_url(participant)
    for n in BURSTS:
        page = session.get(url)
        assert page.status_code == 200
        question = f"Date of birth, burst of {n}: please check against the ID card."
        data = {**form_fields(page.text, "//form[@data-testid='query-raise-form']"), "message": question}

        responses = send_together(session, url, data, n)

        query = DataQuery.objects.get(message=question)  # exactly one
        assert statuses(responses) == [302] * (n + 1)
        assert locations(responses) == {f"/monitoring/queries/{query.pk}/"}
        assert DataQuery.history.filter(id=query.pk).count() == 1
        assert list(query.messages.values_list("action", flat=True)) == [QueryMessage.Action.RAISED]
    assert DataQuery.objects.count() == len(BURSTS)


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_signature_sent_2_5_and_20_times_at_once_signs_once_and_every_repeat_goes_to_what_was_signed(
    live_gunicorn: GunicornServer,  # noqa: F811
    participant: Participant,
    d1: Visit,
    user_with_role: Any,
    coordinator: Any,
    investigator: Any,
    assessor: Any,
) -> None:
    complete_casebook(participant, coordinator=coordinator, investigator=investigator, assessor=assessor)
    karim = user_with_role(Role.INVESTIGATOR, username="karim")
    session = live_gunicorn.login(karim)
    targets = {  # a casebook, a visit and a form: each signed by one burst
        2: (Signature.Scope.CASEBOOK, sign_url("casebook", participant=participant.screening_number)),
        5: (Signature.Scope.VISIT, sign_url("visit", visit=d1.pk)),
        20: (Signature.Scope.FORM, sign_url("form", form="screening.participant", object=participant.pk)),
    }
    for n in BURSTS:
        scope, url = targets[n]
        page = session.get(url)
        assert page.status_code == 200
        data = {**form_fields(page.text, SIGN_FORM), "password": DEFAULT_PASSWORD}

        responses = send_together(session, url, data, n)

        signature = Signature.objects.get(scope=scope)  # exactly one
        assert signature.signed_by == karim
        assert statuses(responses) == [302] * (n + 1)
        assert len(locations(responses)) == 1 and "" not in locations(responses)
        assert Signature.history.filter(id=signature.pk).count() == 1
    assert Signature.objects.filter(invalidated_at__isnull=True).count() == len(BURSTS)


@contextmanager
def inserts_held(table: str) -> Iterator[None]:
    """Another connection holds ``table`` in SHARE mode until the block ends: reads go on, inserts wait."""
    granted, finish = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f'LOCK TABLE "{table}" IN SHARE MODE')
                granted.set()
                finish.wait(WAIT_SECONDS)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert granted.wait(WAIT_SECONDS), f"{table} was not locked"
        yield
    finally:
        finish.set()
        holder.join(WAIT_SECONDS)


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_two_pages_signing_the_same_casebook_at_once_sign_it_once(
    live_gunicorn: GunicornServer,  # noqa: F811
    participant: Participant,
    user_with_role: Any,
    coordinator: Any,
    investigator: Any,
    assessor: Any,
) -> None:
    complete_casebook(participant, coordinator=coordinator, investigator=investigator, assessor=assessor)
    karim = user_with_role(Role.INVESTIGATOR, username="karim")
    url = sign_url("casebook", participant=participant.screening_number)
    tabs = [live_gunicorn.login(karim) for _ in range(2)]
    pages = [tab.get(url) for tab in tabs]  # two pages, two keys: not a repeat of one form
    forms = [{**form_fields(page.text, SIGN_FORM), "password": DEFAULT_PASSWORD} for page in pages]

    # Both requests are let through together only once both are inside signing (new signatures wait meanwhile).
    with ThreadPoolExecutor(1) as pool:
        with inserts_held(Signature._meta.db_table):
            pending = pool.submit(
                fire_together,
                [lambda tab=tab, data=data: tab.post(url, data) for tab, data in zip(tabs, forms, strict=True)],
            )
            wait_for(lambda: backends_waiting_for_locks() == 2, "both signing requests waiting", log=live_gunicorn.log)
        responses = pending.result(WAIT_SECONDS)

    assert statuses(responses) == [302, 400]  # type: ignore[arg-type]
    refused = next(r for r in responses if r.status_code == 400)  # type: ignore[union-attr]
    assert "You signed this already" in refused.text  # type: ignore[union-attr]
    assert Signature.objects.count() == 1
