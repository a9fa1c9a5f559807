"""Investigators' e-signatures: password (and code) to sign, the meaning shown, invalidated by any later change."""

from __future__ import annotations

import html
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from monitoring.models import Signature
from monitoring.services.signatures import signature_sign
from tests.factories import DEFAULT_PASSWORD
from tests.monitoring.casebook import complete_casebook
from tests.visits.test_schedule import randomised_on
from trial_site.models import AccessEvent
from trial_site.protocol import PROTOCOL
from trial_site.roles import Role
from visits import services as visit_services
from visits.crf_services import visit_form_save
from visits.crfs import LabPanel, VitalSigns
from visits.models import Visit

VITALS = {"weight_kg": 61.0, "height_cm": 158.0, "systolic_bp": 118, "diastolic_bp": 76, "heart_rate": 72,
          "temperature_c": 36.8}  # fmt: skip
MEANING = PROTOCOL.monitoring.signature_meaning


@pytest.fixture
def vitals(d1: Visit, coordinator: Any) -> VitalSigns:
    record = VitalSigns(visit=d1, **VITALS)
    visit_form_save(record=record, by=coordinator, complete=True)
    return record


def sign_form_url(record: Any) -> str:
    return f"{reverse('monitoring:sign')}?scope=form&form={record._meta.label_lower}&object={record.pk}"


def crf_page(client: Client, record: VitalSigns) -> str:
    response = client.get(reverse("visits:crf", args=[record.visit_id, "vitals"]))
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_a_correct_password_signs_and_name_time_and_meaning_appear_on_the_form(
    vitals: VitalSigns, investigator: Any, client: Client
) -> None:
    client.force_login(investigator)
    page = crf_page(client, vitals)
    assert "Not signed" in page and "Sign this form" in page
    form = client.get(sign_form_url(vitals))
    assert form.status_code == 200 and MEANING in html.unescape(form.content.decode())
    assert 'name="otp_token"' not in form.content.decode()  # no two-factor device, not required

    response = client.post(sign_form_url(vitals), {"password": DEFAULT_PASSWORD})
    assert response.status_code == 302
    signature = Signature.objects.get()
    assert (signature.scope, signature.signed_by, signature.meaning) == ("form", investigator, MEANING)
    assert signature.history.get().history_user == investigator
    page = crf_page(client, vitals)
    assert 'data-state="in-force"' in page
    assert f"Investigator</strong>, {timezone.localtime(signature.signed_at):%-d %b %Y %H:%M}" in page
    assert MEANING in page


def test_a_wrong_password_does_not_sign_and_is_logged(vitals: VitalSigns, investigator: Any, client: Client) -> None:
    client.force_login(investigator)
    response = client.post(sign_form_url(vitals), {"password": "not-my-password"})
    assert response.status_code == 400
    assert "That password is not right: nothing was signed." in html.unescape(response.content.decode())
    assert not Signature.objects.exists()
    event = AccessEvent.objects.get(kind=AccessEvent.Kind.SIGNATURE_FAILED)
    assert event.user == investigator and "password" in event.detail
    # The service itself says so on the password field, and logs the attempt.
    with pytest.raises(ValidationError) as error:
        signature_sign(scope="form", record=vitals, by=investigator, password="")
    assert "password" in error.value.message_dict
    assert AccessEvent.objects.filter(kind=AccessEvent.Kind.SIGNATURE_FAILED).count() == 2


