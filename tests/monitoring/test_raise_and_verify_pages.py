"""The raise-query page names what the query is about (participant, form, field, the value entered now), and the
fields a monitor verified are chosen with checkboxes ("all fields", or some), on the verification page and on the
form's own page (#20 item 8)."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from monitoring.models import SourceVerification
from tests.monitoring.test_verification import crf_page, vitals  # noqa: F401  (the fixture)
from visits.crfs import VitalSigns

pytestmark = pytest.mark.django_db


def _page(client: Client, user: Any, url: str, data: dict[str, Any] | None = None) -> str:
    client.force_login(user)
    response = client.get(url, data or {})
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def _text(page: str, testid: str) -> list[str]:
    found = re.search(rf'data-testid="{testid}"[^>]*>(.*?)</dd>', page, re.S)
    assert found, testid
    return re.sub(r"<[^>]+>", " ", found.group(1)).split()


def test_the_raise_query_page_shows_participant_form_field_and_the_value_now(
    vitals: VitalSigns,  # noqa: F811
    monitor: Any,
    client: Client,
) -> None:
    number = vitals.visit.participant.screening_number
    page = _page(client, monitor, reverse("monitoring:query_raise"),
                 {"form": "visits.vitalsigns", "object": vitals.pk, "field": "weight_kg"})  # fmt: skip
    assert number in _text(page, "query-participant")
    assert " ".join(_text(page, "query-form")) == "Vital signs, D1"
    assert " ".join(_text(page, "query-field")).startswith("Weight")
    assert _text(page, "query-current-value") == ["61.0"]
    # Every field with its value, to compare with the source; the chosen one marked.
    assert re.search(r'<tr data-field="systolic_bp"[^>]*>.*?118', page, re.S)
    assert re.search(r'<tr data-field="weight_kg" class="table-warning">', page)


def test_the_raise_query_page_without_a_field_is_about_the_whole_form(
    vitals: VitalSigns,  # noqa: F811
    monitor: Any,
    client: Client,
) -> None:
    page = _page(client, monitor, reverse("monitoring:query_raise"), {"form": "visits.vitalsigns", "object": vitals.pk})
    assert " ".join(_text(page, "query-field")) == "The whole form"
    assert 'data-testid="query-current-value"' not in page


def test_the_verification_page_offers_checkboxes_and_records_the_fields_ticked(
    vitals: VitalSigns,  # noqa: F811
    monitor: Any,
    client: Client,
) -> None:
    url = reverse("monitoring:verification_mark")
    page = _page(client, monitor, url, {"form": "visits.vitalsigns", "object": vitals.pk})
    assert "<select" not in page.split('data-testid="verification-mark-form"')[1].split("</form>")[0]
    assert re.search(r'<input type="checkbox" name="fields" value="weight_kg"', page)
    assert re.search(r'<input type="checkbox" name="all_fields"', page)
    response = client.post(
        url, {"form": "visits.vitalsigns", "object": vitals.pk, "fields": ["weight_kg", "heart_rate"]}
    )
    assert response.status_code == 302
    assert SourceVerification.objects.get().fields == ["weight_kg", "heart_rate"]


def test_all_fields_ticked_verifies_the_whole_form(
    vitals: VitalSigns,  # noqa: F811
    monitor: Any,
    client: Client,
) -> None:
    client.force_login(monitor)
    data = {"form": "visits.vitalsigns", "object": vitals.pk, "all_fields": "on", "fields": ["weight_kg"]}
    assert client.post(reverse("monitoring:verification_mark"), data).status_code == 302
    assert SourceVerification.objects.get().fields == []
    page = crf_page(client, monitor, vitals)
    assert "(whole form)" in page


def test_the_forms_own_verification_panel_uses_checkboxes(
    vitals: VitalSigns,  # noqa: F811
    monitor: Any,
    client: Client,
) -> None:
    page = crf_page(client, monitor, vitals)
    panel = page.split('data-testid="verification-panel"')[1].split("</form>")[0]
    assert "<select" not in panel
    assert 'name="all_fields"' in panel and re.search(r'type="checkbox" name="fields" value="weight_kg"', panel)
