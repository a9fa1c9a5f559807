"""The SMS backends against real things: the HTTP backend against a real HTTP gateway stand-in on loopback, the
file backend against a real file."""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from reminders.sms import FileSmsBackend, HttpSmsBackend, SmsError, SmsReceipt, outbox_messages, sms_backend
from tests.reminders.sms_gateway import SmsGatewayStandIn

DEFAULT_BODY = '{"to": "{to}", "message": "{text}", "reference": "{key}"}'
NUMBER = "+8801711000001"
TEXT = "Reminder: your week 12 visit is tomorrow at BSMMU Dhaka."
# Bangla, quotes, a backslash and newlines: all must arrive exactly as written.
AWKWARD_TEXT = 'আগামীকাল আপনার ১২ সপ্তাহের ভিজিট।\nReply "STOP" to end \\ thanks\r\n{text}'


def http_backend(gateway: SmsGatewayStandIn, **overrides: Any) -> HttpSmsBackend:
    options: dict[str, Any] = {
        "url": gateway.url,
        "token": gateway.token,
        "body_template": DEFAULT_BODY,
        "id_field": "message_id",
        "status_field": "status",
        "timeout": 2,
    }
    options.update(overrides)
    return HttpSmsBackend(**options)


def send(backend: Any, key: str = "reminder-1", *, to: str = NUMBER, text: str = TEXT) -> SmsReceipt:
    return backend.send(to=to, text=text, idempotency_key=key)


