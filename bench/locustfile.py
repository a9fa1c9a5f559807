"""The load test's staff: coordinators, investigators and monitors working through the application over HTTP.

Run by ``bench/load.py`` (which makes the database, the accounts and the plan, and starts gunicorn); by hand::

    LOAD_PLAN=var/bench/load/plan.json LOAD_WARM_UP=30 .venv/bin/locust -f bench/locustfile.py --headless \\
        -u 50 -r 10 -t 90s --host http://127.0.0.1:8000

Each virtual user takes an account of its role from the plan (``LOAD_PLAN``: the password, and per account its
site and its own share of that site's participants and forms, so two users never edit the same form at once),
logs in through the login form with its CSRF token, and then repeats its round until the end, with a think time
of 1–3 s between pages (a person reads a page for longer; the compressed pace makes 50 users a real load):

- **coordinators** (26 of 50): the participant's visits page, a case report form of a done visit (the laboratory
  panel or the vital signs), saved with one value corrected and a reason for change (it is complete, so the
  reason is required), back to the visits page, the missing-forms page; every fourth round the screening log
  first, and every fourth round (another one) an adverse event (grade 1, not serious) reported on the
  participant's safety page;
- **investigators** (20): a participant's screening summary, allocation, visits page and adverse events, the open
  SAE reports and laboratory alerts, the safety summary by arm;
- **monitors** (4): a participant's audit trail, the query list, a query raised on a form of that participant (the
  raise form, the POST, the new query's page).

Every user also opens the site list once a round: a trivial logged-in page, whose time under load is the wait for
a free worker. A page fails unless it answers 200 (a redirect to the login page is a failure); a form POST fails
unless it redirects where the saved form leads (a form shown again with errors fails, with the errors as the
failure's message).

With ``LOAD_WARM_UP`` (seconds) the statistics are reset that long after the start: ``bench/load.py`` gives the
users 30 s to start and log in, then measures 60 s of work. With ``LOAD_ALONE=1`` there is one user of each role
(``-u 3``) and every round does every step: the pages' figures without contention, the baseline of the load
test. With ``LOAD_WRITES`` (a path) the POSTs of each kind sent, and those that succeeded, over the whole run are
written there at the end (a POST still on its way when locust stops is sent but neither succeeded nor failed).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode, urlsplit

import gevent
from locust import between, events, task
from locust.contrib.fasthttp import FastHttpUser

TRIVIAL_PAGE = "site list"
# A coordinator opens the screening log and reports an adverse event every fourth round (not in the same round).
EVERY = 4
SCREENING_LOG_ROUND, ADVERSE_EVENT_ROUND = 0, 2
# Seconds from the start during which the users start and log in; then the statistics are reset, so that the
# figures are of the staff at work (LOAD_WARM_UP, set by bench/load.py; 0: no reset).
WARM_UP = float(os.environ.get("LOAD_WARM_UP", "0"))


# LOAD_ALONE: one user of each role, each round doing every step: the figures of the pages without contention.
ALONE = os.environ.get("LOAD_ALONE", "") == "1"
# The POSTs sent ("sent <name>") and those that succeeded ("<name>") over the whole run, warm-up included (never
# reset): written at the end to LOAD_WRITES for bench/load.py, which compares them with the rows the database gained.
WRITES: Counter[str] = Counter()


@events.test_start.add_listener
def reset_after_warm_up(environment: Any, **_kwargs: Any) -> None:
    if WARM_UP > 0:
        gevent.spawn_later(WARM_UP, environment.stats.reset_all)


@events.test_stop.add_listener
def write_the_writes(**_kwargs: Any) -> None:
    if os.environ.get("LOAD_WRITES"):
        with open(os.environ["LOAD_WRITES"], "w") as out:
            json.dump(WRITES, out)


FORM_ENCODED = {"Content-Type": "application/x-www-form-urlencoded"}
# The yes/no questions of the adverse event form: each starts empty and is answered "No" by the coordinator.
YES_NO_QUESTIONS = (
    "serious_death", "serious_life_threatening", "serious_hospitalisation", "serious_disability",
    "serious_congenital_anomaly", "serious_important_medical_event", "expected",
)  # fmt: skip
# The value each CRF's correction changes, with its step and the range it stays in (inside the hard limits, clear
# of the soft limits and of the laboratory hold rules, so that no confirmation or alert is needed).
CORRECTIONS: dict[str, tuple[str, float, float, float]] = {
    "labs": ("albumin_g_l", 1.0, 20.0, 55.0),
    "vitals": ("height_cm", 1.0, 130.0, 200.0),
}


# --- HTML forms, read as a browser reads them ----------------------------------------------------------------


@dataclass
class HtmlForm:
    """A form of a page: where it posts, and the values a browser would send as it stands."""

    action: str
    method: str
    fields: dict[str, list[str]] = field(default_factory=dict)
    options: dict[str, list[str]] = field(default_factory=dict)  # the choices of each select

    def set(self, name: str, value: str) -> None:
        self.fields[name] = [value]

    def value(self, name: str) -> str:
        return (self.fields.get(name) or [""])[0]

    def encoded(self, **extra: str) -> str:
        pairs = [(name, value) for name, values in self.fields.items() for value in values]
        return urlencode(pairs + list(extra.items()))


class _FormReader(HTMLParser):
    """Collects every form of a page: inputs (checked boxes only), selects (the selected or first option),
    textareas; not the submit buttons (the caller says which one it presses)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[HtmlForm] = []
        self._form: HtmlForm | None = None
        self._select: str | None = None
        self._selected: list[str] = []
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attributes: list[tuple[str, str | None]]) -> None:
        attrs = {key: value or "" for key, value in attributes}
        if tag == "form":
            self._form = HtmlForm(action=attrs.get("action", ""), method=attrs.get("method", "get").lower())
            self.forms.append(self._form)
            return
        form, name = self._form, attrs.get("name", "")
        if form is None or (not name and tag != "option"):
            return
        if tag == "input":
            kind = attrs.get("type", "text").lower()
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                form.fields.setdefault(name, [])
                return
            form.fields.setdefault(name, []).append(attrs.get("value", "on" if kind in ("checkbox", "radio") else ""))
        elif tag == "select":
            self._select, self._selected = name, []
            form.options[name] = []
        elif tag == "option" and self._select is not None:
            form.options[self._select].append(attrs.get("value", ""))
            if "selected" in attrs:
                self._selected.append(attrs.get("value", ""))
        elif tag == "textarea":
            self._textarea, self._text = name, []

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        form = self._form
        if tag == "form":
            self._form = None
        elif tag == "select" and form is not None and self._select is not None:
            choices = form.options[self._select]
            form.fields[self._select] = self._selected or choices[:1]
            self._select = None
        elif tag == "textarea" and form is not None and self._textarea is not None:
            form.fields[self._textarea] = ["".join(self._text).removeprefix("\n")]
            self._textarea = None


