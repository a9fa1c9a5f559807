"""Gunicorn with real sync worker processes on the test database, a member of staff's browser over HTTP, and
requests released at the same instant: what the race and double-submit tests are built from.

- ``launch`` starts ``gunicorn trial_site.wsgi`` (as the Dockerfile does: sync workers, no preload) on a listening
  socket made here and handed over as ``fd://``, so the address is known before it starts and no other process
  can take the port. Everything the server writes (its log, the access log, Django's log) goes to one file.
- Every request a ``StaffSession`` sends carries a unique ``X-Test-Request`` header that the access log records
  with the pid of the worker that served it: ``GunicornServer.worker_pid_of(response)``.
- ``fire_together`` releases callables at once from a barrier. A sync worker serves one request at a time, so
  requests in flight together are served by different processes (at most as many as there are workers).
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import lxml.html
import psutil
import requests

from tests.processes import CONFIGURATION_VARIABLES, PROJECT_ROOT

T = TypeVar("T")

WAIT_SECONDS = 90  # a generous bound on waiting for an event; never a measure of speed
STOP_SECONDS = 30
SETTINGS_MODULE = "tests.http.server_settings"
LOGIN_PATH = "/accounts/login/"
REQUEST_ID_HEADER = "X-Test-Request"
ACCESS_FORMAT = 'ACCESS %(p)s %({x-test-request}i)s "%(r)s" %(s)s'
ACCESS_LINE = re.compile(r'^ACCESS <(?P<pid>\d+)> (?P<id>\S+) "(?P<method>\S+) (?P<target>\S+)[^"]*" (?P<status>\d+)$')
# Besides CONFIGURATION_VARIABLES: what a developer's shell may carry that would send the server's mail, SMS,
# Celery messages or files somewhere else. PYTEST_XDIST_WORKER would make the test settings move REDIS_URL to
# another Redis database a second time (it is moved already in this process).
NOT_INHERITED = frozenset(
    {"VAR_DIR", "EXPORT_ROOT", "EXPORT_SPOOL_DIR", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "SAFETY_CONTACTS"}
)
# A developer's shell must not point a test's server at a real bucket (EXPORT_S3_*, AWS_*).
NOT_INHERITED_PREFIXES = ("EMAIL_", "SMS_", "CELERY_", "PYTEST_", "EXPORT_S3_", "AWS_")

FormData = dict[str, str | list[str]]


def wait_for(event: Callable[[], T], what: str, *, log: Path | None = None, seconds: float = WAIT_SECONDS) -> T:
    """Poll ``event`` until it returns something true, and return that; fail saying ``what`` did not happen
    (with the server's log, if given) after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not (value := event()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {seconds} s{_log_text(log)}")
        time.sleep(0.05)
    return value


def _log_text(log: Path | None) -> str:
    if log is None or not log.exists():
        return ""
    return f"\n--- {log} ---\n{log.read_text(errors='replace')}"


def server_environment(
    *,
    database_url: str,
    var_dir: Path,
    redis_url: str = "",
    smtp: tuple[str, int] | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The server's environment: this process's, without its configuration, plus the test database, the test
    settings (Celery tasks run eagerly in the worker that queued them), DEBUG and two-factor off, its own VAR_DIR
    and secret key, the test's Redis database if it has one, and e-mail over SMTP to ``smtp`` (host, port)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in CONFIGURATION_VARIABLES | NOT_INHERITED and not key.startswith(NOT_INHERITED_PREFIXES)
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
            "DATABASE_URL": database_url,
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DEBUG": "false",
            "TWO_FACTOR_REQUIRED": "false",
            "VAR_DIR": str(var_dir),
            "PYTHONUNBUFFERED": "1",
        }
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    if smtp is not None:
        host, port = smtp
        env.update(
            EMAIL_HOST=host, EMAIL_PORT=str(port), EMAIL_USE_TLS="false", EMAIL_HOST_USER="", EMAIL_HOST_PASSWORD=""
        )
    env.update(extra or {})
    return env


@dataclass(frozen=True)
class AccessEntry:
    """One line of the access log: the worker that served a request, and what it answered."""

    pid: int
    request_id: str  # the X-Test-Request header ("-" without one)
    method: str
    target: str  # path and query string
    status: int


class GunicornServer:
    """A running gunicorn: its master, its workers (read from the process tree) and its log."""

    def __init__(self, process: subprocess.Popen[bytes], *, url: str, log: Path, workers: int, var_dir: Path) -> None:
        self.process, self.url, self.log, self.workers, self.var_dir = process, url, log, workers, var_dir
        self._seen: dict[int, psutil.Process] = {}  # every worker seen, to be sure none outlives the server

    @property
    def master_pid(self) -> int:
        return self.process.pid

    def worker_pids(self) -> list[int]:
        """The live workers: the master's children that are not zombies (a killed worker before it is reaped)."""
        try:
            children = psutil.Process(self.master_pid).children()
        except psutil.NoSuchProcess:
            return []
        live = []
        for child in children:
            try:
                if child.status() != psutil.STATUS_ZOMBIE:
                    live.append(child)
            except psutil.NoSuchProcess:
                continue
        self._seen.update((child.pid, child) for child in live)
        return sorted(child.pid for child in live)

    def wait_for_workers(self, n: int | None = None, *, without: Sequence[int] = ()) -> list[int]:
        """Wait until exactly ``n`` (default: as many as started) workers run, none of them in ``without``; their
        pids. A new worker may still be importing the application: requests meanwhile go to the others."""
        count = self.workers if n is None else n

        def ready() -> list[int] | None:
            self._check_running()
            pids = self.worker_pids()
            return pids if len(pids) == count and not set(pids) & set(without) else None

        return wait_for(ready, f"gunicorn running {count} workers (not {list(without)})", log=self.log)

    def kill_worker(self, pid: int, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to one worker; after SIGKILL, return once it is dead (gunicorn then starts another)."""
        assert pid in self.worker_pids(), f"{pid} is not a worker of this gunicorn ({self.worker_pids()})"
        process = self._seen[pid]
        os.kill(pid, sig)
        if sig == signal.SIGKILL:
            wait_for(lambda: _is_gone(process), f"worker {pid} dying of SIGKILL", log=self.log)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def access_log(self) -> list[AccessEntry]:
        entries = []
        for line in self.log_text().splitlines():
            if match := ACCESS_LINE.match(line):
                entries.append(
                    AccessEntry(
                        pid=int(match["pid"]),
                        request_id=match["id"],
                        method=match["method"],
                        target=match["target"],
                        status=int(match["status"]),
                    )
                )
        return entries

    def worker_pid_of(self, response: requests.Response) -> int:
        """The pid of the worker that served ``response`` (a StaffSession's), from the access log. Gunicorn logs a
        request after sending the response, so this waits for the line."""
        request_id = response.request.headers.get(REQUEST_ID_HEADER)
        assert request_id, f"the request for {response.url} carries no {REQUEST_ID_HEADER} header"
        target = response.request.path_url

        def entry() -> AccessEntry | None:
            return next((e for e in self.access_log() if e.request_id == request_id and e.target == target), None)

        return wait_for(entry, f"the access log line of {target} ({request_id})", log=self.log).pid

    def session(self) -> StaffSession:
        """A new browser (no cookies) for this server."""
        return StaffSession(self.url)

    def login(self, user: Any, password: str | None = None) -> StaffSession:
        """A new browser logged in as ``user`` (a user or a username) through the login form."""
        from tests.factories import DEFAULT_PASSWORD

        session = self.session()
        session.login(getattr(user, "username", user), password or DEFAULT_PASSWORD)
        return session

    def stop(self) -> None:
        """SIGTERM to the master (workers finish their request), then SIGKILL to whatever of it is left."""
        family = [*self._seen.values()]
        try:
            master = psutil.Process(self.master_pid)
            family += [master, *master.children(recursive=True)]
        except psutil.NoSuchProcess:
            pass
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for process in family:
            try:
                if process.is_running():
                    process.kill()
            except psutil.NoSuchProcess:
                continue
        psutil.wait_procs(family, timeout=STOP_SECONDS)

    def _check_running(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError(f"gunicorn exited with code {self.process.returncode}{_log_text(self.log)}")

    def wait_until_up(self) -> None:
        """Wait until the login page answers 200 and all the workers run; fail with the log otherwise."""

        def answers() -> bool:
            self._check_running()
            try:
                response = requests.get(self.url + LOGIN_PATH, timeout=5, allow_redirects=False)
            except requests.RequestException:
                return False
            assert response.status_code == 200, f"{LOGIN_PATH} answered {response.status_code}{_log_text(self.log)}"
            return True

        wait_for(answers, f"gunicorn answering on {self.url}", log=self.log)
        self.wait_for_workers()


def _is_gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def launch(
    *,
    database_url: str,
    directory: Path,
    workers: int = 3,
    env: Mapping[str, str] | None = None,
    smtp: tuple[str, int] | None = None,
    redis_url: str = "",
    timeout: int = 120,
) -> GunicornServer:
    """Start gunicorn with ``workers`` sync workers on loopback and wait until it answers. ``directory`` holds its
    log (``gunicorn.log``) and its VAR_DIR (``var/``); ``env`` is added to (and overrides) its environment;
    ``timeout`` is gunicorn's worker timeout (generous: a test may hold a request at a lock)."""
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "gunicorn.log"
    environment = server_environment(
        database_url=database_url, var_dir=directory / "var", redis_url=redis_url, smtp=smtp, extra=env
    )
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        fd = listener.fileno()
        command = [
            *(sys.executable, "-m", "gunicorn", "trial_site.wsgi:application", "--bind", f"fd://{fd}"),
            *("--workers", str(workers), "--worker-class", "sync", "--timeout", str(timeout)),
            *("--graceful-timeout", "10", "--no-control-socket", "--log-level", "info", "--error-logfile", "-"),
            *("--access-logfile", "-", "--access-logformat", ACCESS_FORMAT),
        ]
        with log.open("ab") as output:
            process = subprocess.Popen(
                command, cwd=PROJECT_ROOT, env=environment, stdout=output, stderr=subprocess.STDOUT, pass_fds=(fd,)
            )
        url = "http://{}:{}".format(*listener.getsockname())
    server = GunicornServer(process, url=url, log=log, workers=workers, var_dir=directory / "var")
    try:
        server.wait_until_up()
    except BaseException:
        server.stop()
        raise
    return server


# --- the browser ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HtmlForm:
    action: str  # as written in the page ("" posts to the page itself)
    method: str
    fields: FormData


def html_form(html: str, form: int | str = 0, *, button: str | None = None) -> HtmlForm:
    """A form of a page and the body a browser would post: hidden and visible inputs with their values, checked
    checkboxes and radios, selected options (the first when none is), textareas and the first named submit button
    (or the one named, or valued, ``button``). ``form``: the index among the forms of the page's ``<main>`` (not
    the header's logout and the footer's language forms), or an XPath expression (``//form[@id='x']``)."""
    document = lxml.html.fromstring(html)
    if isinstance(form, str):
        found = document.xpath(form)
        assert found, f"no form matches {form!r}"
        element = found[0]
    else:
        main = document.find(".//main")
        forms = (main if main is not None else document).xpath(".//form")
        assert len(forms) > form, f"the page has {len(forms)} forms in <main>, not {form + 1}"
        element = forms[form]
    pairs: list[tuple[str, str]] = []
    pressed = False
    for field in element.xpath(".//input | .//select | .//textarea | .//button"):
        name, kind = field.get("name"), (field.get("type") or "").lower()
        if not name or field.get("disabled") is not None:
            continue
        if field.tag == "select":
            options = field.xpath(".//option")
            chosen = [o for o in options if o.get("selected") is not None] or options[:1]
            if field.get("multiple") is not None:
                chosen = [o for o in options if o.get("selected") is not None]
            pairs += [(name, o.get("value", o.text_content().strip())) for o in chosen]
        elif field.tag == "textarea":
            pairs.append((name, field.text or ""))
        elif field.tag == "button" or kind in {"submit", "image"}:
            if field.tag == "button" and kind not in {"", "submit"}:
                continue
            value = field.get("value", "")
            if not pressed and (button is None or button in {name, value}):
                pairs.append((name, value))
                pressed = True
        elif kind in {"checkbox", "radio"}:
            if field.get("checked") is not None:
                pairs.append((name, field.get("value", "on")))
        elif kind not in {"file", "reset"}:
            pairs.append((name, field.get("value", "")))
    assert button is None or pressed, f"the form has no submit button named or valued {button!r}"
    fields: FormData = {}
    for name, value in pairs:
        previous = fields.get(name)
        if previous is None:
            fields[name] = value
        else:
            fields[name] = [*(previous if isinstance(previous, list) else [previous]), value]
    return HtmlForm(action=element.get("action") or "", method=(element.get("method") or "get").lower(), fields=fields)


def form_fields(html: str, form: int | str = 0, *, button: str | None = None) -> FormData:
    """What a browser would post from a form of the page (see ``html_form``), the CSRF token included."""
    return html_form(html, form, button=button).fields


class StaffSession:
    """A browser for one member of staff: its own cookies (session and CSRF), paths relative to the server.
    Redirects are not followed unless asked (``follow=True``). ``http`` is the underlying requests.Session."""

    def __init__(self, base_url: str, *, timeout: float = WAIT_SECONDS) -> None:
        self.base_url, self.timeout = base_url.rstrip("/"), timeout
        self.http = requests.Session()
        self.http.headers["Accept-Language"] = "en"
        self.username = ""

    def url(self, path: str) -> str:
        return urljoin(self.base_url + "/", path)

    def request(self, method: str, path: str, *, follow: bool = False, **kwargs: Any) -> requests.Response:
        headers = {REQUEST_ID_HEADER: uuid.uuid4().hex, **kwargs.pop("headers", {})}
        kwargs.setdefault("timeout", self.timeout)
        return self.http.request(method, self.url(path), headers=headers, allow_redirects=follow, **kwargs)

    def get(self, path: str, *, follow: bool = False, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, follow=follow, **kwargs)

    def post(
        self,
        path: str,
        data: Mapping[str, str | list[str]] | None = None,
        *,
        from_page: str | requests.Response | None = None,
        follow: bool = False,
        **kwargs: Any,
    ) -> requests.Response:
        """POST ``data`` to ``path`` with a CSRF token: the one in ``data``, else the page's (``from_page``: a
        response already opened, or a path to open now), else the CSRF cookie, else the token of ``path`` opened
        first. Logging in rotates the token: a page opened before it carries a token that no longer works."""
        body = dict(data or {})
        if "csrfmiddlewaretoken" not in body:
            body["csrfmiddlewaretoken"] = self.csrf_token(from_page, fallback=path)
        return self.request("POST", path, data=body, follow=follow, **kwargs)

    def submit(
        self, page: requests.Response, form: int | str = 0, *, button: str | None = None, **changes: str | list[str]
    ) -> requests.Response:
        """Post a form of an opened page back as the page carried it (hidden fields included), with ``changes``."""
        found = html_form(page.text, form, button=button)
        assert found.method == "post", f"the form posts with {found.method}, not post"
        action = urlsplit(urljoin(page.url, found.action))
        return self.post(action.path + (f"?{action.query}" if action.query else ""), {**found.fields, **changes})

    def csrf_token(self, page: str | requests.Response | None = None, *, fallback: str = LOGIN_PATH) -> str:
        if isinstance(page, str):
            page = self.get(page)
        if page is not None and (token := _page_token(page.text)):
            return token
        if token := self.http.cookies.get("csrftoken"):
            return token
        opened = self.get(fallback)
        token = _page_token(opened.text) or self.http.cookies.get("csrftoken")
        assert token, f"no CSRF token: no cookie, and {fallback} ({opened.status_code}) carries none"
        return token

    def login(self, username: str, password: str) -> requests.Response:
        """Log in through the login form (username, password, its CSRF token); fail with the page's error."""
        page = self.get(LOGIN_PATH)
        assert page.status_code == 200, f"{LOGIN_PATH} answered {page.status_code}"
        response = self.submit(page, "//form[.//input[@name='password']]", username=username, password=password)
        if response.status_code != 302 or "sessionid" not in self.http.cookies:
            errors = lxml.html.fromstring(response.text).xpath("//main//*[contains(@class, 'alert')]")
            said = " ".join(" ".join(e.text_content().split()) for e in errors) or response.text[:500]
            raise AssertionError(f"login as {username} failed ({response.status_code}): {said}")
        self.username = username
        return response

    def twin(self) -> StaffSession:
        """A second tab of the same browser: the same cookies (the same login), its own connection."""
        other = StaffSession(self.base_url, timeout=self.timeout)
        other.http.cookies.update(self.http.cookies)
        other.username = self.username
        return other


def _page_token(html: str) -> str | None:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    return found[1] if found else None


# --- races ----------------------------------------------------------------------------------------------------


def fire_together(
    callables: Sequence[Callable[[], T]] | Callable[[], T], *, n_threads: int | None = None
) -> list[T | Exception]:
    """Run the callables in threads released together by a barrier; their results, or the exception each raised,
    in order. One callable with ``n_threads``: that callable ``n_threads`` times."""
    if callable(callables):
        assert n_threads, "one callable: say how many times with n_threads"
        jobs = [callables] * n_threads
    else:
        jobs = list(callables)
        assert n_threads in {None, len(jobs)}, f"{len(jobs)} callables for {n_threads} threads"
    barrier = threading.Barrier(len(jobs))
    outcomes: list[T | Exception] = [AssertionError("did not run")] * len(jobs)

    def run(index: int, job: Callable[[], T]) -> None:
        try:
            barrier.wait(WAIT_SECONDS)
            outcomes[index] = job()
        except Exception as error:
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=(i, job), daemon=True) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + WAIT_SECONDS * 2
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0))
    still = [i for i, thread in enumerate(threads) if thread.is_alive()]
    assert not still, f"callables {still} were still running after {WAIT_SECONDS * 2} s"
    return outcomes
