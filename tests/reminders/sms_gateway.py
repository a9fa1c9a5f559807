"""A real HTTP SMS gateway on loopback, standing in for a provider in tests and manual demos.

It speaks what ``HttpSmsBackend`` speaks with the default body template: ``POST /send`` with a JSON object like
``{"to": ..., "message": ..., "reference": ...}``, ``Authorization: Bearer <token>`` and ``Idempotency-Key``. It
behaves like a careful provider: a key it has seen is not delivered again, the answer carries the first message id.
Failure modes (errors, accepted-then-failed answers, stalls, dropped connections) apply to the next n requests.
The other way, ``webhook_call`` is the gateway calling the site's webhook, signed as the README describes.

By hand, for a demo::

    python tests/reminders/sms_gateway.py --port 9999

prints the URL and token to put in SMS_GATEWAY_URL and SMS_GATEWAY_TOKEN (with SMS_BACKEND=http) and serves until
Ctrl-C, printing each delivered message.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import secrets
import sys
import threading
import time
from collections import deque
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import requests

SEND_PATH = "/send"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    gateway: SmsGatewayStandIn


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "SmsGatewayStandIn/1.0"

    def do_POST(self) -> None:
        self.server.gateway._handle(self)

    def do_GET(self) -> None:
        self._answer(405, {"error": "use POST"})

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.gateway.verbose:
            super().log_message(format, *args)

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up (timed out) before the answer; a real gateway would not notice either


class SmsGatewayStandIn:
    """An SMS gateway on 127.0.0.1 (a random free port unless ``port`` is given), served from a daemon thread."""

    def __init__(self, *, port: int = 0, token: str | None = None, verbose: bool = False) -> None:
        self.token = token or secrets.token_urlsafe(24)
        self.verbose = verbose
        self._port = port
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._delivered: list[dict[str, Any]] = []
        self._ids_by_key: dict[str, str] = {}
        self._requests = 0
        self._modes: deque[tuple[str, float]] = deque()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------------------

    def start(self) -> SmsGatewayStandIn:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server(("127.0.0.1", self._port), _Handler)
        server.gateway = self
        self._server = server
        self._port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="sms-gateway-stand-in", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the port (stalled requests end at once, undelivered)."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()  # waits for the request threads
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> SmsGatewayStandIn:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}{SEND_PATH}"

    # -- what happened ------------------------------------------------------------------------------------------

    @property
    def delivered(self) -> list[dict[str, Any]]:
        """Messages actually delivered (a copy): to, message, key, message_id, time, and the whole request body."""
        with self._lock:
            return [dict(message) for message in self._delivered]

    @property
    def requests(self) -> int:
        """How many POSTs arrived."""
        with self._lock:
            return self._requests

    # -- failure modes, each for the next n requests -----------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        """Answer ``status`` and deliver nothing."""
        self._add_mode("fail", n, status)

    def accept_then_fail_next(self, n: int = 1) -> None:
        """Deliver the message, then answer 500: the provider has it, the caller does not know."""
        self._add_mode("accept_then_fail", n, 500)

    def stall_next(self, n: int = 1, seconds: float = 5.0) -> None:
        """Wait ``seconds`` before delivering and answering, like a slow gateway (clients time out meanwhile)."""
        self._add_mode("stall", n, seconds)

    def hang_next(self, n: int = 1, seconds: float = 5.0) -> None:
        """The next n requests get no answer for ``seconds`` (client timeouts), then the connection closes;
        nothing is delivered."""
        self._add_mode("hang", n, seconds)

    def drop_next(self, n: int = 1) -> None:
        """Read the request, then close the connection without an answer and without delivering."""
        self._add_mode("drop", n, 0)

    def reset(self) -> None:
        """Forget failure modes, deliveries and the request count (the token and the port stay)."""
        with self._lock:
            self._modes.clear()
            self._delivered.clear()
            self._ids_by_key.clear()
            self._requests = 0

    def _add_mode(self, mode: str, n: int, value: float) -> None:
        with self._lock:
            self._modes.extend([(mode, value)] * n)

    # -- the request ------------------------------------------------------------------------------------------

    def _handle(self, request: _Handler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        with self._lock:
            self._requests += 1
        if request.path.split("?", 1)[0] != SEND_PATH:
            request._answer(404, {"error": f"no such path, POST to {SEND_PATH}"})
            return
        if not hmac.compare_digest(request.headers.get("Authorization", ""), f"Bearer {self.token}"):
            request._answer(401, {"error": "missing or wrong bearer token"})
            return
        with self._lock:
            mode, value = self._modes.popleft() if self._modes else ("ok", 0)
        if mode == "fail":
            request._answer(int(value), {"error": f"failing on purpose with HTTP {int(value)}"})
            return
        if mode == "drop":
            request.close_connection = True
            return
        if mode == "hang":  # a gateway that is down behind its load balancer: no answer, nothing delivered
            self._stopping.wait(value)
            request.close_connection = True
            return
        try:
            body = json.loads(raw.decode("utf-8"))
        except ValueError:
            body = None
        if not isinstance(body, dict):
            request._answer(400, {"error": "the body must be a JSON object"})
            return
        if mode == "stall" and self._stopping.wait(value):
            return  # stopped while stalling: nothing delivered, no answer
        key = request.headers.get("Idempotency-Key") or str(body.get("reference") or "")
        message_id = self._deliver(body, key)
        if mode == "accept_then_fail":
            request._answer(500, {"error": "accepted, then failed on purpose"})
            return
        request._answer(200, {"message_id": message_id, "status": "accepted"})

    def _deliver(self, body: dict[str, Any], key: str) -> str:
        with self._lock:
            if key and key in self._ids_by_key:
                return self._ids_by_key[key]
            message_id = f"gw-{len(self._delivered) + 1}"
            message = {
                "to": body.get("to", ""),
                "message": body.get("message", ""),
                "key": key,
                "message_id": message_id,
                "time": datetime.now(UTC).isoformat(timespec="seconds"),
                "body": body,
            }
            self._delivered.append(message)
            if key:
                self._ids_by_key[key] = message_id
        if self.verbose:
            print(f"delivered {message_id} to {message['to']}: {message['message']!r}", flush=True)
        return message_id


# -- the other direction: the gateway calling the site's webhook (STOP replies, delivery reports) ---------------

WEBHOOK_PATH = "/reminders/inbound/sms/"


def webhook_headers(secret: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    """The headers the gateway signs a webhook call with, as the README tells a gateway to: ``X-Timestamp`` (Unix
    seconds) and ``X-Signature: sha256=<hex HMAC-SHA256 keyed by the secret over timestamp + "." + body>``.
    Written here from the documentation, not imported from the site, so a change of scheme breaks the tests."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Timestamp": stamp, "X-Signature": f"sha256={digest}", "Content-Type": "application/json"}


def webhook_call(
    site_url: str, payload: Any, *, secret: str, timestamp: int | None = None, body: bytes | None = None
) -> requests.Response:
    """POST a signed call to the site's webhook (``payload`` as JSON, or ``body`` as given)."""
    data = json.dumps(payload).encode() if body is None else body
    return requests.post(
        site_url.rstrip("/") + WEBHOOK_PATH, data=data, headers=webhook_headers(secret, data, timestamp=timestamp),
        timeout=30,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve an SMS gateway stand-in on 127.0.0.1 until Ctrl-C.")
    parser.add_argument("--port", type=int, default=9999, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--token", default=None, help="the bearer token to require (default: a random one)")
    options = parser.parse_args(argv)
    gateway = SmsGatewayStandIn(port=options.port, token=options.token, verbose=True).start()
    print("SMS gateway stand-in serving; for the site set:", flush=True)
    print("  SMS_BACKEND=http", flush=True)
    print(f"  SMS_GATEWAY_URL={gateway.url}", flush=True)
    print(f"  SMS_GATEWAY_TOKEN={gateway.token}", flush=True)
    print("Ctrl-C stops it.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        gateway.stop()


if __name__ == "__main__":
    main()
