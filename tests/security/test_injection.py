"""Injection probes on every search and filter field, and on every URL that takes text in its path.

The fields are found, not listed: the GET forms of every walked page (the filters of the screening log, the access
log, the audit trail, the data queries, the reminders, …), the query string of the sample address (the monitoring
pages that name their record), ``page`` where a page is paginated, and every ``request.GET`` read in the view's
own code. One test checks that every ``request.GET`` read anywhere in the application is among them.

Each field gets SQL injection (``' OR '1'='1``, ``1; DROP TABLE …``, ``%' --``), HTML and script, a path and format
strings, a NUL byte, and (for ``next``) addresses of another site. The page never fails (no 500), never lists more
rows than for an honest value that matches nothing (unless it refuses the value, with a message next to the field),
never shows the payload unescaped, and never redirects to another site.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import lxml.html
from django.test import Client
from django.urls import resolve, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from tests.security.conftest import PRINCIPALS, World, client_as, url_routes
from tests.security.html_forms import SHELL_ACTIONS

PROJECT_ROOT = Path(__file__).resolve().parents[2]
APPS = ("trial_site", "screening", "randomization", "visits", "safety", "reminders", "monitoring", "exports")

HONEST = "zz no such value"
PAYLOADS = (
    "' OR '1'='1",
    "1'; DROP TABLE screening_participant; --",
    "%' --",
    '"><script>alert(1)</script><img src=x onerror=alert(1)>',
    "../../../../etc/passwd%s%n{0}%(password)s",
    "a\x00b",
)
ELSEWHERE = ("https://evil.example/", "//evil.example/")
FIELD_ERRORS = ("is-invalid", "invalid-feedback", "errorlist")  # the filter was refused, with a message
IN_PATH = ("a\x00b", "' OR '1'='1", "<img src=x onerror=alert(1)>")

GET_READ = re.compile(r"""request\.GET(?:\.get)?[(\[]\s*["'](\w+)["']""")
GET_MEMBERS = re.compile(r"""\(((?:\s*["']\w+["']\s*,?)+)\)\s*if\s+\w+\s+in\s+request\.GET""")


def params_read_by(view: Any) -> set[str]:
    """The GET parameters the view reads itself, in its code or in the module's functions it calls (and those they
    call, in the same module)."""
    function = inspect.unwrap(view)
    module = inspect.getmodule(function)
    seen: dict[str, Any] = {}
    todo = [function]
    while todo:
        current = inspect.unwrap(todo.pop())
        if current.__qualname__ in seen:
            continue
        seen[current.__qualname__] = current
        for name in current.__code__.co_names:
            helper = getattr(module, name, None)
            if inspect.isfunction(helper) and inspect.unwrap(helper).__module__ == function.__module__:
                todo.append(helper)
    return _reads("\n".join(inspect.getsource(found) for found in seen.values()))


def _reads(source: str) -> set[str]:
    found = set(GET_READ.findall(source))
    for names in GET_MEMBERS.findall(source):
        found |= set(re.findall(r"\w+", names))
    return found


def get_form_fields(html: str) -> set[str]:
    if "<form" not in html:
        return set()
    fields = set()
    for form in lxml.html.fromstring(html).iter("form"):
        if (form.get("method") or "get").lower() != "get" or (form.get("action") or "").startswith(SHELL_ACTIONS):
            continue
        fields |= {element.get("name") for element in form.iter("input", "select", "textarea") if element.get("name")}
    return fields


def probes(world: World, walk: Any) -> list[tuple[str, str, str]]:
    """(URL name, principal, parameter) for every filter or search field of every page some principal opens."""
    found = []
    for name in url_routes():
        path = world.samples[name]
        principal = next((p for p in (*PRINCIPALS[1:], PRINCIPALS[0]) if walk[p, path].status == 200), None)
        if principal is None:
            continue
        html = walk[principal, path].html
        params = get_form_fields(html) | {key for key, _ in parse_qsl(urlsplit(path).query)}
        params |= params_read_by(resolve(path.partition("?")[0]).func)
        if "page=" in html:
            params.add("page")
        found += [(name, principal, param) for param in sorted(params)]
    return found


def _with(path: str, param: str, value: str) -> str:
    base, _, query = path.partition("?")
    return f"{base}?{urlencode({**dict(parse_qsl(query)), param: value})}"


def _rows(response: Any) -> int:
    return response.content.decode().count("<tr") if "html" in response.get("Content-Type", "") else 0


def test_every_get_parameter_the_application_reads_is_probed(world: World, walk: Any) -> None:
    probed = {param for _name, _principal, param in probes(world, walk)}
    read = set()
    for app in APPS:
        for source in (PROJECT_ROOT / app).rglob("*.py"):
            if "migrations" not in source.parts:
                read |= _reads(source.read_text())
    assert read, "no request.GET read found: the scan is broken"
    assert not read - probed, f"GET parameters read by the application but not probed: {sorted(read - probed)}"
    for filter_field in ("status", "site", "kind", "username", "user", "date_from", "field", "participant", "channel"):
        assert filter_field in probed, filter_field


def answering_errors(user: Any) -> Client:
    """A client that gets the 500 page back (as a browser would) instead of the exception."""
    client = client_as(user)
    client.raise_request_exception = False
    return client


def test_filter_and_search_fields_resist_injection(world: World, walk: Any) -> None:
    clients: dict[str, Client] = {}
    problems = []
    for name, principal, param in probes(world, walk):
        client = clients.setdefault(principal, answering_errors(world.user(principal)))
        path = world.samples[name]
        honest = client.get(_with(path, param, HONEST))
        assert honest.status_code < 500, (name, param)
        for payload in PAYLOADS + (ELSEWHERE if param == "next" else ()):
            response = client.get(_with(path, param, payload))
            where = f"{name} ?{param}={payload!r} as {principal}"
            if response.status_code >= 500:
                problems.append(f"{where}: {response.status_code}")
                continue
            body = response.content.decode(errors="replace") if not response.streaming else ""
            refused = response.status_code >= 400 or any(mark in body for mark in FIELD_ERRORS)
            if not refused and _rows(response) > _rows(honest):
                problems.append(f"{where}: {_rows(response)} table rows, {_rows(honest)} for an honest value")
            if "html" in response.get("Content-Type", "") and any(c in payload for c in "<>\"'") and payload in body:
                problems.append(f"{where}: the payload is on the page unescaped")
            if "root:x:0:0" in body or "<class " in body:
                problems.append(f"{where}: a file or an object leaked into the page")
            if response.status_code == 302 and not url_has_allowed_host_and_scheme(
                response["Location"], allowed_hosts={"testserver"}
            ):
                problems.append(f"{where}: redirects to {response['Location']}")
            if param == "next" and any(f'value="{address}"' in body for address in ELSEWHERE):
                problems.append(f"{where}: carries the foreign address on as its next page")
    assert not problems, problems


def test_text_in_the_url_path_is_never_a_server_error_nor_echoed_raw(world: World, walk: Any) -> None:
    """Participant numbers and site codes are text in the path: a NUL byte (PostgreSQL refuses it), a quote or
    markup there answers 4xx, like any number that does not exist."""
    problems, asked = [], 0
    for name, route in url_routes().items():
        text_params = re.findall(r"<str:(\w+)>", route)
        path = world.samples[name]
        principal = next((p for p in PRINCIPALS[1:] if walk[p, path].status == 200), None)
        if not text_params or principal is None:
            continue
        client = answering_errors(world.user(principal))
        kwargs = resolve(path.partition("?")[0]).kwargs
        for payload in IN_PATH:
            probe = reverse(name, kwargs={**kwargs, text_params[0]: payload})
            response = client.get(probe)
            asked += 1
            if not 400 <= response.status_code < 500:
                problems.append(f"{name} {probe}: {response.status_code}")
            elif "<" in payload and payload in response.content.decode(errors="replace"):
                problems.append(f"{name} {probe}: the payload is on the page unescaped")
    assert asked >= 40, asked
    assert not problems, problems
