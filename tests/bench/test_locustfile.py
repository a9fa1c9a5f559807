"""The load test's flows work against the application as it is: one full round of each role of
``bench/locustfile.py`` (coordinator, investigator, monitor) against a live server on a small generated trial,
with the plan ``bench/load.py`` makes. Every request succeeds, and each write the round makes is in the database
once, made by the account that made it: the load test would otherwise report errors of its own making, or count
writes that never happened.

The round runs in a child process: locust patches the standard library (gevent) when it is imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.generate import generate_trial
from bench.load import make_plan
from monitoring.models import DataQuery
from safety.models import AdverseEvent
from visits.crfs import LabPanel, VitalSigns

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.needs_postgres]

ROOT = Path(__file__).resolve().parents[2]
ONE_OF_EACH = {"coordinator": 1, "investigator": 1, "monitor": 1}


def one_round_of_each_role(live_server: Any, plan: dict[str, Any], tmp_path: Path) -> list[dict[str, str]]:
    """Run ``smoke`` of the locustfile in a child: every request of one round of each role, with its error."""
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(json.dumps(plan))
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "locustfile.py"), "--host", live_server.url],
        cwd=ROOT,
        env={**os.environ, "LOAD_PLAN": str(plan_path)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_round_of_each_role_succeeds_and_writes_once_and_fails_without_a_login(
    live_server: Any, tmp_path: Path
) -> None:
    """One test, not two: each transactional test pays for emptying the database afterwards."""
    generate_trial(30, sites=2, seed=3)
    plan = make_plan(password="a load test password", staff_per_site=ONE_OF_EACH)

    requests = one_round_of_each_role(live_server, plan, tmp_path)

    assert [r for r in requests if r["error"]] == []
    made = {(r["method"], r["name"]) for r in requests}
    assert {
        ("POST", "log in"),
        ("GET", "screening log"),
        ("GET", "CRF"),
        ("POST", "CRF save"),
        ("GET", "missing forms"),
        ("POST", "adverse event report"),
        ("GET", "safety summary"),
        ("GET", "audit trail"),
        ("POST", "query raise"),
        ("GET", "query"),
        ("GET", "site list"),
    } <= made

    # The first account of each role is the first site's (sites in code order): its round made the writes.
    first = {role: next(a for a in plan["accounts"] if a["role"] == role) for role in ONE_OF_EACH}
    corrected = [
        row
        for model in (LabPanel, VitalSigns)
        for row in model.history.filter(history_change_reason=plan["reason"]).select_related("history_user")
    ]
    assert [row.history_user.username for row in corrected] == [first["coordinator"]["username"]]
    assert corrected[0].status == "complete"  # corrected with a reason, still complete
    # One value corrected, the one the locustfile corrects on that form (bench/locustfile.py CORRECTIONS).
    assert corrected[0].diff_against(corrected[0].prev_record).changed_fields in (["albumin_g_l"], ["height_cm"])
    events = AdverseEvent.objects.filter(description=plan["ae_description"]).select_related("created_by")
    assert [(e.created_by.username, e.serious) for e in events] == [(first["coordinator"]["username"], False)]
    raised = DataQuery.objects.filter(message=plan["query_message"]).select_related("raised_by")
    assert [query.raised_by.username for query in raised] == [first["monitor"]["username"]]

    # With a wrong password nothing is saved and the pages send the user to log in: each of those is a failure, so
    # the load test cannot count a form shown again, or the login page instead of the one asked for, as a success.
    refused = one_round_of_each_role(live_server, {**plan, "password": "not the password"}, tmp_path)

    assert all(r["error"] == "" for r in refused if r["name"] == "login page")
    logins = [r["error"] for r in refused if r["name"] == "log in"]
    assert len(logins) == 3
    assert all(error.startswith("not saved: That username and password do not match") for error in logins)
    pages = [r for r in refused if r["name"] not in ("login page", "log in")]
    assert {r["name"] for r in pages} >= {"screening log", "participant visits", "audit trail", "site list"}
    assert all("redirected to /accounts/login/" in r["error"] for r in pages)
    assert DataQuery.objects.filter(message=plan["query_message"]).count() == 1
