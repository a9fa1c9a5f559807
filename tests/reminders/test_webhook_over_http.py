"""The SMS gateway's webhook over HTTP, against gunicorn's worker processes on PostgreSQL (#18 finding 8, build 7):
calls signed by the gateway stand-in (HMAC-SHA256 over timestamp and body) are accepted once; a wrong signature,
a stale timestamp and a replay are refused; a malformed body is a 400, never a 500; a burst of wrong-secret calls
is counted (a few access-log rows, not one each) and answered 429 once over the limit."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import pytest
import requests

from reminders.models import Reminder, WebhookRefusals
from screening.models import Participant
from tests.http.conftest import start_gunicorn  # noqa: F401  (fixtures of the HTTP tests)
from tests.http.server import GunicornServer
from tests.reminders.sms_gateway import WEBHOOK_PATH, webhook_call, webhook_headers
from trial_site.models import AccessEvent

SECRET = "the-gateways-shared-secret-2026"
LIMIT = 10  # SMS_WEBHOOK_REFUSALS_PER_MINUTE's default


@pytest.fixture
def site_server(start_gunicorn: Any) -> GunicornServer:  # noqa: F811
    return start_gunicorn(workers=2, env={"SMS_WEBHOOK_SECRET": SECRET})


def webhook_log_rows() -> int:
    return AccessEvent.objects.filter(kind=AccessEvent.Kind.ACCESS_DENIED, detail__startswith="SMS webhook").count()


def raw_call(server: GunicornServer, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(server.url.rstrip("/") + WEBHOOK_PATH, data=body, headers=headers, timeout=30)


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_signed_stop_reply_is_accepted_once_and_wrong_stale_or_replayed_calls_are_refused(
    site_server: GunicornServer, participant: Any
) -> None:
    stop = {"from": participant.mobile_phone, "text": "STOP"}
    wrong = webhook_call(site_server.url, stop, secret="a-guessed-secret")
    stale = webhook_call(site_server.url, stop, secret=SECRET, timestamp=int(time.time()) - 301)
    # Well outside the 300-second window: a stamp 301 s ahead moves into it when the server reads it a second or
    # more later on a busy machine (CI: 200). The exact edges are held without a clock in test_webhook_guard.py.
    future = webhook_call(site_server.url, stop, secret=SECRET, timestamp=int(time.time()) + 600)
    body = json.dumps(stop).encode()
    unsigned = raw_call(site_server, body, {"Content-Type": "application/json"})
    assert [r.status_code for r in (wrong, stale, future, unsigned)] == [403] * 4
    assert "X-Signature" in wrong.json()["error"] and "validity window" in stale.json()["error"]
    assert Participant.objects.get(pk=participant.pk).reminder_channel == "sms"

    versions = Participant.objects.get(pk=participant.pk).history.count()
    headers = webhook_headers(SECRET, body)
    accepted = raw_call(site_server, body, headers)
    assert accepted.status_code == 200 and accepted.json() == {"opted_out": 1}
    assert Participant.objects.get(pk=participant.pk).reminder_channel == "none"
    assert not Reminder.objects.filter(participant=participant, channel="sms", status="planned").exists()

    replayed = raw_call(site_server, body, headers)
    assert replayed.status_code == 403 and "replay" in replayed.json()["error"]
    assert Participant.objects.get(pk=participant.pk).history.count() == versions + 1  # the one STOP
    assert webhook_log_rows() <= 2  # the minute's first refusal (two if the minute turned meanwhile)


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_every_malformed_signed_body_is_a_400(site_server: GunicornServer, participant: Any) -> None:
    nested = b'{"from": ' + b"[" * 5000 + b"]" * 5000 + b', "text": "STOP"}'
    bodies = {
        "a NUL byte": b'{"from": "+8801700000000", "text": "ST\x00OP"}',
        "an escaped NUL": b'{"from": "+8801700000000\\u0000", "text": "STOP"}',
        "deep nesting": nested,
        "nesting within the size": b'{"a": ' + b"[" * 100 + b"]" * 100 + b"}",
        "not UTF-8": '{"from": "+8801700000000", "text": "bänd"}'.encode("latin-1"),
        "UTF-16": '{"from": "+8801700000000", "text": "STOP"}'.encode("utf-16"),
        "a lone surrogate": b'{"from": "+8801700000000", "text": "\\ud800"}',
        "not JSON": b"STOP",
        "not an object": b'["STOP"]',
        "missing fields": b'{"text": "STOP"}',
        "a number for the sender": b'{"from": 8801700000000, "text": "STOP"}',
        "too large": json.dumps({"from": "+8801700000000", "text": "STOP", "pad": "x" * 20000}).encode(),
        "empty": b"",
    }
    for what, body in bodies.items():
        answer = raw_call(site_server, body, webhook_headers(SECRET, body))
        assert answer.status_code == 400, (what, answer.status_code, answer.text[:300])
        assert "error" in answer.json(), what
    assert Participant.objects.get(pk=participant.pk).reminder_channel == "sms"
    assert "Internal Server Error" not in site_server.log_text()


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_wrong_secret_calls_are_counted_in_a_few_log_rows_and_answered_429_over_the_limit(
    site_server: GunicornServer, participant: Any
) -> None:
    stop = {"from": participant.mobile_phone, "text": "STOP"}
    statuses = [webhook_call(site_server.url, stop, secret=f"guess-{n}").status_code for n in range(50)]
    then_right = webhook_call(site_server.url, stop, secret=SECRET)

    counted = Counter(statuses)
    assert set(counted) <= {403, 429}
    assert counted[403] <= 2 * LIMIT and counted[429] >= 50 - 2 * LIMIT  # a minute may turn during the burst
    assert statuses[0] == 403
    assert webhook_log_rows() <= 4  # per minute: the first refusal and the one over the limit
    assert sum(WebhookRefusals.objects.values_list("count", flat=True)) >= 50
    channel = Participant.objects.get(pk=participant.pk).reminder_channel
    if then_right.status_code == 429:  # still the burst's minute: the address waits until it ends
        assert then_right.headers["Retry-After"] == "60" and channel == "sms"
    else:  # the minute turned after the burst's last refusals
        assert then_right.status_code == 200 and channel == "none"