def test_a_two_factor_user_must_give_a_valid_code(
    vitals: VitalSigns, investigator: Any, client: Client, settings: Any
) -> None:
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # django-otp would make the next try wait after a wrong code
    device = TOTPDevice.objects.create(user=investigator, name="phone", confirmed=True)
    client.force_login(investigator)
    assert 'name="otp_token"' in client.get(sign_form_url(vitals)).content.decode()

    missing = client.post(sign_form_url(vitals), {"password": DEFAULT_PASSWORD})
    assert missing.status_code == 400 and "Enter the 6-digit code" in missing.content.decode()
    wrong_code = f"{(totp(device.bin_key) + 1) % 1_000_000:06d}"
    wrong = client.post(sign_form_url(vitals), {"password": DEFAULT_PASSWORD, "otp_token": wrong_code})
    assert wrong.status_code == 400 and "That code is not right" in wrong.content.decode()
    assert not Signature.objects.exists()
    assert AccessEvent.objects.filter(kind="signature_failed", detail__startswith="otp_token").count() == 2

    right = client.post(
        sign_form_url(vitals), {"password": DEFAULT_PASSWORD, "otp_token": f"{totp(device.bin_key):06d}"}
    )
    assert right.status_code == 302 and Signature.objects.filter(signed_by=investigator).count() == 1


def test_two_factor_required_refuses_a_signer_without_a_device(
    vitals: VitalSigns, investigator: Any, settings: Any
) -> None:
    settings.TWO_FACTOR_REQUIRED = True
    with pytest.raises(ValidationError) as error:
        signature_sign(scope="form", record=vitals, by=investigator, password=DEFAULT_PASSWORD, otp_token="123456")
    assert "Set up two-factor" in error.value.message_dict["otp_token"][0]
    assert not Signature.objects.exists()


def _sign_all(vitals: VitalSigns, investigator: Any, coordinator: Any, assessor: Any) -> dict[str, Signature]:
    """The form, its visit and the casebook signed; the casebook made complete first, as signing it requires."""
    visit = vitals.visit
    complete_casebook(visit.participant, coordinator=coordinator, investigator=investigator, assessor=assessor)
    return {
        "form": signature_sign(scope="form", record=vitals, by=investigator, password=DEFAULT_PASSWORD),
        "visit": signature_sign(scope="visit", visit=visit, by=investigator, password=DEFAULT_PASSWORD),
        "casebook": signature_sign(
            scope="casebook", participant=visit.participant, by=investigator, password=DEFAULT_PASSWORD
        ),
    }


def test_a_change_invalidates_a_signature_of_the_form_its_visit_and_the_casebook(
    vitals: VitalSigns, investigator: Any, coordinator: Any, assessor: Any, client: Client
) -> None:
    signed = _sign_all(vitals, investigator, coordinator, assessor)
    vitals.heart_rate = 80
    visit_form_save(record=vitals, by=coordinator, complete=True, reason="pulse re-counted")

    expected = "changed after signing by coordinator: pulse re-counted"
    for scope, signature in signed.items():
        signature.refresh_from_db()
        assert signature.invalidated_at is not None, scope
        assert signature.invalidated_reason == expected
        latest = signature.history.order_by("-history_id").first()
        assert latest.history_user == coordinator and latest.history_change_reason == expected
    client.force_login(investigator)
    page = crf_page(client, vitals)
    assert page.count('data-state="invalidated"') == 3 and "<del>" in page
    assert f"Invalidated on {timezone.localtime(signed['form'].invalidated_at):%-d %b %Y %H:%M}: {expected}" in page
    assert page.count('data-testid="sign-again"') == 3
    # Signing again is possible after the change.
    signature_sign(scope="form", record=vitals, by=investigator, password=DEFAULT_PASSWORD)
    assert Signature.objects.filter(invalidated_at=None).count() == 1


def test_a_new_form_on_a_signed_visit_invalidates_the_visit_and_casebook_signatures(
    vitals: VitalSigns, investigator: Any, coordinator: Any, assessor: Any
) -> None:
    signed = _sign_all(vitals, investigator, coordinator, assessor)
    participant = vitals.visit.participant  # an unscheduled visit today, signed with the casebook again
    extra = visit_services.unscheduled_visit_add(
        participant=participant, by=coordinator, on=timezone.localdate(), reason="new skin ulcer"
    )
    signed = {
        "form": signed["form"],
        "visit": signature_sign(scope="visit", visit=extra, by=investigator, password=DEFAULT_PASSWORD),
        "casebook": signature_sign(
            scope="casebook", participant=participant, by=investigator, password=DEFAULT_PASSWORD
        ),
    }
    visit_form_save(record=LabPanel(visit=extra, hb_g_dl=12.5), by=coordinator, complete=False)
    for signature in signed.values():
        signature.refresh_from_db()
    assert signed["form"].invalidated_at is None  # the vital signs did not change
    assert signed["visit"].invalidated_at is not None and signed["casebook"].invalidated_at is not None
    reason = signed["visit"].invalidated_reason
    assert "Laboratory" in reason or "added" in reason