def form_with(html: str, field_name: str) -> HtmlForm:
    """The POST form of the page that has the field ``field_name`` (a LookupError names what is missing)."""
    reader = _FormReader()
    reader.feed(html)
    for form in reader.forms:
        if form.method == "post" and field_name in form.fields:
            return form
    raise LookupError(f"no form with the field {field_name!r} on the page")


def error_messages(html: str) -> str:
    """The error messages of a form shown again (Bootstrap's invalid-feedback and the alerts), for the report."""
    found = re.findall(r'class="[^"]*(?:invalid-feedback|alert-danger|errorlist)[^"]*"[^>]*>(.*?)</', html, re.S)
    text = "; ".join(" ".join(re.sub(r"<[^>]+>", " ", item).split()) for item in found)
    return text[:300] or "the form was shown again"


# --- the plan: accounts and their work -----------------------------------------------------------------------


def _plan() -> dict[str, Any]:
    with open(os.environ["LOAD_PLAN"]) as plan:
        return json.load(plan)


PLAN = _plan() if os.environ.get("LOAD_PLAN") else {"password": "", "accounts": []}
_ACCOUNTS: dict[str, Iterator[dict[str, Any]]] = {}


def next_account(role: str) -> dict[str, Any]:
    """The next account of ``role`` (round-robin: with more users than accounts, accounts are shared)."""
    if role not in _ACCOUNTS:
        accounts = [account for account in PLAN["accounts"] if account["role"] == role]
        if not accounts:
            raise RuntimeError(f"the plan has no {role} account")
        _ACCOUNTS[role] = itertools.cycle(accounts)
    return next(_ACCOUNTS[role])


