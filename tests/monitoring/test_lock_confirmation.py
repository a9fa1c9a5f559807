"""Locking goes through a page that says what the lock covers; sent without its reason it locks nothing (400);
with it, it locks once."""

from __future__ import annotations

import html
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from monitoring.models import DataLock
from screening.models import Participant

pytestmark = pytest.mark.django_db


def test_the_casebook_lock_page_says_what_it_covers_and_needs_its_reason(
    participant: Participant, data_manager: Any, client: Client
) -> None:
    client.force_login(data_manager)
    url = f"{reverse('monitoring:lock_new')}?scope=casebook&participant={participant.screening_number}"
    page = html.unescape(client.get(url).content.decode())
    assert f"Lock the casebook of {participant.screening_number}" in page
    assert "It covers every form of this participant: screening, visits and safety." in page
    refused = client.post(url, {"reason": ""})
    assert refused.status_code == 400 and not DataLock.objects.exists()
    assert client.post(url, {"reason": "database lock before analysis"}).status_code == 302
    assert DataLock.objects.filter(participant=participant, unlocked_at__isnull=True).count() == 1
