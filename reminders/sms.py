"""SMS backends: where a reminder's text message goes.

Two backends share one small interface (:class:`SmsBackend`):

* ``file`` (:class:`FileSmsBackend`): appends each message as one JSON line to an outbox file, which the demo shows
  to the administrator. Nothing leaves the machine.
* ``http`` (:class:`HttpSmsBackend`): posts a JSON body to an SMS gateway. The body is a template from the settings,
  so the common gateways (which differ only in field names and nesting) fit without code.

Every send carries an idempotency key (one per reminder). The file backend writes a key at most once; the HTTP
backend passes it to the gateway (``Idempotency-Key`` header, and ``{key}`` in the body), so a retry after a lost
answer does not text the patient twice when the gateway honours it.

Errors are :class:`SmsError` with ``transient`` saying whether a retry may succeed. Their messages describe what
happened and never contain the phone number or the text: they end up in logs and on the administrator's page.

Only the standard library is used (``urllib``); no HTTP client package is needed.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# The placeholders of SMS_GATEWAY_BODY: a JSON string value that is exactly one of these is replaced.
PLACEHOLDER_TO = "{to}"
PLACEHOLDER_TEXT = "{text}"
PLACEHOLDER_KEY = "{key}"

# HTTP statuses other than 5xx that are worth retrying: request timeout and rate limiting.
_TRANSIENT_CLIENT_STATUSES = frozenset({408, 429})


@dataclass(frozen=True)
class SmsReceipt:
    """What a backend tells us about an accepted message."""

    message_id: str
    """The provider's id of the message (the same id again when a key is sent twice)."""
    status: str
    """The provider's status word, e.g. ``"accepted"``, ``"queued"``."""


class SmsError(Exception):
    """A message was not (known to be) accepted.

    ``transient`` is True when trying again later may succeed (gateway down, slow or overloaded) and False when it
    will not (rejected request, bad credentials, misconfiguration).
    """

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class SmsBackend(Protocol):
    """Sends one text message; the same ``idempotency_key`` must not lead to a second message."""

    name: str
    """``"file"`` or ``"http"``, shown on the administrator's page."""

    def send(self, *, to: str, text: str, idempotency_key: str) -> SmsReceipt:
        """Send ``text`` to the phone number ``to``; raise :class:`SmsError` when that fails."""
        ...


# --------------------------------------------------------------------------------------------------------------
# The file backend (the demo's outbox)


@contextlib.contextmanager
def _locked(path: Path, mode: str, lock: int) -> Iterator[IO[str]]:
    """Open ``path`` holding an ``fcntl.flock`` lock (shared or exclusive) until the block ends."""
    with path.open(mode, encoding="utf-8") as handle:
        fcntl.flock(handle.fileno(), lock)
        try:
            yield handle
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _parse_lines(lines: Iterator[str] | list[str]) -> Iterator[dict[str, str]]:
    """The JSON objects among ``lines``; a damaged line (say, from a crash mid-write) is skipped."""
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            yield {str(name): str(value) for name, value in record.items()}


class FileSmsBackend:
    """Writes each message as one JSON line to an outbox file instead of sending it.

    A line is ``{"time": ISO UTC, "to", "text", "key", "message_id": "file-<key>"}``. A key already in the file is
    not written again (idempotent). An exclusive file lock keeps lines of concurrent worker processes apart.
    """

    name = "file"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def send(self, *, to: str, text: str, idempotency_key: str) -> SmsReceipt:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with _locked(self.path, "a+", fcntl.LOCK_EX) as outbox:
                outbox.seek(0)
                content = outbox.read()
                for record in _parse_lines(content.splitlines()):
                    if record.get("key") == idempotency_key:
                        return SmsReceipt(message_id=record.get("message_id", ""), status="written")
                message_id = f"file-{idempotency_key}"
                line = {
                    "time": datetime.now(UTC).isoformat(timespec="seconds"),
                    "to": to,
                    "text": text,
                    "key": idempotency_key,
                    "message_id": message_id,
                }
                # A line cut short by a crash must not swallow the next one.
                prefix = "\n" if content and not content.endswith("\n") else ""
                outbox.write(prefix + json.dumps(line, ensure_ascii=False) + "\n")
                outbox.flush()
        except OSError as error:
            # The path and the OS error say what is wrong; no number or text in it.
            raise SmsError(
                f"SMS outbox {self.path} cannot be written: {error.strerror or error}", transient=True
            ) from error
        return SmsReceipt(message_id=message_id, status="written")