def test_a_signature_in_force_is_not_given_twice(vitals: VitalSigns, investigator: Any) -> None:
    signature_sign(scope="form", record=vitals, by=investigator, password=DEFAULT_PASSWORD)
    with pytest.raises(ValidationError, match="signed this already"):
        signature_sign(scope="form", record=vitals, by=investigator, password=DEFAULT_PASSWORD)


def test_only_an_investigator_of_the_site_signs(
    vitals: VitalSigns, coordinator: Any, user_with_role: Any, other_site: Any, client: Client
) -> None:
    visit_url = f"{reverse('monitoring:sign')}?scope=visit&visit={vitals.visit_id}"
    for role in (Role.COORDINATOR, Role.MONITOR):
        user = coordinator if role == Role.COORDINATOR else user_with_role(role, username="monitor")
        client.force_login(user)
        assert client.get(sign_form_url(vitals)).status_code == 403
        assert client.post(visit_url, {"password": DEFAULT_PASSWORD}).status_code == 403
        with pytest.raises(PermissionDenied):
            signature_sign(scope="form", record=vitals, by=user, password=DEFAULT_PASSWORD)
    client.force_login(user_with_role(Role.INVESTIGATOR, username="ctg_investigator", at=other_site))
    assert client.get(sign_form_url(vitals)).status_code == 404
    assert client.post(visit_url, {"password": DEFAULT_PASSWORD}).status_code == 404
    casebook = f"{reverse('monitoring:sign')}?scope=casebook&participant={vitals.visit.participant.screening_number}"
    assert client.get(casebook).status_code == 404
    assert not Signature.objects.exists()


def test_a_visit_not_done_cannot_be_signed(d1: Visit, investigator: Any) -> None:
    later = d1.participant.visits.get(code="W2")
    with pytest.raises(ValidationError, match="took place"):
        signature_sign(scope="visit", visit=later, by=investigator, password=DEFAULT_PASSWORD)


def test_the_signature_list_shows_visits_to_sign_in_a_constant_number_of_queries(
    d1: Visit, site: Any, coordinator: Any, investigator: Any, assessor: Any, client: Client
) -> None:
    client.force_login(investigator)

    def page() -> tuple[str, int]:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("monitoring:signatures"))
        assert response.status_code == 200
        return response.content.decode(), len(queries)

    page()
    content, few = page()
    assert f'data-visit="{d1.pk}"' in content
    signature = signature_sign(scope="visit", visit=d1, by=investigator, password=DEFAULT_PASSWORD)
    content, _queries = page()
    assert f'data-visit="{d1.pk}"' not in content and f'data-signature="{signature.pk}"' in content

    for _ in range(3):
        participant = randomised_on(timezone.localdate() - timedelta(days=10), site, coordinator, investigator)
        visit = participant.visits.get(code="D1")
        visit = visit_services.visit_record_done(visit=visit, by=coordinator, done_on=visit.target_date)
        complete_casebook(participant, coordinator=coordinator, investigator=investigator, assessor=assessor)
        signature_sign(scope="visit", visit=visit, by=investigator, password=DEFAULT_PASSWORD)
        signature_sign(scope="casebook", participant=participant, by=investigator, password=DEFAULT_PASSWORD)
        vitals = VitalSigns.objects.get(visit=visit)
        vitals.heart_rate = 80
        visit_form_save(record=vitals, by=coordinator, complete=True, reason="pulse re-counted")  # invalidates
    content, many = page()
    assert content.count('data-testid="signatures-invalidated"') == 1 and content.count("<tr data-signature=") == 7
    assert many == few
