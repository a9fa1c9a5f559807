"""The database connection dropped in the middle of a save: the user gets a clean 503 page (not a traceback),
nothing is half-written (no record without its history row, no history row without its record, no record changed
while the confirmation it voids stays in force), and the next request works on a new connection.

The drop is real: a real request (Django's test client, on its own thread and connection) saves the screening
laboratory form through the page; a trigger installed for the test makes the save wait right after the record and
its history row are written, inside the transaction; the test then ends that PostgreSQL backend with
``pg_terminate_backend``, as a database restart or a broken network would. Nothing of the application is
replaced. The 503 page is ``trial_site.views.server_error`` with ``templates/503.html``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.http import HttpResponse
from django.test import Client

from clinical.mrss import MRSS_AREAS
from screening import services as screening_services
from screening.models import ClassificationCriteria, DiseaseHistory, ExclusionHistory, ScreeningLabs, ScreeningMrss
from screening.models.outcome import EligibilityConfirmation
from tests.faults.support import WAIT_SECONDS, WriteHold, log_records, terminate_backend, wait_for
from tests.screening.factories import (
    ELIGIBLE_CLASSIFICATION,
    ELIGIBLE_EXCLUSIONS,
    ELIGIBLE_SKIN,
    eligible_labs,
    register,
    save_form,
)

LABS_HISTORY = ScreeningLabs.history.model
CONFIRMATION_HISTORY = EligibilityConfirmation.history.model


def labs_form_data(participant: Any, **changes: Any) -> dict[str, str]:
    """What a coordinator types into the laboratory form: eligible values, with ``changes``."""
    values = {**eligible_labs(participant.screening_date), **changes}
    return {name: value.isoformat() if hasattr(value, "isoformat") else str(value) for name, value in values.items()}


def drop_connection_during(hold: WriteHold, send: Callable[[], HttpResponse]) -> HttpResponse:
    """Run ``send`` (a request) on its own thread; when its transaction waits at the trigger, end its database
    connection; return the response the user got."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["response"] = send()
        except BaseException as error:  # reported below: a request must answer, not raise
            outcome["error"] = error
        finally:
            connection.close()

    with hold.closed():
        thread = threading.Thread(target=run)
        thread.start()
        backend = wait_for(
            lambda: hold.waiting_backend() or (not thread.is_alive() and f"finished early: {outcome}"),
            "the save reaching the trigger",
        )
        assert isinstance(backend, int), f"the request never reached the write: {backend}"
        terminate_backend(backend)
        thread.join(WAIT_SECONDS)
    assert not thread.is_alive(), "the request never answered"
    assert "error" not in outcome, f"the request raised instead of answering: {outcome['error']!r}"
    return outcome["response"]


def assert_clean_503(response: HttpResponse, log: list[logging.LogRecord]) -> None:
    page = response.content.decode()
    assert response.status_code == 503 and response["Retry-After"] == "30"
    assert "The database was unavailable" in page and "Nothing is ever saved in part" in page
    assert "bootstrap.min.css" in page and 'class="btn btn-primary"' in page
    assert "Traceback" not in page and "OperationalError" not in page and "psycopg" not in page
    [record] = log  # logged once, with the error, for the administrator
    assert record.levelno == logging.ERROR and record.status_code == 503  # type: ignore[attr-defined]
    assert record.exc_info is not None and issubclass(record.exc_info[0], OperationalError)


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_save_that_loses_its_database_connection_answers_503_and_leaves_nothing_half_written(
    site: Any, coordinator: Any, investigator: Any
) -> None:
    participant = register(site, coordinator)
    day = participant.screening_date
    save_form(ClassificationCriteria, participant, coordinator, ELIGIBLE_CLASSIFICATION)
    onset = {"first_non_raynaud_date": day - timedelta(days=400)}
    save_form(DiseaseHistory, participant, coordinator, onset | ELIGIBLE_SKIN)
    mrss = {code: 1 for code, _ in MRSS_AREAS}
    save_form(ScreeningMrss, participant, coordinator, {"assessed_on": day, "assessor": coordinator, **mrss})
    save_form(ExclusionHistory, participant, coordinator, ELIGIBLE_EXCLUSIONS)
    summary_url = f"/screening/{participant.screening_number}/"
    labs_url = f"{summary_url}forms/labs/"
    client = Client(raise_request_exception=False)  # what a browser gets: the response, whatever happened
    client.force_login(coordinator)

    with WriteHold(LABS_HISTORY._meta.db_table) as hold:
        # 1. A new form: the connection drops after the record and its history row are written, before commit.
        with log_records("django.request", logging.ERROR) as log:
            response = drop_connection_during(hold, lambda: client.post(labs_url, labs_form_data(participant)))
        assert_clean_503(response, log)
        assert not ScreeningLabs.objects.exists() and not LABS_HISTORY.objects.exists()

        # The next requests work on a new connection: the page, then the same save, whole.
        assert "laboratory values" in client.get(summary_url).content.decode()
        saved = client.post(labs_url, labs_form_data(participant))
        assert saved.status_code == 302 and saved["Location"] == summary_url
        labs = ScreeningLabs.objects.get()
        assert [row.history_type for row in LABS_HISTORY.objects.filter(id=labs.pk)] == ["+"]

        # 2. A change to confirmed data voids the confirmation in the same transaction; the connection drops
        # after the change and its history row, before the voiding: neither may stay.
        screening_services.eligibility_confirm(participant=participant, by=investigator)
        confirmation = EligibilityConfirmation.objects.get()
        history_before = (LABS_HISTORY.objects.count(), CONFIRMATION_HISTORY.objects.count())
        change = labs_form_data(participant, hb_g_dl=10.5) | {"reason_for_change": "repeat sample"}
        with log_records("django.request", logging.ERROR) as log:
            response = drop_connection_during(hold, lambda: client.post(labs_url, change))
        assert_clean_503(response, log)
        assert ScreeningLabs.objects.get().hb_g_dl == labs.hb_g_dl == 12.1
        assert (LABS_HISTORY.objects.count(), CONFIRMATION_HISTORY.objects.count()) == history_before
        confirmation.refresh_from_db()
        assert confirmation.voided_at is None

        # Trying again works: the change, its reason, and the voided confirmation, together.
        assert client.post(labs_url, change).status_code == 302
    assert ScreeningLabs.objects.get().hb_g_dl == 10.5
    latest = LABS_HISTORY.objects.filter(id=labs.pk).latest("history_id")
    assert latest.history_type == "~" and latest.history_change_reason == "repeat sample"
    confirmation.refresh_from_db()
    assert confirmation.voided_at is not None and "repeat sample" in confirmation.void_reason
    assert 'data-testid="voided-confirmation"' in client.get(summary_url).content.decode()
