"""The inbound SMS webhook's guard: the gateway signs each call, a signed call counts once, a malformed body is
refused, and refused calls are counted per client address and minute instead of logged one by one.

The signature (configure the gateway with the same secret, ``SMS_WEBHOOK_SECRET``)::

    X-Timestamp: <Unix time in whole seconds, e.g. 1796550000>
    X-Signature: sha256=<hex HMAC-SHA256 with the secret as key over: the timestamp, a full stop, the raw body>

A call is accepted when the signature matches, the timestamp is within ``SMS_WEBHOOK_MAX_AGE_SECONDS`` of the
server's clock (either way) and the same signature has not been accepted before (a replay is refused). The body
is one JSON object in UTF-8 of at most ``SMS_WEBHOOK_MAX_BYTES``, with no NUL character and at most
``MAX_DEPTH`` levels of nesting; anything else is a 400.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from reminders.models import WebhookRefusals, WebhookSignature

SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Timestamp"
SCHEME = "sha256="
MAX_DEPTH = 4
REFUSALS_KEPT = timedelta(days=7)


class BadBody(ValueError):
    """The body is not one well-formed JSON object of a sensible size: a 400, with this message."""


def signature_for(secret: str, timestamp: str, body: bytes) -> str:
    """What ``X-Signature`` must say for this timestamp and raw body."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return SCHEME + digest


def signature_problem(*, secret: str, timestamp: str, signature: str, body: bytes, now: float, max_age: int) -> str:
    """Why the call's signature is refused, or "" when it holds (pure: the clock is ``now``, Unix seconds)."""
    if not secret:
        return "the webhook is closed: no secret is configured"
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return f"missing or malformed {TIMESTAMP_HEADER} (Unix time in seconds)"
    if not hmac.compare_digest(signature.encode(), signature_for(secret, timestamp, body).encode()):
        return f"wrong or missing {SIGNATURE_HEADER}"
    if abs(now - int(timestamp)) > max_age:
        return f"{TIMESTAMP_HEADER} is outside the validity window of {max_age} seconds"
    return ""


def parse_body(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; ``BadBody`` for anything else (too large, not UTF-8, a NUL, not JSON, not an
    object, nested too deeply, a string that is not valid Unicode)."""
    if len(body) > settings.SMS_WEBHOOK_MAX_BYTES:
        raise BadBody(f"the body is larger than {settings.SMS_WEBHOOK_MAX_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadBody("the body is not UTF-8") from error
    try:
        payload = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        raise BadBody("the body is not JSON") from error
    if not isinstance(payload, dict):
        raise BadBody("the body must be a JSON object")
    _check_values(payload)
    return payload


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise BadBody("the body holds a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:  # a lone surrogate such as "\ud800"
        raise BadBody("the body holds text that is not valid Unicode") from error


def _check_values(payload: dict[str, Any]) -> None:
    pending: list[tuple[Any, int]] = [(payload, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise BadBody(f"the body is nested more than {MAX_DEPTH} levels deep")
            if isinstance(value, dict):
                for key in value:
                    _check_text(key)
            items = value.values() if isinstance(value, dict) else value
            pending.extend((item, depth + 1) for item in items)
        elif isinstance(value, str):
            _check_text(value)


def signature_first_seen(signature: str, *, now: datetime | None = None) -> bool:
    """Record an accepted signature; False when it was accepted before (a replay). Signatures older than twice
    the validity window are removed: their timestamps refuse them by now."""
    now = now or timezone.now()
    kept = timedelta(seconds=2 * settings.SMS_WEBHOOK_MAX_AGE_SECONDS)
    WebhookSignature.objects.filter(received_at__lt=now - kept).delete()
    try:
        with transaction.atomic():
            WebhookSignature.objects.create(signature=signature.removeprefix(SCHEME), received_at=now)
    except IntegrityError:
        return False
    return True


def _minute(now: datetime | None) -> datetime:
    return (now or timezone.now()).replace(second=0, microsecond=0)


def refusals_this_minute(address: str, *, now: datetime | None = None) -> int:
    found = WebhookRefusals.objects.filter(address=address, minute=_minute(now)).values_list("count", flat=True)
    return next(iter(found), 0)


def refusal_count(address: str, *, now: datetime | None = None) -> int:
    """Count one refused call from ``address`` in this minute; the count so far (1 for the minute's first)."""
    minute = _minute(now)
    try:
        with transaction.atomic():
            WebhookRefusals.objects.create(address=address, minute=minute, count=1)
    except IntegrityError:
        WebhookRefusals.objects.filter(address=address, minute=minute).update(count=F("count") + 1)
        return refusals_this_minute(address, now=now)
    WebhookRefusals.objects.filter(minute__lt=minute - REFUSALS_KEPT).delete()
    return 1
