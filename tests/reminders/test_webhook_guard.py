"""The webhook's guard without a server: the signature rule (pure, with its clock given), the body rules, replay
and the refusal count. The calls over HTTP are in ``test_webhook_over_http``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from reminders.webhook import BadBody, parse_body, refusal_count, signature_first_seen, signature_problem
from tests.reminders.sms_gateway import webhook_headers

SECRET = "s3cret-of-the-gateway"
NOW = 1_796_550_000


def problem(body: bytes, *, secret: str = SECRET, signed_with: str = SECRET, at: int = NOW, now: int = NOW) -> str:
    headers = webhook_headers(signed_with, body, timestamp=at)
    return signature_problem(
        secret=secret, timestamp=headers["X-Timestamp"], signature=headers["X-Signature"], body=body, now=now,
        max_age=300,
    )  # fmt: skip


def test_the_documented_signature_holds_within_the_window_only() -> None:
    body = b'{"from": "+8801712345678", "text": "STOP"}'
    assert problem(body) == ""
    assert problem(body, now=NOW + 300) == "" and problem(body, now=NOW - 300) == ""
    assert "validity window" in problem(body, now=NOW + 301)
    assert "validity window" in problem(body, now=NOW - 301)
    assert "X-Signature" in problem(body, signed_with="a guess")
    assert "closed" in problem(body, secret="")


def test_a_signature_covers_the_body_and_the_timestamp() -> None:
    body = b'{"from": "+8801712345678", "text": "STOP"}'
    headers = webhook_headers(SECRET, body, timestamp=NOW)
    other_body = b'{"from": "+8801700000000", "text": "STOP"}'
    assert "X-Signature" in signature_problem(
        secret=SECRET, timestamp=headers["X-Timestamp"], signature=headers["X-Signature"], body=other_body, now=NOW,
        max_age=300,
    )  # fmt: skip
    assert "X-Signature" in signature_problem(
        secret=SECRET, timestamp=str(NOW + 1), signature=headers["X-Signature"], body=body, now=NOW, max_age=300
    )
    for stamp in ("", "soon", "١٧٩٦٥٥٠٠٠٠", "-1", "9" * 13):
        assert "X-Timestamp" in signature_problem(
            secret=SECRET, timestamp=stamp, signature=headers["X-Signature"], body=body, now=NOW, max_age=300
        ), stamp


@pytest.mark.parametrize(
    "body",
    [
        b'{"text": "a\x00b"}',
        b'{"text": "a\\u0000b"}',
        b'{"te\\u0000xt": "STOP"}',
        b'{"a": [[[[["deep"]]]]]}',
        b"[" * 3000 + b"]" * 3000,
        b'{"text": "\\udfff"}',
        '{"text": "b\u00e4nd"}'.encode("latin-1"),
        b"\xef\xbb\xbf{}" + b"\xff",
        b"null",
        b'"STOP"',
        b"",
        b'{"pad": "' + b"x" * 20000 + b'"}',
    ],
)
def test_malformed_bodies_are_refused_with_a_reason(body: bytes, settings: Any) -> None:
    with pytest.raises(BadBody):
        parse_body(body)


def test_a_well_formed_body_is_the_object() -> None:
    assert parse_body('{"from": "+8801712345678", "text": "বন্ধ"}'.encode()) == {
        "from": "+8801712345678", "text": "বন্ধ",
    }  # fmt: skip


def test_a_signature_counts_once(db: Any) -> None:
    assert signature_first_seen("sha256=" + "a" * 64)
    assert not signature_first_seen("sha256=" + "a" * 64)
    later = timezone.now() + timedelta(minutes=11)  # twice the window later it is forgotten (the timestamp refuses)
    assert signature_first_seen("sha256=" + "b" * 64, now=later)
    assert signature_first_seen("sha256=" + "a" * 64, now=later)


def test_refusals_are_counted_per_address_and_minute(db: Any) -> None:
    now = timezone.now().replace(second=5)
    assert [refusal_count("192.0.2.7", now=now) for _ in range(3)] == [1, 2, 3]
    assert refusal_count("192.0.2.8", now=now) == 1
    assert refusal_count("192.0.2.7", now=now + timedelta(minutes=1)) == 1
