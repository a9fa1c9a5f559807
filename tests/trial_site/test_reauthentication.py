"""Re-entering one's password (to sign, to unblind in an emergency, to change it) shares the login's lockout: five
wrong passwords for a username from one address lock re-entry and login for 30 minutes, even with the right
password; each failure is in the access log, and stays there even when the caller's transaction is rolled back."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.core.exceptions import ValidationError
from django.db import transaction
from django.test import Client, RequestFactory
from django.utils import timezone

from monitoring.models import Signature
from monitoring.services.signatures import signature_sign
from randomization.models import Unblinding
from screening.models import Participant
from tests.randomization.factories import list_in_use
from tests.visits.test_schedule import randomised_on
from trial_site.models import AccessEvent
from visits import services as visit_services
from visits.models import Visit

WRONG = "not-my-password-at-all"
LOCK_AFTER = 5  # AXES_FAILURE_LIMIT


@pytest.fixture
def participant(site: Any, coordinator: Any, investigator: Any, statistician: Any) -> Participant:
    list_in_use(statistician)
    return randomised_on(timezone.localdate() - timedelta(days=10), site, coordinator, investigator)


@pytest.fixture
def d1(participant: Participant, coordinator: Any) -> Visit:
    visit = participant.visits.get(code="D1")
    return visit_services.visit_record_done(visit=visit, by=coordinator, done_on=visit.target_date)


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def sign_url(visit: Visit) -> str:
    return f"/monitoring/signatures/sign/?scope=visit&visit={visit.pk}"


def test_five_wrong_passwords_lock_signing_and_the_right_one_then_signs_nothing(
    d1: Visit, investigator: Any, password: str
) -> None:
    client = logged_in(investigator)
    for attempt in range(1, LOCK_AFTER + 1):
        response = client.post(sign_url(d1), {"password": WRONG})
        assert response.status_code == (429 if attempt == LOCK_AFTER else 400), attempt

    locked = client.post(sign_url(d1), {"password": password})
    assert locked.status_code == 429
    assert "Account locked" in locked.content.decode()
    assert not Signature.objects.exists()

    failures = AccessEvent.objects.filter(kind=AccessEvent.Kind.SIGNATURE_FAILED, username=investigator.username)
    assert failures.count() == LOCK_AFTER + 1  # five wrong, then the right one refused unchecked
    assert all("password refused signing visit" in event.detail for event in failures)
    assert failures.filter(detail__contains="while locked").count() == 1
    assert AccessEvent.objects.filter(kind=AccessEvent.Kind.LOCKOUT, username=investigator.username).exists()
    # The same lock as the login's: the right password does not log in from this address either.
    assert (
        Client().post("/accounts/login/", {"username": investigator.username, "password": password}).status_code == 429
    )


def test_signing_works_again_after_the_cool_off(d1: Visit, investigator: Any, password: str) -> None:
    client = logged_in(investigator)
    for _attempt in range(LOCK_AFTER):
        client.post(sign_url(d1), {"password": WRONG})
    assert client.post(sign_url(d1), {"password": password}).status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=31))
    assert client.post(sign_url(d1), {"password": password}).status_code == 302
    assert Signature.objects.get().signed_by == investigator


def test_a_right_password_clears_the_count_as_a_login_does(d1: Visit, investigator: Any, password: str) -> None:
    client = logged_in(investigator)
    for _attempt in range(LOCK_AFTER - 1):
        client.post(sign_url(d1), {"password": WRONG})
    assert client.post(sign_url(d1), {"password": password}).status_code == 302
    assert not AccessAttempt.objects.filter(username=investigator.username).exists()


def test_five_wrong_passwords_lock_emergency_unblinding(participant: Participant, assessor: Any, password: str) -> None:
    client = logged_in(assessor)
    page = f"/randomization/participants/{participant.screening_number}/unblind/"
    for attempt in range(1, LOCK_AFTER + 1):
        response = client.post(page, {"reason": "severe reaction", "password": WRONG})
        assert response.status_code == (429 if attempt == LOCK_AFTER else 400), attempt  # 400: nothing unblinded
    locked = client.post(page, {"reason": "severe reaction", "password": password})
    assert locked.status_code == 429
    assert not Unblinding.objects.exists()
    shown = locked.content.decode().lower()
    assert "baricitinib" not in shown and "methotrexate" not in shown

    failures = AccessEvent.objects.filter(kind=AccessEvent.Kind.PASSWORD_REENTRY_FAILED, username=assessor.username)
    assert failures.count() == LOCK_AFTER + 1
    assert all("emergency unblinding of" in event.detail for event in failures)
    assert not AccessEvent.objects.filter(kind=AccessEvent.Kind.UNBLINDING).exists()


def test_five_wrong_current_passwords_lock_the_password_change(coordinator: Any, password: str) -> None:
    client = logged_in(coordinator)
    new = {"new_password1": "Rheum-Dhaka-2027", "new_password2": "Rheum-Dhaka-2027"}
    for attempt in range(1, LOCK_AFTER + 1):
        response = client.post("/accounts/password/", {"old_password": WRONG, **new})
        assert response.status_code == (429 if attempt == LOCK_AFTER else 400), attempt
    assert client.post("/accounts/password/", {"old_password": password, **new}).status_code == 429
    coordinator.refresh_from_db()
    assert coordinator.check_password(password)
    failures = AccessEvent.objects.filter(kind=AccessEvent.Kind.PASSWORD_REENTRY_FAILED, username="coordinator")
    assert failures.count() == LOCK_AFTER + 1
    # django-axes keeps no form field of a failed password change: neither the wrong old one nor the new one.
    assert not any("Rheum-Dhaka" in attempt.post_data or WRONG in attempt.post_data
                   for attempt in AccessAttempt.objects.all())  # fmt: skip


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_failed_signature_stays_in_the_log_and_counts_when_the_callers_transaction_is_rolled_back(
    site: Any, coordinator: Any, investigator: Any, statistician: Any, settings: Any
) -> None:
    """A caller that signs inside its own transaction and lets the refusal roll it back (a view that raises, a
    service that fails) does not take the failure with it: it was written on a connection of its own."""
    settings.ACCESS_LOG_OWN_CONNECTION = True  # as in production (the test settings turn it off, see there)
    list_in_use(statistician)
    participant = randomised_on(timezone.localdate() - timedelta(days=10), site, coordinator, investigator)
    visit = participant.visits.get(code="D1")
    visit = visit_services.visit_record_done(visit=visit, by=coordinator, done_on=visit.target_date)
    request = RequestFactory().post(sign_url(visit), REMOTE_ADDR="10.9.8.7")
    request.user = investigator
    with pytest.raises(ValidationError), transaction.atomic():
        signature_sign(scope="visit", visit=visit, by=investigator, password=WRONG, request=request)
    assert AccessEvent.objects.filter(kind=AccessEvent.Kind.SIGNATURE_FAILED, username=investigator.username).exists()
    attempt = AccessAttempt.objects.get(username=investigator.username)
    assert (attempt.ip_address, attempt.failures_since_start) == ("10.9.8.7", 1)