# --- the users -----------------------------------------------------------------------------------------------


class StaffUser(FastHttpUser):
    """A member of staff: logs in once, then works round after round (the ``task`` of each role)."""

    abstract = True
    role = ""
    wait_time = between(1, 3)

    def on_start(self) -> None:
        self.account = next_account(self.role)
        self.rounds = random.randrange(EVERY)  # users start at different points of their cycle, not all in step
        self.every_step = ALONE  # the tests' one round, and the users alone, do every step of the role
        self.log_in()

    # --- requests, checked ---

    def page(self, path: str, name: str) -> str:
        """GET a page: it must answer 200 (a redirect, to the login page say, is a failure). Returns the HTML, or
        '' after a failure."""
        with self.client.get(path, name=name, allow_redirects=False, catch_response=True) as response:
            if response.status_code != 200:
                where = urlsplit(response.headers.get("Location") or "").path
                response.failure(f"{response.status_code} for {path}" + (f", redirected to {where}" if where else ""))
                return ""
            return response.text or ""

    def submit(self, path: str, form: HtmlForm, name: str, *, expect: str, **extra: str) -> str | None:
        """POST a form; it must redirect (302) to a path matching the regular expression ``expect``.

        Returns the path it redirected to (None on failure)."""
        WRITES[f"sent {name}"] += 1
        with self.client.post(
            path, data=form.encoded(**extra), headers=FORM_ENCODED, name=name, allow_redirects=False,
            catch_response=True,
        ) as response:  # fmt: skip
            location = urlsplit(response.headers.get("Location") or "").path
            if response.status_code == 200:
                response.failure(f"not saved: {error_messages(response.text or '')}")
            elif response.status_code != 302 or not re.fullmatch(expect, location):
                response.failure(f"{response.status_code} to {location!r}, expected a redirect to {expect}")
            else:
                WRITES[name] += 1
                return location
        return None

    def think(self) -> None:
        """The pause between two pages of a round (``wait_time``; locust's own ``wait`` needs a running task)."""
        gevent.sleep(self.wait_time())

    def log_in(self) -> None:
        html = self.page("/accounts/login/", "login page")
        if not html:
            return
        form = form_with(html, "username")
        form.set("username", self.account["username"])
        form.set("password", PLAN["password"])
        if self.submit("/accounts/login/", form, "log in", expect="/"):
            self.page("/", "home (dashboard)")

    def trivial_page(self) -> None:
        self.page("/sites/", TRIVIAL_PAGE)

    def participant(self) -> str:
        return random.choice(self.account["participants"])