def wait_for(condition: Callable[[], bool], *, limit: float = 10.0) -> None:
    """Wait until ``condition`` holds (a bounded wait for another thread, not a timing assertion)."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not come true")
        time.sleep(0.02)


# --------------------------------------------------------------------------------------------------------------
# HTTP backend: success and idempotency


def test_http_send_delivers_the_message_and_returns_the_gateways_id_and_status(http_sms_settings):
    gateway = http_sms_settings
    backend = sms_backend()

    receipt = send(backend, "reminder-7")

    assert backend.name == "http"
    assert receipt == SmsReceipt(message_id="gw-1", status="accepted")
    [message] = gateway.delivered
    assert (message["to"], message["message"], message["key"]) == (NUMBER, TEXT, "reminder-7")


def test_http_same_key_twice_texts_the_patient_once_and_returns_the_same_id(sms_gateway):
    backend = http_backend(sms_gateway)

    first = send(backend, "reminder-1")
    again = send(backend, "reminder-1")
    other = send(backend, "reminder-2")

    assert again.message_id == first.message_id
    assert other.message_id != first.message_id
    assert [message["key"] for message in sms_gateway.delivered] == ["reminder-1", "reminder-2"]
    assert sms_gateway.requests == 3


def test_http_text_with_bangla_quotes_and_newlines_arrives_unchanged(sms_gateway):
    send(http_backend(sms_gateway), to=NUMBER, text=AWKWARD_TEXT)

    [message] = sms_gateway.delivered
    assert message["message"] == AWKWARD_TEXT
    assert message["to"] == NUMBER


def test_http_custom_nested_body_template_is_filled(sms_gateway):
    template = json.dumps(
        {
            "auth": {"api_key": "x", "sender": "{sender}"},
            "sms": [{"msisdn": "{to}", "text": "{text}", "note": "to: {to}"}],
            "csms_id": "{key}",
            "flags": [1, True, None],
        }
    )
    backend = http_backend(sms_gateway, body_template=template)

    receipt = send(backend, "visit-42-sms", to=NUMBER, text=AWKWARD_TEXT)

    [message] = sms_gateway.delivered
    assert message["body"] == {
        "auth": {"api_key": "x", "sender": "{sender}"},  # not a placeholder: left alone
        "sms": [{"msisdn": NUMBER, "text": AWKWARD_TEXT, "note": "to: {to}"}],  # only whole values are replaced
        "csms_id": "visit-42-sms",
        "flags": [1, True, None],
    }
    # The body has no "reference": the gateway took the key from the Idempotency-Key header.
    assert message["key"] == "visit-42-sms"
    assert receipt.message_id == message["message_id"]


def test_http_custom_status_field_is_read_and_defaults_to_accepted(sms_gateway):
    assert send(http_backend(sms_gateway, status_field="status"), "a").status == "accepted"
    # The stand-in answers no "state": the status defaults to "accepted".
    assert send(http_backend(sms_gateway, status_field="state"), "b").status == "accepted"
    assert send(http_backend(sms_gateway, status_field="message_id"), "c").status == "gw-3"


# --------------------------------------------------------------------------------------------------------------
# HTTP backend: failures, transient or permanent


@pytest.mark.parametrize("status", [500, 502, 503, 408, 429])
def test_http_server_errors_timeouts_and_rate_limits_are_transient(sms_gateway, status):
    sms_gateway.fail_next(1, status=status)

    with pytest.raises(SmsError) as caught:
        send(http_backend(sms_gateway))

    assert caught.value.transient is True
    assert str(caught.value) == f"SMS gateway answered HTTP {status}"
    assert sms_gateway.delivered == []


@pytest.mark.parametrize("status", [400, 404, 422])
def test_http_other_client_errors_are_permanent(sms_gateway, status):
    sms_gateway.fail_next(1, status=status)

    with pytest.raises(SmsError) as caught:
        send(http_backend(sms_gateway))

    assert caught.value.transient is False
    assert f"HTTP {status}" in str(caught.value)
    assert sms_gateway.delivered == []


def test_http_retry_after_a_transient_error_delivers(sms_gateway):
    sms_gateway.fail_next(2, status=503)
    backend = http_backend(sms_gateway)

    for _ in range(2):
        with pytest.raises(SmsError):
            send(backend, "reminder-1")
    receipt = send(backend, "reminder-1")

    assert receipt.message_id == "gw-1"
    assert len(sms_gateway.delivered) == 1


def test_http_wrong_or_missing_token_is_permanent_and_names_the_setting(sms_gateway):
    for token in ("not-the-token", ""):
        with pytest.raises(SmsError) as caught:
            send(http_backend(sms_gateway, token=token))
        assert caught.value.transient is False
        assert "HTTP 401" in str(caught.value)
        assert "SMS_GATEWAY_TOKEN" in str(caught.value)
    assert sms_gateway.delivered == []


def test_http_accepted_but_answer_lost_then_retry_texts_once_and_gets_the_original_id(sms_gateway):
    """The crash window: the provider took the message, the caller only saw a 500."""
    sms_gateway.accept_then_fail_next(1)
    backend = http_backend(sms_gateway)

    with pytest.raises(SmsError) as caught:
        send(backend, "reminder-1")
    assert caught.value.transient is True
    assert len(sms_gateway.delivered) == 1

    receipt = send(backend, "reminder-1")

    [message] = sms_gateway.delivered
    assert receipt.message_id == message["message_id"] == "gw-1"


def test_http_gateway_slower_than_the_timeout_is_a_transient_error_naming_the_timeout(sms_gateway):
    sms_gateway.stall_next(1, seconds=30)

    with pytest.raises(SmsError) as caught:
        send(http_backend(sms_gateway, timeout=0.2))

    assert caught.value.transient is True
    assert str(caught.value) == "SMS gateway did not answer within 0.2 s"


def test_http_timeout_then_late_delivery_then_retry_texts_once(sms_gateway):
    sms_gateway.stall_next(1, seconds=1)
    backend = http_backend(sms_gateway, timeout=0.2)

    with pytest.raises(SmsError) as caught:
        send(backend, "reminder-1")
    assert caught.value.transient is True
    wait_for(lambda: len(sms_gateway.delivered) == 1)  # the slow gateway delivers after all

    receipt = send(backend, "reminder-1")

    [message] = sms_gateway.delivered
    assert receipt.message_id == message["message_id"]


def test_http_connection_refused_is_transient():
    gateway = SmsGatewayStandIn().start()
    backend = http_backend(gateway)
    gateway.stop()

    with pytest.raises(SmsError) as caught:
        send(backend)

    assert caught.value.transient is True
    assert str(caught.value).startswith("SMS gateway unreachable: ")
    assert "refused" in str(caught.value).lower()


def test_http_connection_closed_without_an_answer_is_transient(sms_gateway):
    sms_gateway.drop_next(1)
    backend = http_backend(sms_gateway)

    with pytest.raises(SmsError) as caught:
        send(backend, "reminder-1")
    assert caught.value.transient is True
    assert sms_gateway.delivered == []

    assert send(backend, "reminder-1").message_id == "gw-1"


def test_http_2xx_without_the_id_field_is_permanent_and_names_the_field(sms_gateway):
    backend = http_backend(sms_gateway, id_field="sms_id")

    with pytest.raises(SmsError) as caught:
        send(backend)

    # The gateway took the message, so a retry could text twice: not transient.
    assert caught.value.transient is False
    assert "'sms_id'" in str(caught.value)
    assert len(sms_gateway.delivered) == 1


@pytest.mark.parametrize(
    "make_it_fail",
    [
        lambda gateway: gateway.fail_next(1, status=500),
        lambda gateway: gateway.fail_next(1, status=400),
        lambda gateway: gateway.accept_then_fail_next(1),
        lambda gateway: gateway.stall_next(1, seconds=30),
        lambda gateway: gateway.drop_next(1),
        lambda gateway: setattr(gateway, "token", "rotated-at-the-provider"),
        lambda gateway: gateway.stop(),
    ],
    ids=["500", "400", "accepted-then-500", "timeout", "dropped", "401", "refused"],
)
def test_http_error_messages_never_contain_the_number_or_the_text(sms_gateway, make_it_fail):
    backend = http_backend(sms_gateway, timeout=0.2, id_field="message_id")
    make_it_fail(sms_gateway)

    with pytest.raises(SmsError) as caught:
        send(backend, to=NUMBER, text=AWKWARD_TEXT)

    shown = f"{caught.value} {caught.value!r}"
    assert "01711000001" not in shown
    assert "STOP" not in shown
    assert "আগামীকাল" not in shown


def test_http_error_message_for_missing_id_does_not_contain_the_number_or_the_text(sms_gateway):
    with pytest.raises(SmsError) as caught:
        send(http_backend(sms_gateway, id_field="sms_id"), to=NUMBER, text=AWKWARD_TEXT)

    assert "01711000001" not in str(caught.value)
    assert "STOP" not in str(caught.value)


# --------------------------------------------------------------------------------------------------------------
# File backend


def test_file_send_writes_one_json_line_creating_folders(tmp_path):
    path = tmp_path / "var" / "outbox" / "sms.jsonl"
    backend = FileSmsBackend(path)

    receipt = send(backend, "reminder-1", text=AWKWARD_TEXT)

    assert backend.name == "file"
    assert receipt.message_id == "file-reminder-1"
    [line] = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(line)
    assert {key: record[key] for key in ("to", "text", "key", "message_id")} == {
        "to": NUMBER,
        "text": AWKWARD_TEXT,
        "key": "reminder-1",
        "message_id": "file-reminder-1",
    }
    written = datetime.fromisoformat(record["time"])
    assert written.utcoffset() == timedelta(0)
    assert "আগামীকাল" in line  # readable in the file, not \u-escaped


def test_file_same_key_twice_writes_one_line_and_returns_the_same_id(tmp_path):
    path = tmp_path / "sms.jsonl"
    backend = FileSmsBackend(path)

    first = send(backend, "reminder-1")
    again = send(backend, "reminder-1", text="a different text")
    send(backend, "reminder-2")

    assert again.message_id == first.message_id
    assert [message["key"] for message in outbox_messages(path)] == ["reminder-2", "reminder-1"]
    assert outbox_messages(path)[1]["text"] == TEXT


def test_file_outbox_messages_newest_first_with_a_limit(tmp_path):
    path = tmp_path / "sms.jsonl"
    backend = FileSmsBackend(path)
    for number in range(1, 6):
        send(backend, f"reminder-{number}")

    assert [message["key"] for message in outbox_messages(path)] == [f"reminder-{n}" for n in (5, 4, 3, 2, 1)]
    assert [message["key"] for message in outbox_messages(path, limit=2)] == ["reminder-5", "reminder-4"]
    assert outbox_messages(path, limit=0) == []


def test_file_outbox_messages_without_a_file_is_empty(tmp_path):
    assert outbox_messages(tmp_path / "never-written.jsonl") == []


def test_file_line_cut_short_by_a_crash_is_skipped_and_does_not_swallow_the_next(tmp_path):
    path = tmp_path / "sms.jsonl"
    backend = FileSmsBackend(path)
    send(backend, "reminder-1")
    with path.open("a", encoding="utf-8") as outbox:
        outbox.write('{"time": "2025-01-01T00:00:00+00:00", "to": "+88017')  # no newline: a crash mid-write

    send(backend, "reminder-2")

    assert [message["key"] for message in outbox_messages(path)] == ["reminder-2", "reminder-1"]


def _send_all_keys(path: str, keys: list[str], start: Any) -> None:
    """One worker process: send every key to the outbox (runs in a child process)."""
    backend = FileSmsBackend(Path(path))
    start.wait()
    for key in keys:
        send(backend, key, text=AWKWARD_TEXT)


def test_file_concurrent_worker_processes_write_whole_lines_and_each_key_once(tmp_path):
    path = tmp_path / "sms.jsonl"
    keys = [f"reminder-{number}" for number in range(100)]
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(6)
    workers = [context.Process(target=_send_all_keys, args=(str(path), keys, start)) for _ in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)

    assert [worker.exitcode for worker in workers] == [0] * 6
    lines = path.read_text(encoding="utf-8").splitlines()
    assert sorted(json.loads(line)["key"] for line in lines) == sorted(keys)
    assert {json.loads(line)["text"] for line in lines} == {AWKWARD_TEXT}


# --------------------------------------------------------------------------------------------------------------
# Choosing the backend from the settings


def test_sms_backend_file_writes_to_the_configured_outbox(settings, tmp_path):
    settings.SMS_BACKEND = "file"
    settings.SMS_OUTBOX_PATH = tmp_path / "outbox" / "sms.jsonl"

    backend = sms_backend()
    send(backend, "reminder-1")

    assert isinstance(backend, FileSmsBackend)
    assert [message["key"] for message in outbox_messages(settings.SMS_OUTBOX_PATH)] == ["reminder-1"]


def test_sms_backend_http_uses_the_gateway_settings(http_sms_settings, settings):
    settings.SMS_GATEWAY_BODY = '{"number": "{to}", "sms": "{text}"}'
    settings.SMS_GATEWAY_ID_FIELD = "message_id"

    backend = sms_backend()
    send(backend, "reminder-9")

    assert isinstance(backend, HttpSmsBackend)
    assert backend.timeout == 2
    [message] = http_sms_settings.delivered
    assert message["body"] == {"number": NUMBER, "sms": TEXT}
    assert message["key"] == "reminder-9"


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"SMS_BACKEND": "carrier-pigeon"}, "SMS_BACKEND"),
        ({"SMS_BACKEND": "HTTP"}, "SMS_BACKEND"),
        ({"SMS_GATEWAY_URL": ""}, "SMS_GATEWAY_URL"),
        ({"SMS_GATEWAY_URL": "ftp://127.0.0.1/send"}, "URL"),
        ({"SMS_GATEWAY_URL": "127.0.0.1:9999/send"}, "URL"),
        ({"SMS_GATEWAY_BODY": '{"to": "{to}", "message": "{text}"'}, "not valid JSON"),
        ({"SMS_GATEWAY_BODY": '{"to": "{to}", "message": "Hello {text}"}'}, "{text}"),
        ({"SMS_GATEWAY_BODY": '{"message": "{text}"}'}, "{to}"),
    ],
)
def test_sms_backend_refuses_unknown_or_misconfigured_backends(http_sms_settings, settings, changes, complaint):
    for name, value in changes.items():
        setattr(settings, name, value)

    with pytest.raises(ImproperlyConfigured, match=complaint.replace("{", r"\{").replace("}", r"\}")):
        sms_backend()
