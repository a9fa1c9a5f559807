"""Randomising: the next slot of the stratum, idempotent, only when eligible; errors, unblinding, audit."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client

from randomization import services
from randomization.models import Allocation, AllocationSlot, Unblinding
from screening.models import ConsentWithdrawal
from screening.services import consent_withdraw
from tests.randomization.factories import confirmed_participant, list_in_use
from tests.screening.factories import register
from trial_site.models import AccessEvent
from trial_site.roles import Role


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def in_use(statistician: Any) -> Any:
    return list_in_use(statistician)


def test_randomising_takes_the_next_slot_of_the_stratum_and_emails_the_investigator(
    site: Any, coordinator: Any, investigator: Any, in_use: Any, django_capture_on_commit_callbacks: Any
) -> None:
    participant = confirmed_participant(site, coordinator, investigator)
    with django_capture_on_commit_callbacks(execute=True):
        allocation = services.participant_randomize(participant=participant, by=investigator)
    first = AllocationSlot.objects.get(allocation_list=in_use, stratum="DHK/early", sequence=1)
    assert allocation.slot == first and allocation.arm == first.arm
    assert allocation.randomisation_number == "DHK-R-001" and allocation.stratum == "DHK/early"
    assert allocation.history.get().history_user == investigator
    assert len(mail.outbox) == 1 and investigator.email in mail.outbox[0].to
    assert "DHK-R-001" in mail.outbox[0].body


def test_a_second_request_returns_the_same_allocation(
    site: Any, coordinator: Any, investigator: Any, in_use: Any
) -> None:
    participant = confirmed_participant(site, coordinator, investigator)
    first = services.participant_randomize(participant=participant, by=investigator)
    again = services.participant_randomize(participant=participant, by=investigator)
    assert first.pk == again.pk and Allocation.objects.count() == 1


@pytest.mark.parametrize(("days", "stratum"), [(540, "DHK/early"), (600, "DHK/late")], ids=["18 months", "19 months"])
def test_disease_duration_decides_the_stratum(
    site: Any, coordinator: Any, investigator: Any, in_use: Any, days: int, stratum: str
) -> None:
    participant = confirmed_participant(site, coordinator, investigator, duration_days=days)
    assert services.participant_randomize(participant=participant, by=investigator).stratum == stratum


def test_who_is_not_confirmed_eligible_or_withdrew_cannot_be_randomised(
    site: Any, coordinator: Any, investigator: Any, in_use: Any
) -> None:
    unconfirmed = register(site, coordinator)
    with pytest.raises(ValidationError, match="confirm eligibility first"):
        services.participant_randomize(participant=unconfirmed, by=investigator)
    response = logged_in(investigator).post(f"/randomization/participants/{unconfirmed.screening_number}/randomise/")
    assert response.status_code == 403

    withdrawn = confirmed_participant(site, coordinator, investigator)
    consent_withdraw(
        withdrawal=ConsentWithdrawal(participant=withdrawn, withdrawn_on=withdrawn.screening_date, scope="data"),
        by=coordinator,
    )
    with pytest.raises(ValidationError, match="withdrawn consent"):
        services.participant_randomize(participant=withdrawn, by=investigator)
    assert not Allocation.objects.exists()


def test_a_coordinator_randomises_only_with_a_delegated_permission(
    site: Any, coordinator: Any, investigator: Any, in_use: Any
) -> None:
    participant = confirmed_participant(site, coordinator, investigator)
    with pytest.raises(PermissionDenied):
        services.participant_randomize(participant=participant, by=coordinator)
    coordinator.user_permissions.add(Permission.objects.get(codename="randomise"))
    from django.contrib.auth import get_user_model

    delegated = get_user_model().objects.get(pk=coordinator.pk)
    assert services.participant_randomize(participant=participant, by=delegated).randomised_by == delegated


def test_an_exhausted_list_refuses_clearly_and_alerts_the_statistician(
    site: Any, coordinator: Any, investigator: Any, statistician: Any, user_with_role: Any
) -> None:
    administrator = user_with_role(Role.ADMINISTRATOR)
    list_in_use(statistician, slots_per_stratum=2, name="tiny")  # blocks of 2 and 4: 2 to 4 slots per stratum
    made = 0
    with pytest.raises(ValidationError, match="no free slot left for stratum DHK/early") as error:
        for _ in range(5):
            services.participant_randomize(
                participant=confirmed_participant(site, coordinator, investigator), by=investigator
            )
            made += 1
    assert made == AllocationSlot.objects.filter(stratum="DHK/early").count()
    assert error.value.code == "exhausted"
    alert = mail.outbox[-1]
    assert "exhausted" in alert.subject
    assert set(alert.to) == {statistician.email, administrator.email}


def test_randomised_in_error_is_flagged_never_deleted_and_its_slot_stays_used(
    site: Any, coordinator: Any, investigator: Any, in_use: Any
) -> None:
    first = services.participant_randomize(
        participant=confirmed_participant(site, coordinator, investigator), by=investigator
    )
    services.allocation_flag_error(allocation=first, by=investigator, reason="wrong participant chosen")
    first.refresh_from_db()
    assert first.in_error and first.history.first().history_change_reason.startswith("randomised in error")
    second = services.participant_randomize(
        participant=confirmed_participant(site, coordinator, investigator), by=investigator
    )
    assert second.slot.sequence == 2


def test_emergency_unblinding_needs_a_reason_and_the_password_and_is_logged_and_notified(
    site: Any, coordinator: Any, investigator: Any, assessor: Any, in_use: Any, password: str,
    user_with_role: Any, django_capture_on_commit_callbacks: Any,
) -> None:  # fmt: skip
    administrator = user_with_role(Role.ADMINISTRATOR)
    participant = confirmed_participant(site, coordinator, investigator)
    allocation = services.participant_randomize(participant=participant, by=investigator)
    page = f"/randomization/participants/{participant.screening_number}/"
    client = logged_in(assessor)
    assert "concealed" in client.get(page).content.decode()

    wrong = client.post(page + "unblind/", {"reason": "severe reaction", "password": "not-my-password"})
    assert wrong.status_code == 400 and "The password is not right" in wrong.content.decode()
    assert not Unblinding.objects.exists()

    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(page + "unblind/", {"reason": "severe reaction", "password": password})
    assert done.status_code == 302
    unblinding = Unblinding.objects.get()
    assert unblinding.requested_by == assessor and unblinding.history.get().history_user == assessor
    assert AccessEvent.objects.get(kind="unblinding").username == assessor.username
    assert set(mail.outbox[0].to) == {investigator.email, administrator.email}
    assert "severe reaction" in mail.outbox[0].body
    arm = {"A": "baricitinib", "B": "methotrexate"}[allocation.arm]
    assert arm in client.get(page).content.decode()


def test_the_treatment_is_shown_with_drug_dose_and_frequency(
    site: Any, coordinator: Any, investigator: Any, in_use: Any
) -> None:
    participant = confirmed_participant(site, coordinator, investigator)
    allocation = services.participant_randomize(participant=participant, by=investigator)
    page = logged_in(coordinator).get(f"/randomization/participants/{participant.screening_number}/").content.decode()
    expected = {"A": ("baricitinib", "4 mg orally", "once daily"), "B": ("methotrexate", "25 mg orally", "once weekly")}
    for text in expected[allocation.arm]:
        assert text in page
    assert "Day 1 (start of treatment)" in page


@pytest.mark.parametrize("role", [Role.INVESTIGATOR, Role.BLINDED_ASSESSOR], ids=["unblinded", "blinded"])
def test_the_overview_runs_the_same_number_of_queries_for_5_and_25_allocations(
    site: Any, coordinator: Any, investigator: Any, in_use: Any, user_with_role: Any, role: Role
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    viewer = investigator if role == Role.INVESTIGATOR else user_with_role(role)
    client = logged_in(viewer)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/randomization/").status_code == 200
        return len(captured.captured_queries)

    def randomise(count: int) -> None:
        for _ in range(count):
            participant = confirmed_participant(site, coordinator, investigator)
            services.participant_randomize(participant=participant, by=investigator)

    randomise(5)
    with_five = queries()
    randomise(20)
    assert Allocation.objects.count() == 25
    assert queries() == with_five


def test_the_randomisation_email_goes_through_a_real_smtp_server(
    site: Any, coordinator: Any, investigator: Any, in_use: Any, smtp_inbox: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:  # fmt: skip
    participant = confirmed_participant(site, coordinator, investigator)
    with django_capture_on_commit_callbacks(execute=True):
        allocation = services.participant_randomize(participant=participant, by=investigator)
    [message] = smtp_inbox.messages
    assert message["X-Envelope-To"] == investigator.email
    assert allocation.randomisation_number in message["Subject"]
    body = message.get_content()
    assert "(Asia/Dhaka)" in body and allocation.randomisation_number in body


def test_a_confirmed_participant_later_recorded_as_a_screen_failure_no_longer_awaits_randomisation(
    site: Any, coordinator: Any, investigator: Any, in_use: Any
) -> None:
    """The overview's "awaiting randomisation" is the screening log's "eligibility confirmed": a participant whose
    screening window passed after the confirmation, and whose screen failure (SCR) is then recorded, is no longer
    offered for randomisation; one withdrawn neither; one still in window stays."""
    from datetime import timedelta

    from django.utils import timezone

    from randomization.selectors import randomisation_overview
    from screening.services import screen_failure_record

    waiting = confirmed_participant(site, coordinator, investigator)
    lapsed = confirmed_participant(site, coordinator, investigator, day1=timezone.localdate() - timedelta(days=60))
    leaving = confirmed_participant(site, coordinator, investigator)

    def awaiting() -> tuple[list[str], int]:
        overview = randomisation_overview(investigator)
        return [p.screening_number for p in overview.awaiting], overview.awaiting_count

    assert awaiting() == (sorted(p.screening_number for p in (waiting, lapsed, leaving)), 3)
    screen_failure_record(participant=lapsed, by=investigator)
    consent_withdraw(
        withdrawal=ConsentWithdrawal(participant=leaving, withdrawn_on=leaving.screening_date, scope="data"),
        by=coordinator,
    )
    assert awaiting() == ([waiting.screening_number], 1)
    page = logged_in(investigator).get("/randomization/").content.decode()
    assert waiting.screening_number in page and lapsed.screening_number not in page