class Coordinator(StaffUser):
    """Enters and corrects case report forms, watches missing forms, reports adverse events."""

    weight = 26
    fixed_count = 1 if ALONE else 0
    role = "coordinator"

    @task
    def round(self) -> None:
        self.rounds += 1
        crf = self.account["forms"][self.rounds % len(self.account["forms"])]
        number = crf["number"]
        if self.every_step or self.rounds % EVERY == SCREENING_LOG_ROUND:
            self.page("/screening/", "screening log")
            self.think()
        self.page(f"/visits/participants/{number}/", "participant visits")
        self.think()
        self.correct_crf(crf)
        self.think()
        self.page("/visits/missing-forms/", "missing forms")
        self.think()
        if self.every_step or self.rounds % EVERY == ADVERSE_EVENT_ROUND:
            self.report_adverse_event(number)
            self.think()
        self.trivial_page()

    def correct_crf(self, crf: dict[str, Any]) -> None:
        path = f"/visits/{crf['visit']}/forms/{crf['form']}/"
        html = self.page(path, "CRF")
        if not html:
            return
        name, step, low, high = CORRECTIONS[crf["form"]]
        form = form_with(html, name)
        current = float(form.value(name) or (low + high) / 2)
        corrected = current + step if current + step <= high else current - step
        form.set(name, f"{max(low, corrected):g}")
        # A complete form asks for a reason for change (and stays complete); a draft is saved as a draft.
        complete = "1" if "reason_for_change" in form.fields else "0"
        if complete == "1":
            form.set("reason_for_change", PLAN["reason"])
        self.think()
        visit_page = f"/visits/{crf['visit']}/"  # a saved form returns to its visit's page
        if self.submit(path, form, "CRF save", expect=re.escape(visit_page), complete=complete):
            self.page(visit_page, "visit")

    def report_adverse_event(self, number: str) -> None:
        path = f"/safety/participants/{number}/"
        html = self.page(path, "adverse events")
        if not html:
            return
        form = form_with(html, "description")
        form.set("description", PLAN["ae_description"])
        form.set("onset_date", (date.today() - timedelta(days=1)).isoformat())  # yesterday: never "in the future"
        form.set("grade", "1")
        for choice in ("relationship", "action_taken"):  # the first real choice of each list
            form.set(choice, next(value for value in form.options[choice] if value))
        # Nothing is chosen for the user (no silent defaults): a non-serious event, not expected, still ongoing.
        for question in YES_NO_QUESTIONS:
            form.set(question, "False")
        form.set("ongoing", "True")
        form.set("outcome", "not_recovered")
        self.think()
        if self.submit(path, form, "adverse event report", expect=re.escape(path)):
            self.page(path, "adverse events")


class Investigator(StaffUser):
    """Reviews participants and safety: screening summary, allocation, visits, adverse events, the summary."""

    weight = 20
    fixed_count = 1 if ALONE else 0
    role = "investigator"

    @task
    def round(self) -> None:
        number = self.participant()
        for path, name in (
            (f"/screening/{number}/", "participant summary"),
            (f"/randomization/participants/{number}/", "allocation"),
            (f"/visits/participants/{number}/", "participant visits"),
            (f"/safety/participants/{number}/", "adverse events"),
            ("/safety/", "safety (open SAE reports, alerts)"),
            ("/safety/summary/", "safety summary"),
        ):
            self.page(path, name)
            self.think()
        self.trivial_page()


class Monitor(StaffUser):
    """Reviews a participant's audit trail and the queries, and raises a query on a form."""

    weight = 4
    fixed_count = 1 if ALONE else 0
    role = "monitor"

    @task
    def round(self) -> None:
        self.rounds += 1
        crf = self.account["forms"][self.rounds % len(self.account["forms"])]
        self.page(f"/monitoring/audit/participants/{crf['number']}/", "audit trail")
        self.think()
        self.page("/monitoring/queries/", "query list")
        self.think()
        self.raise_query(crf)
        self.think()
        self.trivial_page()

    def raise_query(self, crf: dict[str, Any]) -> None:
        path = f"/monitoring/queries/raise/?form={crf['label']}&object={crf['id']}"
        html = self.page(path, "query raise form")
        if not html:
            return
        form = form_with(html, "message")
        form.set("field", CORRECTIONS[crf["form"]][0])
        form.set("message", PLAN["query_message"])
        self.think()
        location = self.submit(path, form, "query raise", expect=r"/monitoring/queries/\d+/")
        if location:
            self.page(location, "query")


# --- one round of each role, for the tests -------------------------------------------------------------------


def smoke(host: str) -> list[dict[str, str]]:
    """One full round of each role against ``host``, without think time (the coordinator's round includes the
    screening log and an adverse event). Returns every request made, with its error ('' when it succeeded)."""
    from locust.env import Environment

    made: list[dict[str, str]] = []

    def record(request_type: str, name: str, exception: BaseException | None = None, **_details: Any) -> None:
        made.append({"method": request_type, "name": name, "error": "" if exception is None else str(exception)})

    roles = (Coordinator, Investigator, Monitor)
    environment = Environment(user_classes=list(roles))
    environment.events.request.add_listener(record)
    for role in roles:
        role.host = host
        user = role(environment)
        user.wait_time = lambda: 0
        user.on_start()
        user.every_step = True
        user.round()
    return made


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="One round of each role against a server (LOAD_PLAN: the plan).")
    parser.add_argument("--host", required=True)
    print(json.dumps(smoke(parser.parse_args().host)))
