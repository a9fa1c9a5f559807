"""Two investigators flag the same allocation as randomised in error, the second from a page opened before the first
flagged it: the second is refused (409) with a message naming the first, the first's reason beside the second's, and
nothing of the second written."""

from __future__ import annotations

from typing import Any

import lxml.html
import pytest
from django.test import Client

from randomization import services
from randomization.models import Allocation
from tests.http.server import form_fields
from tests.randomization.factories import confirmed_participant, list_in_use
from trial_site.roles import Role

FLAG_FORM = "//main//form[contains(@action, '/error/')]"


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def words(html: str, xpath: str) -> str:
    return " ".join(" ".join(e.text_content().split()) for e in lxml.html.fromstring(html).xpath(xpath))


@pytest.mark.django_db
def test_a_stale_flag_of_randomised_in_error_is_refused_with_both_reasons(
    site: Any, coordinator: Any, statistician: Any, user_with_role: Any
) -> None:
    nasrin, tanvir = (user_with_role(Role.INVESTIGATOR, username=name) for name in ("nasrin", "tanvir"))
    list_in_use(statistician)
    participant = confirmed_participant(site, coordinator, nasrin)
    allocation = services.participant_randomize(participant=participant, by=nasrin)
    page_path = f"/randomization/participants/{participant.screening_number}/"
    as_nasrin, as_tanvir = logged_in(nasrin), logged_in(tanvir)
    pages = {who: client.get(page_path).content.decode() for who, client in (("n", as_nasrin), ("t", as_tanvir))}
    flag = f"{page_path}error/"

    saved = as_nasrin.post(flag, {**form_fields(pages["n"], FLAG_FORM), "error_reason": "wrong participant chosen"})
    refused = as_tanvir.post(flag, {**form_fields(pages["t"], FLAG_FORM), "error_reason": "consent was not valid"})

    assert saved.status_code == 302 and refused.status_code == 409
    html = refused.content.decode()
    assert "Not saved: Nasrin changed this record after you opened it" in words(html, "//main//*[@role='alert']")
    panel = words(html, "//*[@id='edit-conflict']")
    assert "wrong participant chosen" in panel and "Nasrin" in panel and "consent was not valid" in panel
    allocation = Allocation.objects.get(pk=allocation.pk)
    assert allocation.in_error and allocation.error_reason == "wrong participant chosen"
    assert allocation.history.count() == 2
    assert allocation.history.first().history_user == nasrin
