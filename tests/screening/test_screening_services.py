"""Registration, consent first, the decision flow (confirm, void, fail, re-screen), and the audit trail."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from screening import services
from screening.models import ClassificationCriteria, Participant, ScreeningLabs
from screening.selectors import screening_decision, screening_row
from screening.status import ScreeningStatus
from tests.factories import make_site, make_user, system_user
from tests.screening.factories import consent_for, participant_fields, register, save_form, screen_eligible
from trial_site.roles import Role
from trial_site.services import membership_grant


def test_screening_numbers_are_per_site_and_consecutive(site: Any, other_site: Any, coordinator: Any) -> None:

    membership_grant(user=coordinator, site=other_site, role=Role.COORDINATOR, by=system_user())
    numbers = [register(site, coordinator).screening_number for _ in range(3)]
    assert numbers == ["DHK-S-0001", "DHK-S-0002", "DHK-S-0003"]
    assert register(other_site, coordinator).screening_number == "CTG-S-0001"


def test_registration_keeps_the_consent(site: Any, coordinator: Any) -> None:
    participant = register(site, coordinator)
    assert participant.consent.obtained_by == coordinator
    assert participant.consent.history.get().history_user == coordinator
    assert screening_row(participant).status == ScreeningStatus.CONSENTED


def test_no_screening_data_before_consent(site: Any, coordinator: Any) -> None:
    participant = Participant(site=site, screening_number="DHK-S-0099", **participant_fields())
    participant.save(by=coordinator)
    with pytest.raises(ValidationError, match="informed consent before any screening data"):
        save_form(ClassificationCriteria, participant, coordinator, {"raynaud_phenomenon": True})
    assert not ClassificationCriteria.objects.exists()


def test_a_user_without_the_role_cannot_register(site: Any, user_with_role: Any) -> None:
    monitor = user_with_role(Role.MONITOR)
    with pytest.raises(PermissionDenied):
        register(site, monitor)
    assert not Participant.objects.exists()


def test_an_eligible_participant_can_be_confirmed_and_a_later_change_voids_it(
    site: Any, coordinator: Any, investigator: Any
) -> None:
    participant = screen_eligible(register(site, coordinator), coordinator)
    assert screening_decision(participant).decision == "eligible"
    assert screening_row(participant).status == ScreeningStatus.ELIGIBLE

    with pytest.raises(PermissionDenied):
        services.eligibility_confirm(participant=participant, by=coordinator)
    confirmation = services.eligibility_confirm(participant=participant, by=investigator)
    assert confirmation.confirmed_by == investigator
    assert {row["code"]: row["status"] for row in confirmation.criteria}["I4"] == "met"
    assert confirmation.history.get().history_user == investigator
    participant = Participant.objects.get(pk=participant.pk)
    assert screening_row(participant).status == ScreeningStatus.CONFIRMED

    save_form(ScreeningLabs, participant, coordinator, {"hb_g_dl": 11.0}, reason="repeat sample, source p. 3")
    confirmation.refresh_from_db()
    assert confirmation.voided_at is not None
    assert "repeat sample, source p. 3" in confirmation.void_reason
    assert confirmation.history.first().history_change_reason == confirmation.void_reason
    participant = Participant.objects.get(pk=participant.pk)
    assert screening_row(participant).status == ScreeningStatus.ELIGIBLE


def test_changing_saved_screening_data_needs_a_reason(site: Any, coordinator: Any) -> None:
    participant = screen_eligible(register(site, coordinator), coordinator)
    with pytest.raises(ValidationError, match="reason for change"):
        save_form(ScreeningLabs, participant, coordinator, {"hb_g_dl": 9.0})
    assert ScreeningLabs.objects.get().hb_g_dl == 12.1


def test_confirmation_is_refused_unless_the_data_support_it(site: Any, coordinator: Any, investigator: Any) -> None:
    participant = register(site, coordinator)
    with pytest.raises(ValidationError, match="Not yet known: I1, I2"):
        services.eligibility_confirm(participant=participant, by=investigator)
    participant = screen_eligible(participant, coordinator, mrss_per_area=0)
    with pytest.raises(ValidationError, match="Against eligibility: I4"):
        services.eligibility_confirm(participant=participant, by=investigator)
    assert not participant.confirmations.exists()


def test_a_screen_failure_keeps_its_codes_and_allows_one_rescreening(
    site: Any, coordinator: Any, investigator: Any
) -> None:
    participant = screen_eligible(register(site, coordinator), coordinator, mrss_per_area=0)
    save_form(ScreeningLabs, participant, coordinator, {"hb_g_dl": 7.9}, reason="result received")
    failure = services.screen_failure_record(participant=participant, by=coordinator, note="skin too mild")
    assert failure.failed_codes == ["I4", "E17"]
    participant = Participant.objects.get(pk=participant.pk)
    assert screening_row(participant).status == ScreeningStatus.SCREEN_FAILED

    second = services.participant_rescreen(
        previous=participant,
        screening_date=participant.screening_date,
        consent=consent_for(site, coordinator),
        by=coordinator,
    )
    assert second.episode == 2 and second.first_episode == participant
    assert second.screening_number == "DHK-S-0002" and second.initials == participant.initials
    assert screening_row(second).status == ScreeningStatus.CONSENTED

    second = screen_eligible(second, coordinator, mrss_per_area=0)
    services.screen_failure_record(participant=second, by=coordinator)
    with pytest.raises(ValidationError, match="the protocol allows 2"):
        services.participant_rescreen(
            previous=Participant.objects.get(pk=second.pk),
            screening_date=second.screening_date,
            consent=consent_for(site, coordinator),
            by=coordinator,
        )


def test_a_screen_failure_needs_a_failed_criterion(site: Any, coordinator: Any) -> None:
    participant = register(site, coordinator)
    with pytest.raises(ValidationError, match="at least one failed criterion"):
        services.screen_failure_record(participant=participant, by=coordinator)


def test_withdrawal_stops_further_screening_data(site: Any, coordinator: Any) -> None:
    from screening.models import ConsentWithdrawal

    participant = register(site, coordinator)
    services.consent_withdraw(
        withdrawal=ConsentWithdrawal(
            participant=participant, withdrawn_on=participant.screening_date, scope="follow_up"
        ),
        by=coordinator,
    )
    participant = Participant.objects.get(pk=participant.pk)
    assert screening_row(participant).status == ScreeningStatus.WITHDRAWN
    with pytest.raises(ValidationError, match="withdrawn consent"):
        save_form(ClassificationCriteria, participant, coordinator, {"raynaud_phenomenon": True})


def test_every_screening_record_is_in_the_audit_trail(site: Any, coordinator: Any, investigator: Any) -> None:
    participant = screen_eligible(register(site, coordinator), coordinator)
    services.eligibility_confirm(participant=participant, by=investigator)
    for accessor in ("consent", "classification_criteria", "disease_history", "screening_mrss",
                     "exclusion_history", "screening_labs"):  # fmt: skip
        record = getattr(participant, accessor)
        row = record.history.get()
        assert row.history_type == "+" and row.history_user == coordinator, accessor
    assert participant.history.get().history_user == coordinator
    assert participant.confirmations.get().history.get().history_user == investigator


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("date_of_birth", "years:17", "participants are 18 to 100"),
        ("date_of_birth", "years:101", "participants are 18 to 100"),
        ("screening_date", "days:-1", "cannot be in the future"),
        ("mobile_phone", "029661234", "for example 01712 345678"),
    ],
)
def test_impossible_participant_values_are_refused(
    site: Any, coordinator: Any, field: str, value: str, message: str
) -> None:
    today = timezone.localdate()
    if value.startswith("years:"):
        value = today.replace(year=today.year - int(value[6:])) + timedelta(days=1 if value == "years:17" else -1)
    elif value.startswith("days:"):
        value = today - timedelta(days=int(value[5:]))
    with pytest.raises(ValidationError, match=message):
        register(site, coordinator, **{field: value})
    assert not Participant.objects.exists()


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"hb_g_dl": 80.0}, "hb_g_dl"),
        ({"platelets": -5.0}, "platelets"),
        ({"alt": 30.0, "alt_uln": 0.0}, "alt_uln"),
        ({"creatinine": 80.0, "creatinine_unit": "mg/dL"}, "creatinine"),
        ({"hbsag": "negative", "hbsag_date": None}, "hbsag_date"),
        ({"sampled_on": "future"}, "sampled_on"),
    ],
)
def test_implausible_laboratory_values_are_refused_and_nothing_is_saved(
    site: Any, coordinator: Any, values: dict[str, Any], field: str
) -> None:
    participant = register(site, coordinator)
    if values.get("sampled_on") == "future":
        values = {"sampled_on": timezone.localdate() + timedelta(days=1)}
    with pytest.raises(ValidationError) as error:
        save_form(ScreeningLabs, participant, coordinator, values)
    assert field in error.value.message_dict
    assert not ScreeningLabs.objects.exists()


def test_first_symptom_after_the_screening_date_is_refused(site: Any, coordinator: Any) -> None:
    from screening.models import DiseaseHistory

    participant = register(site, coordinator, screening_date=timezone.localdate() - timedelta(days=5))
    onset_after_screening = {"first_non_raynaud_date": participant.screening_date + timedelta(days=1)}
    with pytest.raises(ValidationError) as error:
        save_form(DiseaseHistory, participant, coordinator, onset_after_screening)
    assert "after the screening date" in str(error.value.message_dict["first_non_raynaud_date"])


def test_rescreening_needs_the_site_role(site: Any, coordinator: Any) -> None:
    outsider_site = make_site(code="SYL")
    outsider = make_user("outsider", role=Role.COORDINATOR, site=outsider_site)
    participant = register(site, coordinator)
    with pytest.raises(PermissionDenied):
        services.participant_rescreen(
            previous=participant, screening_date=participant.screening_date,
            consent=consent_for(site, outsider),
            by=outsider,
        )  # fmt: skip


def test_identifying_fields_are_named_in_one_place_and_exist() -> None:
    from screening.models import IDENTIFYING_FIELDS

    names = {field.name for field in Participant._meta.get_fields()}
    assert set(IDENTIFYING_FIELDS) <= names
    assert {"initials", "date_of_birth", "mobile_phone", "email"} == set(IDENTIFYING_FIELDS)


def test_a_date_of_birth_after_the_screening_date_is_refused(site: Any, coordinator: Any) -> None:
    today = timezone.localdate()
    with pytest.raises(ValidationError, match="after the screening date"):
        register(site, coordinator, screening_date=today - timedelta(days=30), date_of_birth=today - timedelta(days=10))
    assert not Participant.objects.exists()
