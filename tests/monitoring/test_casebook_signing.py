"""Signing a casebook "accurate and complete" is refused while a form that is due is missing or a query is not
closed, naming each; the sign page lists them instead of the password box. An answered query that the monitor
has not closed still stands in the way: the answer has not been accepted yet."""

from __future__ import annotations

import html
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from monitoring.models import Signature
from monitoring.selectors.signatures import sign_url
from monitoring.services.queries import query_answer, query_close, query_raise
from monitoring.services.signatures import signature_sign
from screening.models import Participant
from tests.factories import DEFAULT_PASSWORD
from tests.monitoring.casebook import complete_casebook
from visits.crfs import VitalSigns
from visits.models import RequiredForm, Visit

pytestmark = pytest.mark.django_db


def sign_casebook(participant: Participant, investigator: Any) -> Signature:
    return signature_sign(scope="casebook", participant=participant, by=investigator, password=DEFAULT_PASSWORD)


def refusal(participant: Participant, investigator: Any) -> list[str]:
    with pytest.raises(ValidationError) as error:
        sign_casebook(participant, investigator)
    assert not Signature.objects.exists()
    return error.value.messages


@pytest.fixture
def complete(participant: Participant, d1: Visit, coordinator: Any, investigator: Any, assessor: Any) -> Participant:
    complete_casebook(participant, coordinator=coordinator, investigator=investigator, assessor=assessor)
    return participant


def test_a_missing_form_of_a_visit_that_took_place_refuses_naming_the_form_and_visit(
    participant: Participant, d1: Visit, investigator: Any
) -> None:
    labels = [str(row.label) for row in d1.required_forms.filter(status=RequiredForm.Status.REQUIRED)]
    assert labels
    messages = refusal(participant, investigator)
    assert messages[0] == "The casebook cannot be signed as accurate and complete while:"
    for label in labels:
        assert f"Required form missing: {label}, visit D1." in messages


def test_an_open_query_refuses_naming_the_form_and_field(
    complete: Participant, investigator: Any, monitor: Any
) -> None:
    vitals = VitalSigns.objects.get(visit__participant=complete, visit__code="D1")
    query_raise(record=vitals, field="temperature_c", message="Temperature against the source?", by=monitor)
    messages = refusal(complete, investigator)
    assert len(messages) == 2 and messages[1].startswith("Query open, not closed: Vital signs, D1, field “Temperature")


def test_an_answered_query_not_yet_closed_still_refuses(complete: Participant, investigator: Any, monitor: Any) -> None:
    vitals = VitalSigns.objects.get(visit__participant=complete, visit__code="D1")
    query = query_raise(record=vitals, field="heart_rate", message="Pulse?", by=monitor)
    query_answer(query=query, by=investigator, text="72 in the source note")
    assert "Query answered, not closed: Vital signs, D1, field “Heart rate" in " ".join(refusal(complete, investigator))


def test_with_every_form_entered_and_every_query_closed_the_casebook_is_signed(
    complete: Participant, investigator: Any, monitor: Any
) -> None:
    vitals = VitalSigns.objects.get(visit__participant=complete, visit__code="D1")
    query = query_raise(record=vitals, field="heart_rate", message="Pulse?", by=monitor)
    query_answer(query=query, by=investigator, text="72 in the source note")
    query_close(query=query, by=monitor)
    signature = sign_casebook(complete, investigator)
    assert (signature.scope, signature.participant_id) == ("casebook", complete.pk)


def test_the_sign_page_lists_what_is_missing_instead_of_the_password_box_and_a_post_signs_nothing(
    participant: Participant, d1: Visit, investigator: Any, client: Client
) -> None:
    client.force_login(investigator)
    url = sign_url("casebook", participant=participant.screening_number)
    page = html.unescape(client.get(url).content.decode())
    assert 'data-testid="casebook-problems"' in page and 'data-testid="sign-form"' not in page
    assert "Required form missing: Vital signs, visit D1." in page
    posted = client.post(url, {"password": DEFAULT_PASSWORD})
    assert posted.status_code == 400 and "Required form missing" in html.unescape(posted.content.decode())
    assert not Signature.objects.exists()


def test_the_sign_page_of_a_complete_casebook_asks_for_the_password(
    complete: Participant, investigator: Any, client: Client
) -> None:
    client.force_login(investigator)
    page = client.get(sign_url("casebook", participant=complete.screening_number)).content.decode()
    assert 'data-testid="sign-form"' in page and 'data-testid="casebook-problems"' not in page
