"""Numbers typed on the laboratory panel's page: a decimal comma and Bangla digits are read as the number meant, a
comma that could separate thousands is refused with a message next to the field, never saved as another number."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.visits.test_crfs import FULL_LABS, d1, in_use  # noqa: F401  (fixtures)
from visits.crfs import LabPanel
from visits.models import Visit


def post_labs(visit: Visit, user: Any, **typed: str) -> Any:
    client = Client()
    client.force_login(user)
    data = {key: str(value) for key, value in FULL_LABS.items()} | typed | {"complete": "1"}
    return client.post(f"/visits/{visit.pk}/forms/labs/", data)


@pytest.mark.parametrize(("typed", "language"), [("6,2", "en"), ("6,2", "bn"), ("৬,২", "bn"), ("৬.২", "en")])
def test_a_white_cell_count_typed_with_a_decimal_comma_or_bangla_digits_is_saved_as_6_2(
    d1: Visit,  # noqa: F811
    coordinator: Any,
    typed: str,
    language: str,
    settings: Any,
) -> None:
    settings.LANGUAGE_CODE = language
    response = post_labs(d1, coordinator, wbc=typed, anc="3,5")
    assert response.status_code == 302
    panel = LabPanel.objects.get(visit=d1)
    assert panel.wbc == pytest.approx(6.2)
    assert panel.anc == pytest.approx(3.5)


def test_a_comma_before_three_digits_is_refused_next_to_the_field_and_nothing_is_saved(
    d1: Visit,  # noqa: F811
    coordinator: Any,
) -> None:
    response = post_labs(d1, coordinator, platelets="1,234")
    assert response.status_code in {200, 400}
    page = response.content.decode()
    assert "write the decimal point as a point" in page
    assert 'id="error_1_id_platelets"' in page or "is-invalid" in page
    assert not LabPanel.objects.filter(visit=d1).exists()


def test_the_page_offers_a_text_box_with_the_unit_never_the_browsers_number_input(
    d1: Visit,  # noqa: F811
    coordinator: Any,
) -> None:
    client = Client()
    client.force_login(coordinator)
    page = client.get(f"/visits/{d1.pk}/forms/labs/").content.decode()
    assert 'type="number"' not in page
    assert 'name="wbc"' in page
    assert "White cells (×10⁹/L)" in page
    assert 'inputmode="decimal"' in page
