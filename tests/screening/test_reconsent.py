"""Re-consent (issue #19, item 3): a new consent form version that asks for it marks everyone still in the trial,
lists them on the coordinators' to-do page, and refuses the procedures it blocks until they sign it again."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinical.consent import ReconsentReason, reconsent_decision
from clinical.mrss import MRSS_AREAS
from randomization import services as randomization_services
from safety import services as safety_services
from safety.models import AdverseEvent
from screening import selectors, services
from screening.models import ClassificationCriteria, ConsentWithdrawal, Participant, Reconsent, ScreeningMrss
from screening.models.consent import SignatureMethod
from tests.randomization.factories import confirmed_participant, list_in_use
from tests.screening.factories import consent_for, participant_fields, register, save_form
from tests.visits.test_schedule import randomised_on
from trial_site.audit.versions import current_version
from trial_site.concurrency import VERSION_FIELD
from trial_site.models import ProtocolVersion
from trial_site.protocol import ConsentFormVersion
from trial_site.protocol_versions import amendable, base_protocol
from trial_site.roles import Role
from visits import services as visit_services
from visits.crf_services import visit_form_save
from visits.crfs import VitalSigns

pytestmark = pytest.mark.django_db

DHAKA = ZoneInfo("Asia/Dhaka")


def site_today() -> date:
    return timezone.localdate(timezone.now(), DHAKA)


def approve_consent_2(by: Any, effective_from: date | None = None) -> ProtocolVersion:
    """Protocol 2.0, approved: version 1.0 with consent form 2.0 (re-consent asked) in use from ``effective_from``
    (today at the site by default), 1.0 in use until the day before."""
    day = effective_from or site_today()
    content = amendable(base_protocol())
    first = content["consent_forms"][0]
    content["consent_forms"] = [
        {**first, "effective_to": (day - timedelta(days=1)).isoformat()},
        {"version": "2.0", "effective_from": day.isoformat(), "effective_to": None, "reconsent": True},
    ]
    now = timezone.now()
    amendment = ProtocolVersion(
        version="2.0",
        effective_from=day,
        summary="Consent form 2.0: the new safety information on herpes zoster.",
        content=content,
        status=ProtocolVersion.Status.APPROVED,
        proposed_by=by,
        proposed_at=now,
        approved_by=by,
        approved_at=now,
        approval_reason="Ethics committee approval of amendment 1.",
    )
    amendment.save(by=by)
    return amendment


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def reconsent_now(participant: Participant, by: Any, **overrides: Any) -> Reconsent:
    values = {
        "form_version": "2.0",
        "consented_at": timezone.now() - timedelta(minutes=5),
        "obtained_by": by,
        "signature_method": SignatureMethod.SIGNATURE,
        "copy_given": True,
        **overrides,
    }
    return services.reconsent_record(participant=participant, by=by, **values)


# --- The pure rule --------------------------------------------------------------------------------------------

START = date(2025, 5, 1)
EFFECTIVE = date(2027, 3, 1)
VERSIONS = (
    ConsentFormVersion("1.0", START, effective_to=EFFECTIVE - timedelta(days=1)),
    ConsentFormVersion("2.0", EFFECTIVE, reconsent=True),
)


def test_the_rule_asks_nothing_before_the_effective_date_and_the_new_version_from_it() -> None:
    before = reconsent_decision(signed=["1.0"], versions=VERSIONS, in_trial=True, day=EFFECTIVE - timedelta(days=1))
    assert before.reason is ReconsentReason.NONE_REQUIRED and not before.due
    on = reconsent_decision(signed=["1.0"], versions=VERSIONS, in_trial=True, day=EFFECTIVE)
    assert on.due
    assert (on.version, on.required, on.since, on.signed) == ("2.0", "2.0", EFFECTIVE, "1.0")


def test_the_rule_lets_off_whoever_signed_it_or_a_later_one_and_whoever_left() -> None:
    day = EFFECTIVE + timedelta(days=10)
    assert reconsent_decision(signed=["1.0", "2.0"], versions=VERSIONS, in_trial=True, day=day).reason == "up_to_date"
    assert reconsent_decision(signed=["2.0"], versions=VERSIONS, in_trial=True, day=day).reason == "up_to_date"
    assert reconsent_decision(signed=["1.0"], versions=VERSIONS, in_trial=False, day=day).reason == "not_in_trial"
    later = (*VERSIONS[:1], ConsentFormVersion("2.0", EFFECTIVE, date(2027, 5, 31), reconsent=True))
    later += (ConsentFormVersion("2.10", date(2027, 6, 1)),)
    june = reconsent_decision(signed=["1.0"], versions=later, in_trial=True, day=date(2027, 6, 2))
    assert (june.required, june.version) == ("2.0", "2.10")  # sign the version in use now; 2.10 comes after 2.9
    assert not reconsent_decision(signed=["2.10"], versions=later, in_trial=True, day=date(2027, 6, 2)).due


# --- Who must re-consent ---------------------------------------------------------------------------------------


def test_everyone_still_in_the_trial_is_due_and_nobody_who_left(
    site: Any, coordinator: Any, investigator: Any, statistician: Any
) -> None:
    list_in_use(statistician)
    screening = register(site, coordinator)
    randomised = randomised_on(site_today() - timedelta(days=10), site, coordinator, investigator)
    withdrawn = register(site, coordinator)
    services.consent_withdraw(
        withdrawal=ConsentWithdrawal(participant=withdrawn, withdrawn_on=site_today(), scope="follow_up"),
        by=coordinator,
    )
    failed = register(site, coordinator)
    save_form(ClassificationCriteria, failed, coordinator, {"skin_thickening_proximal_to_mcp": False})
    mrss_0 = {code: 0 for code, _label in MRSS_AREAS}
    save_form(
        ScreeningMrss, failed, coordinator, {"assessed_on": failed.screening_date, "assessor": coordinator, **mrss_0}
    )
    services.screen_failure_record(participant=Participant.objects.get(pk=failed.pk), by=coordinator)
    ended = randomised_on(site_today() - timedelta(days=10), site, coordinator, investigator)
    visit_services.end_of_study_record(
        participant=ended, by=investigator, ended_on=site_today(), reason="lost", details="Moved away."
    )
    approve_consent_2(investigator, effective_from=site_today() + timedelta(days=1))

    def due(participant: Participant, on: date | None = None) -> bool:
        return selectors.reconsent_due(Participant.objects.get(pk=participant.pk), on).due

    # Before the effective date nobody is due; from it, those still in the trial.
    assert not any(due(p) for p in (screening, randomised, withdrawn, failed, ended))
    tomorrow = site_today() + timedelta(days=1)
    assert [due(p, tomorrow) for p in (screening, randomised, withdrawn, failed, ended)] == [
        True,
        True,
        False,
        False,
        False,
    ]
    assert selectors.participants_to_reconsent(coordinator) == []  # today: not yet


def test_the_to_do_page_lists_who_is_due_at_the_users_sites_only(
    site: Any, other_site: Any, coordinator: Any, user_with_role: Any
) -> None:
    first = register(site, coordinator)
    elsewhere_coordinator = user_with_role(Role.COORDINATOR, username="other_coordinator", at=other_site)
    elsewhere = register(other_site, elsewhere_coordinator)
    approve_consent_2(coordinator)

    page = logged_in(coordinator).get("/screening/reconsent-due/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-testid="reconsent-row-{first.screening_number}"' in html
    assert elsewhere.screening_number not in html
    assert "Re-consent due" in html and ">2.0<" in html
    assert 'data-testid="nav-todo-reconsent"' in html  # the menu links it, with the count

    other_page = logged_in(elsewhere_coordinator).get("/screening/reconsent-due/").content.decode()
    assert elsewhere.screening_number in other_page and first.screening_number not in other_page


def test_the_to_do_list_takes_the_same_queries_for_one_or_several_participants(site: Any, coordinator: Any) -> None:
    participants = [register(site, coordinator) for _ in range(4)]
    approve_consent_2(coordinator)

    def counted() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            rows = selectors.participants_to_reconsent(coordinator)
        return len(rows), len(queries.captured_queries)

    several, several_queries = counted()
    page = logged_in(coordinator).get("/screening/reconsent-due/")
    assert page.content.decode().count('data-testid="reconsent-row-') == 4
    for participant in participants[1:]:
        reconsent_now(participant, coordinator)
    one, one_queries = counted()
    assert (several, one) == (4, 1)
    assert one_queries == several_queries


# --- The blocks --------------------------------------------------------------------------------------------------


def test_screening_forms_and_randomisation_are_refused_until_re_consent(
    site: Any, coordinator: Any, investigator: Any, statistician: Any
) -> None:
    list_in_use(statistician)
    participant = confirmed_participant(site, coordinator, investigator)
    approve_consent_2(investigator)

    with pytest.raises(ValidationError) as refused:
        save_form(ClassificationCriteria, participant, coordinator, {"raynaud_phenomenon": True}, reason="checked")
    assert "consent form version 2.0" in refused.value.messages[0]
    with pytest.raises(ValidationError) as refused:
        randomization_services.participant_randomize(participant=participant, by=investigator)
    assert "consent form version 2.0" in refused.value.messages[0]

    # On the pages: the screening form comes back with the message (not a 500); randomisation says why.
    number = participant.screening_number
    coordinator_client = logged_in(coordinator)
    summary = coordinator_client.get(f"/screening/{number}/").content.decode()
    assert 'data-testid="reconsent-due"' in summary and "version 2.0" in summary
    allocation_page = logged_in(investigator).get(f"/randomization/participants/{number}/")
    assert "consent form version 2.0" in allocation_page.content.decode()

    reconsent_now(participant, coordinator)
    randomization_services.participant_randomize(
        participant=Participant.objects.get(pk=participant.pk), by=investigator
    )
    assert Participant.objects.get(pk=participant.pk).allocation is not None


def test_visits_and_visit_forms_are_refused_but_adverse_events_still_reported(
    site: Any, coordinator: Any, investigator: Any, statistician: Any
) -> None:
    list_in_use(statistician)
    participant = randomised_on(site_today() - timedelta(days=10), site, coordinator, investigator)
    day1 = participant.visits.get(code="D1")
    approve_consent_2(investigator)

    with pytest.raises(ValidationError) as refused:
        visit_services.visit_record_done(visit=day1, by=coordinator, done_on=day1.target_date)
    assert "consent form version 2.0" in refused.value.messages[0]
    with pytest.raises(ValidationError) as refused:
        visit_form_save(record=VitalSigns(visit=day1, weight_kg=61.0), by=coordinator, complete=False)
    assert "consent form version 2.0" in refused.value.messages[0]
    response = logged_in(coordinator).post(
        f"/visits/{day1.pk}/done/",
        {
            "done_on": day1.target_date.isoformat(),
            "deviation_reason": "",
            VERSION_FIELD: current_version(day1),
        },
    )
    assert response.status_code == 200  # the visit page again, the refusal next to the date
    assert "consent form version 2.0" in response.content.decode()

    event = AdverseEvent(
        participant=participant, description="Herpes zoster", onset_date=site_today(), grade=2,
        relationship="possible", action_taken="none", outcome="recovering", learned_at=timezone.now(),
    )  # fmt: skip
    safety_services.adverse_event_record(event=event, by=coordinator)
    assert AdverseEvent.objects.filter(participant=participant).count() == 1

    reconsent_now(participant, coordinator)
    day1.refresh_from_db()
    visit_services.visit_record_done(visit=day1, by=coordinator, done_on=day1.target_date)
    assert participant.visits.get(code="D1").done_on == day1.target_date


def test_the_visit_schedule_page_shows_the_banner(
    site: Any, coordinator: Any, investigator: Any, statistician: Any
) -> None:
    from django.urls import reverse

    list_in_use(statistician)
    participant = randomised_on(site_today() - timedelta(days=10), site, coordinator, investigator)
    approve_consent_2(investigator)
    page = logged_in(coordinator).get(reverse("visits:participant", args=[participant.screening_number]))
    assert page.status_code == 200
    assert 'data-testid="reconsent-due"' in page.content.decode()


# --- Recording it ------------------------------------------------------------------------------------------------


def test_recording_the_re_consent_on_its_page_lifts_the_blocks_and_leaves_the_list(site: Any, coordinator: Any) -> None:
    participant = register(site, coordinator)
    approve_consent_2(coordinator)
    client = logged_in(coordinator)
    number = participant.screening_number
    page = client.get(f"/screening/{number}/reconsent/").content.decode()
    assert 'name="submission_key"' in page and 'value="2.0"' in page
    consented_at = timezone.localtime(timezone.now() - timedelta(minutes=10), DHAKA).strftime("%Y-%m-%dT%H:%M")
    data = {
        "submission_key": str(uuid.uuid4()),
        "form_version": "2.0",
        "consented_at": consented_at,
        "obtained_by": coordinator.pk,
        "signature_method": "signature",
        "witness_name": "",
        "copy_given": "on",
    }
    response = client.post(f"/screening/{number}/reconsent/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    again = client.post(f"/screening/{number}/reconsent/", data)  # the same click twice: one re-consent
    assert again.status_code == 302
    record = Reconsent.objects.get(participant=participant)
    assert record.form_version == "2.0" and record.created_by == coordinator
    assert record.history.count() == 1 and record.history.get().history_type == "+"

    assert selectors.participants_to_reconsent(coordinator) == []
    assert f'data-testid="reconsent-row-{number}"' not in client.get("/screening/reconsent-due/").content.decode()
    assert 'data-testid="reconsent-due"' not in client.get(f"/screening/{number}/").content.decode()
    save_form(
        ClassificationCriteria, Participant.objects.get(pk=participant.pk), coordinator, {"raynaud_phenomenon": True}
    )


def test_a_re_consent_is_refused_before_the_first_consent_in_the_future_or_for_an_unknown_version(
    site: Any, coordinator: Any, user_with_role: Any
) -> None:
    participant = register(site, coordinator)
    approve_consent_2(coordinator)
    before_consent = participant.consent.consented_at - timedelta(days=1)
    for overrides, field in (
        ({"consented_at": before_consent}, "consented_at"),
        ({"consented_at": timezone.now() + timedelta(days=2)}, "consented_at"),
        ({"form_version": "9.9"}, "form_version"),
        ({"form_version": "1.0"}, "form_version"),  # older than the version asked for
    ):
        with pytest.raises(ValidationError) as refused:
            reconsent_now(Participant.objects.get(pk=participant.pk), coordinator, **overrides)
        assert field in refused.value.message_dict, overrides
    assert not Reconsent.objects.exists()
    monitor = user_with_role(Role.MONITOR, username="monitor")
    with pytest.raises(PermissionDenied, match=r"lacks screening\.add_reconsent"):
        reconsent_now(participant, monitor)
    reconsent_now(participant, coordinator)
    with pytest.raises(ValidationError, match="No re-consent is due"):
        reconsent_now(Participant.objects.get(pk=participant.pk), coordinator)


def test_a_new_participant_signs_version_2_0_and_owes_nothing(site: Any, coordinator: Any) -> None:
    approve_consent_2(coordinator)
    page = logged_in(coordinator).get("/screening/register/DHK/").content.decode()
    assert 'value="2.0"' in page and 'value="1.0"' not in page  # the versions in use today
    participant = services.participant_register(
        participant=Participant(site=site, **participant_fields()),
        consent=consent_for(site, coordinator, form_version="2.0", consented_at=timezone.now() - timedelta(minutes=1)),
        by=coordinator,
    )
    participant.consent.full_clean()  # 2.0 is a known version, in use today
    assert not selectors.reconsent_due(Participant.objects.get(pk=participant.pk)).due
