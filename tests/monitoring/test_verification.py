"""Source data verification: a monitor verifies a form; a change clears it, audited; the plan's sample; progress."""

from __future__ import annotations

import html
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from monitoring.models import SourceVerification
from monitoring.selectors.sdv_plan import sdv_full, sdv_in_sample, sdv_required
from monitoring.services.verification import verification_record
from screening.models import Consent, ScreeningLabs
from tests.screening.factories import register, screen_eligible
from trial_site.roles import Role
from visits.crf_services import visit_form_save
from visits.crfs import VitalSigns
from visits.models import Visit

VITALS = {"weight_kg": 61.0, "height_cm": 158.0, "systolic_bp": 118, "diastolic_bp": 76, "heart_rate": 72,
          "temperature_c": 36.8}  # fmt: skip


@pytest.fixture
def vitals(d1: Visit, coordinator: Any) -> VitalSigns:
    record = VitalSigns(visit=d1, **VITALS)
    visit_form_save(record=record, by=coordinator, complete=True)
    return record


def crf_page(client: Client, user: Any, record: VitalSigns) -> str:
    client.force_login(user)
    response = client.get(reverse("visits:crf", args=[record.visit_id, "vitals"]))
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_a_change_clears_verification(vitals: VitalSigns, monitor: Any, coordinator: Any, client: Client) -> None:
    page = crf_page(client, coordinator, vitals)
    assert 'data-state="none"' in page and "Not verified" in page
    assert "Mark verified" not in page  # a coordinator does not verify
    client.force_login(monitor)
    mark = reverse("monitoring:verification_mark")
    page = client.get(mark, {"form": "visits.vitalsigns", "object": vitals.pk}).content.decode()
    assert '<tr data-field="weight_kg">' in page and "61.0" in page and "Mark verified" in page

    response = client.post(
        reverse("monitoring:verification_mark"),
        {"form": "visits.vitalsigns", "object": vitals.pk, "fields": ["weight_kg", "systolic_bp"]},
    )
    assert response.status_code == 302
    page = crf_page(client, coordinator, vitals)
    assert 'data-state="verified"' in page and "Verified by Monitor on" in page

    vitals.weight_kg = 62.5
    visit_form_save(record=vitals, by=coordinator, complete=True, reason="scale recalibrated, weighed again")

    verification = SourceVerification.objects.get()
    assert verification.cleared_at is not None
    assert verification.cleared_reason == "changed by coordinator: scale recalibrated, weighed again"
    latest, first = verification.history.order_by("-history_id")[:2]
    assert first.cleared_at is None and first.history_user == monitor
    assert latest.cleared_at == verification.cleared_at and latest.history_user == coordinator
    assert latest.history_change_reason == verification.cleared_reason
    page = crf_page(client, coordinator, vitals)
    assert 'data-state="cleared"' in page
    assert "because changed by coordinator: scale recalibrated, weighed again" in page

    again = verification_record(record=vitals, fields=[], by=monitor)  # verified again, after the change
    assert again.cleared_at is None and SourceVerification.objects.count() == 2


def test_a_form_verified_and_unchanged_is_not_verified_twice(vitals: VitalSigns, monitor: Any) -> None:
    verification_record(record=vitals, fields=[], by=monitor)
    with pytest.raises(ValidationError) as error:
        verification_record(record=vitals, fields=["heart_rate"], by=monitor)
    assert "verified already by Monitor" in error.value.message_dict["fields"][0]
    assert SourceVerification.objects.count() == 1


def test_an_unknown_field_is_refused_next_to_the_field(vitals: VitalSigns, monitor: Any, client: Client) -> None:
    with pytest.raises(ValidationError) as error:
        verification_record(record=vitals, fields=["created_by"], by=monitor)
    assert "Not a field of this form: created_by" in error.value.message_dict["fields"][0]
    client.force_login(monitor)
    response = client.post(
        reverse("monitoring:verification_mark"), {"form": "visits.vitalsigns", "object": vitals.pk, "fields": ["nope"]}
    )
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not SourceVerification.objects.exists()


def test_only_a_monitor_of_the_site_verifies(
    vitals: VitalSigns, coordinator: Any, investigator: Any, user_with_role: Any, other_site: Any, client: Client
) -> None:
    with pytest.raises(PermissionDenied):
        verification_record(record=vitals, fields=[], by=investigator)
    data = {"form": "visits.vitalsigns", "object": vitals.pk}
    client.force_login(coordinator)
    assert client.post(reverse("monitoring:verification_mark"), data).status_code == 403
    client.force_login(user_with_role(Role.MONITOR, username="ctg_monitor", at=other_site))
    assert client.post(reverse("monitoring:verification_mark"), data).status_code == 404
    assert client.get(reverse("monitoring:verification_mark"), data).status_code == 404
    client.force_login(user_with_role(Role.STATISTICIAN, username="stats2"))
    assert client.get(reverse("monitoring:verification"), data).status_code == 403
    assert not SourceVerification.objects.exists()