def outbox_messages(path: Path, limit: int = 100) -> list[dict[str, str]]:
    """The last ``limit`` messages of the outbox file at ``path``, newest first; ``[]`` if there is no file."""
    path = Path(path)
    if limit <= 0 or not path.exists():
        return []
    with _locked(path, "r", fcntl.LOCK_SH) as outbox:
        newest: deque[dict[str, str]] = deque(_parse_lines(outbox), maxlen=limit)
    newest.reverse()
    return list(newest)


# --------------------------------------------------------------------------------------------------------------
# The HTTP backend (a JSON-over-HTTP gateway)


def fill_body_template(template: Any, values: dict[str, str]) -> Any:
    """``template`` with every string that equals a placeholder (``"{to}"``, …) replaced by its value.

    Works recursively through dicts and lists; keys and other strings are left alone. Because whole values are
    replaced after parsing, quotes, newlines and Bangla text in the message cannot break the JSON.
    """
    if isinstance(template, str):
        return values.get(template, template)
    if isinstance(template, dict):
        return {name: fill_body_template(value, values) for name, value in template.items()}
    if isinstance(template, list):
        return [fill_body_template(value, values) for value in template]
    return template


def _placeholders_in(template: Any) -> set[str]:
    if isinstance(template, str):
        return {template} & {PLACEHOLDER_TO, PLACEHOLDER_TEXT, PLACEHOLDER_KEY}
    if isinstance(template, dict):
        return set().union(*(_placeholders_in(value) for value in template.values()))
    if isinstance(template, list):
        return set().union(*(_placeholders_in(value) for value in template))
    return set()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """urllib would turn a redirected POST into a GET without the body; an SMS must not be sent that way."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class HttpSmsBackend:
    """Posts each message as JSON to an SMS gateway.

    ``body_template`` is a JSON document; every string value that is exactly ``"{to}"``, ``"{text}"`` or
    ``"{key}"`` becomes the number, the text or the idempotency key. The request carries
    ``Authorization: Bearer <token>`` (when a token is set) and ``Idempotency-Key: <key>``. A 2xx answer must be a
    JSON object holding the message id under ``id_field``; its status is read from ``status_field``.
    """

    name = "http"

    def __init__(
        self, *, url: str, token: str, body_template: str, id_field: str, status_field: str, timeout: float
    ) -> None:
        if urllib.parse.urlsplit(url).scheme not in {"http", "https"} or not urllib.parse.urlsplit(url).hostname:
            raise ValueError("the SMS gateway URL must be an http:// or https:// URL with a host")
        try:
            template = json.loads(body_template)
        except ValueError as error:
            raise ValueError(f"the SMS gateway body template is not valid JSON: {error}") from error
        missing = {PLACEHOLDER_TO, PLACEHOLDER_TEXT} - _placeholders_in(template)
        if missing:
            raise ValueError(
                "the SMS gateway body template has no string value " + " or ".join(sorted(missing)) + " to fill"
            )
        if timeout <= 0:
            raise ValueError("the SMS gateway timeout must be positive")
        self.url = url
        self.token = token
        self.body_template: Any = template
        self.id_field = id_field
        self.status_field = status_field
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirects())

    def request_body(self, *, to: str, text: str, idempotency_key: str) -> bytes:
        """The JSON body posted for one message."""
        values = {PLACEHOLDER_TO: to, PLACEHOLDER_TEXT: text, PLACEHOLDER_KEY: idempotency_key}
        return json.dumps(fill_body_template(self.body_template, values), ensure_ascii=False).encode("utf-8")

    def send(self, *, to: str, text: str, idempotency_key: str) -> SmsReceipt:
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Idempotency-Key": idempotency_key,
        }
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked to be http(s) in __init__
            self.url,
            data=self.request_body(to=to, text=text, idempotency_key=idempotency_key),
            headers=headers,
            method="POST",
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status = response.status
                payload = response.read()
        except urllib.error.HTTPError as error:
            error.close()
            raise self._status_error(error.code) from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, TimeoutError):
                raise self._timeout_error() from None
            raise SmsError(f"SMS gateway unreachable: {error.reason}", transient=True) from None
        except TimeoutError:
            raise self._timeout_error() from None
        except (OSError, http.client.HTTPException) as error:
            # Connection reset, closed without an answer, an answer cut short: the message may or may not have
            # been accepted, and a retry with the same key is how we find out.
            raise SmsError(
                f"SMS gateway broke off the connection: {type(error).__name__}: {error}", transient=True
            ) from None
        return self._receipt(status, payload)

    def _status_error(self, status: int) -> SmsError:
        transient = status >= 500 or status in _TRANSIENT_CLIENT_STATUSES
        detail = ""
        if status in (401, 403):
            detail = " (check SMS_GATEWAY_TOKEN)"
        elif 300 <= status < 400:
            detail = " (a redirect, which is not followed: check SMS_GATEWAY_URL)"
        return SmsError(f"SMS gateway answered HTTP {status}{detail}", transient=transient)

    def _timeout_error(self) -> SmsError:
        return SmsError(f"SMS gateway did not answer within {self.timeout:g} s", transient=True)

    def _receipt(self, status: int, payload: bytes) -> SmsReceipt:
        # The gateway said yes (2xx), so retrying could send the message twice: problems here are permanent.
        try:
            answer = json.loads(payload.decode("utf-8")) if payload.strip() else None
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise SmsError(f"SMS gateway answered HTTP {status} without a JSON object", transient=False)
        message_id = answer.get(self.id_field)
        if message_id is None or message_id == "":
            raise SmsError(
                f"SMS gateway answered HTTP {status} without the message id field {self.id_field!r}",
                transient=False,
            )
        return SmsReceipt(message_id=str(message_id), status=str(answer.get(self.status_field, "accepted")))


# --------------------------------------------------------------------------------------------------------------


def sms_backend() -> SmsBackend:
    """The backend chosen by ``settings.SMS_BACKEND``: ``"file"`` or ``"http"``.

    Raises ImproperlyConfigured for any other name and for an HTTP gateway without a usable URL or body template.
    """
    choice = settings.SMS_BACKEND
    if choice == "file":
        return FileSmsBackend(Path(settings.SMS_OUTBOX_PATH))
    if choice == "http":
        if not settings.SMS_GATEWAY_URL:
            raise ImproperlyConfigured('SMS_BACKEND is "http" but SMS_GATEWAY_URL is empty')
        try:
            return HttpSmsBackend(
                url=settings.SMS_GATEWAY_URL,
                token=settings.SMS_GATEWAY_TOKEN,
                body_template=settings.SMS_GATEWAY_BODY,
                id_field=settings.SMS_GATEWAY_ID_FIELD,
                status_field=settings.SMS_GATEWAY_STATUS_FIELD,
                timeout=float(settings.SMS_GATEWAY_TIMEOUT_SECONDS),
            )
        except ValueError as error:
            raise ImproperlyConfigured(f"SMS gateway settings: {error}") from error
    raise ImproperlyConfigured(f'SMS_BACKEND must be "file" or "http", not {choice!r}')
