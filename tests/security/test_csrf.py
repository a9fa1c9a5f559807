"""CSRF: with the checks a browser's requests get (``Client(enforce_csrf_checks=True)``), a POST to any URL without
the token is refused (403, Django's CSRF failure) and writes nothing; the same POST with the token is not refused
for CSRF. The body is the form a permitted user sends there.

The one exception is the SMS gateway's webhook (``reminders/inbound/sms/``): it is called by the gateway, not a
browser, so it is ``csrf_exempt`` by design and authenticated by the gateway's signature instead; it refuses a
request without it.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpResponse

from reminders.models import Reminder
from screening.models import Participant
from tests.reminders.sms_gateway import webhook_headers
from tests.security.conftest import (
    ANONYMOUS,
    COLUMN_OF,
    PRINCIPALS,
    World,
    client_as,
    form_posting_to,
    url_routes,
    writes_during,
)
from tests.security.permission_matrix import parse_matrix
from trial_site.models import AccessEvent

MATRIX = parse_matrix()
WEBHOOK = "reminders:inbound_sms"
LOGIN = "/accounts/login/"


def is_csrf_failure(response: HttpResponse) -> bool:
    return response.status_code == 403 and b"CSRF verification failed" in response.content


def poster(name: str) -> str:
    """Who posts to ``name`` in these tests: anonymous for the pages open to everyone, else the first role the
    matrix lets in (so the POST with the token reaches the view)."""
    row = MATRIX[name]
    if row[COLUMN_OF[ANONYMOUS]].get != 302:
        return ANONYMOUS
    return next(p for p in PRINCIPALS[1:] if row[COLUMN_OF[p]].get not in {403, 404})


def test_every_post_without_the_token_is_refused_and_with_it_is_not(world: World, forms_seen: Any) -> None:
    clients: dict[str, Any] = {}
    refused, wrong = [], {}
    names = [name for name in url_routes() if name not in {WEBHOOK, "logout"}] + ["logout"]  # log out last
    for name in names:
        principal = poster(name)
        if principal not in clients:
            clients[principal] = client_as(world.user(principal), enforce_csrf_checks=True)
            clients[principal].get(LOGIN if principal == ANONYMOUS else "/")  # sets the CSRF cookie
        client = clients[principal]
        path = world.samples[name]
        form = form_posting_to(forms_seen, path)
        body: dict[str, Any] = form.browser_body() if form is not None else {}
        response, writes = writes_during(lambda path=path, body=body, client=client: client.post(path, body))
        if not is_csrf_failure(response):
            wrong[name] = f"POST {path} without the token by {principal}: {response.status_code}"
        if writes:
            wrong[f"{name} (writes)"] = writes
        token = client.cookies["csrftoken"].value
        response = client.post(path, {**body, "csrfmiddlewaretoken": token})
        if is_csrf_failure(response):
            wrong[f"{name} (token)"] = f"POST {path} with the token by {principal} refused for CSRF"
        refused.append(name)
    assert not wrong, wrong
    assert len(refused) == len(url_routes()) - 1


def test_the_sms_webhook_is_csrf_exempt_but_refuses_a_request_without_the_signature(
    world: World, settings: Any
) -> None:
    settings.SMS_WEBHOOK_SECRET = "gateway-shared-secret-2026"
    participant = world.participant
    stop = json.dumps({"from": participant.mobile_phone, "text": "STOP"}).encode()
    client = client_as(None, enforce_csrf_checks=True)
    path = world.samples[WEBHOOK]
    right = {name: value for name, value in webhook_headers(settings.SMS_WEBHOOK_SECRET, stop).items()}
    right.pop("Content-Type")
    for headers in ({}, {**right, "X-Signature": "sha256=" + "0" * 64}, {**right, "X-Signature": ""}):
        response, writes = writes_during(
            lambda headers=headers: client.post(path, stop, content_type="application/json", headers=headers)
        )
        assert response.status_code == 403 and "error" in response.json()
        assert not writes
    assert 1 <= AccessEvent.objects.filter(kind="access_denied", path=path).count() <= 2  # counted, not each logged
    assert Participant.objects.get(pk=participant.pk).reminder_channel == participant.reminder_channel

    response = client.post(path, stop, content_type="application/json", headers=right)
    assert response.status_code == 200 and response.json() == {"opted_out": 1}  # no CSRF token needed
    assert Participant.objects.get(pk=participant.pk).reminder_channel == "none"
    assert not Reminder.objects.filter(participant=participant, channel="sms", status="planned").exists()