def test_the_plan_verifies_some_forms_in_full_and_samples_the_others() -> None:
    # The protocol's monitoring plan, as the registry of forms declares it (each form's ``verification``).
    assert sdv_full() == {
        "screening.consent", "screening.reconsent", "screening.classificationcriteria", "screening.diseasehistory",
        "screening.screeningmrss",
        "screening.exclusionhistory", "screening.screeninglabs", "visits.visitmrss", "safety.adverseevent",
        "safety.saereport",
    }  # fmt: skip
    for form in sdv_full():
        assert all(sdv_required(participant_id, form) for participant_id in range(1, 50))
    drawn = [sdv_required(participant_id, "visits.vitalsigns") for participant_id in range(1, 2001)]
    assert 0.15 < sum(drawn) / len(drawn) < 0.25  # sdv_sample_percent = 20
    assert drawn == [sdv_in_sample(participant_id, "visits.vitalsigns") for participant_id in range(1, 2001)]
    assert not sdv_required(1, "screening.participant")  # not a form of the plan


def _rows(page: str, attribute: str) -> dict[str, tuple[int, int]]:
    """{key: (required, verified)} of the progress table rows marked with ``attribute``."""
    import re

    found = {}
    pattern = rf'<tr {attribute}="([^"]+)">.*?<td data-required>(\d+)</td><td data-verified>(\d+)</td>'
    for key, required, verified in re.findall(pattern, page, flags=re.S):
        found[key] = (int(required), int(verified))
    return found


def test_progress_per_site_and_participant_in_a_constant_number_of_queries(
    site: Any, other_site: Any, coordinator: Any, monitor: Any, user_with_role: Any, client: Client
) -> None:
    first = screen_eligible(register(site, coordinator), coordinator)  # consent + 5 screening forms, all in full
    verification_record(record=Consent.objects.get(participant=first), fields=[], by=monitor)
    verification_record(record=ScreeningLabs.objects.get(participant=first), fields=["hb_g_dl"], by=monitor)
    elsewhere = user_with_role(Role.COORDINATOR, username="ctg_coordinator", at=other_site)
    hidden = register(other_site, elsewhere)
    client.force_login(monitor)

    def page() -> tuple[str, int]:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("monitoring:verification"))
        assert response.status_code == 200
        return response.content.decode(), len(queries)

    page()  # the first request of a session warms caches (content types, the session)
    content, few = page()
    assert _rows(content, "data-participant") == {first.screening_number: (6, 2)}
    assert _rows(content, "data-site") == {"DHK": (6, 2)}
    assert 'data-percent="33"' in content and hidden.screening_number not in content
    assert "?form=screening.diseasehistory&amp;object=" in content  # still to verify, with a link to do it
    assert "?form=screening.consent&amp;" not in content  # verified

    for _ in range(3):
        screen_eligible(register(site, coordinator), coordinator)
    content, many = page()
    assert _rows(content, "data-site") == {"DHK": (24, 2)}
    assert len(_rows(content, "data-participant")) == 4
    assert many == few

    # A change to a verified form takes it out of the count until it is verified again.
    labs = ScreeningLabs.objects.get(participant=first)
    labs.hb_g_dl = 12.9
    labs.save(by=coordinator, reason="transcription error")
    content, _queries = page()
    assert _rows(content, "data-participant")[first.screening_number] == (6, 1)


def test_a_monitor_verifies_an_adverse_event_from_its_page(
    d1: Visit, coordinator: Any, monitor: Any, client: Client
) -> None:
    from safety.services import adverse_event_record
    from tests.safety.test_safety import event_for

    event = adverse_event_record(event=event_for(d1.participant), by=coordinator)
    client.force_login(monitor)
    page = client.get(reverse("safety:event", args=[event.pk])).content.decode()
    assert "the SDV plan verifies this form in full" in page and 'data-testid="verification-mark-form"' in page
    response = client.post(reverse("monitoring:verification_mark"), {"form": "safety.adverseevent", "object": event.pk})
    assert response.status_code == 302 and response["Location"] == reverse("safety:event", args=[event.pk])
    page = html.unescape(client.get(response["Location"]).content.decode())
    assert "Verified by Monitor on" in page and "(whole form)" in page


def test_the_sample_drawn_in_the_database_is_the_plan_s_sample(db: Any) -> None:
    """The monitor's forms to verify ask the database which (participant, form) pairs the sample draws; its draw is
    the plan's, ``int(sha256("<participant id>:<form>")[:8], 16) % 100``, for every id (here the ids of the
    content types, about a hundred numbers) and form, on PostgreSQL and on SQLite."""
    import hashlib

    from django.contrib.contenttypes.models import ContentType

    from monitoring.selectors.to_verify import SampleDraw

    for form in ("visits.vitalsigns", "visits.labpanel", "safety.concomitantmedication"):
        drawn = dict(ContentType.objects.annotate(draw=SampleDraw("pk", form)).values_list("pk", "draw"))
        assert len(drawn) > 50
        expected = {pk: int(hashlib.sha256(f"{pk}:{form}".encode()).hexdigest()[:8], 16) % 100 for pk in drawn}
        assert drawn == expected, form
        assert {pk for pk, draw in drawn.items() if draw < 20} == {pk for pk in drawn if sdv_in_sample(pk, form)}
