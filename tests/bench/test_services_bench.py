"""The services benchmark (bench/services.py) keeps working: each scenario runs at a tiny size on a generated
trial and its own checks hold, and the report judges each criterion. No timing is asserted (benchmarks report
ratios; tests never hold a wall-clock limit)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from bench.generate import generate_trial
from bench.services_crf import crf_save_with_vs_without
from bench.services_export import export_vs_copy
from bench.services_randomise import randomise_prepare, randomise_run
from bench.services_reminders import sweep_vs_claim
from bench.services_report import report, verdicts

MEASURED: dict[str, Any] = {
    "participants": 5000,
    "export": {
        "participants": 5000, "repetitions": 2, "seconds": {"export": 3.0, "copy": 1.2, "copy_zip": 2.3},
        "rows": {"export": 195607, "copy": 195607, "copy_zip": 195607}, "export_bytes": 2272947,
        "copy_bytes": 15148937, "odm": {"seconds": 6.0, "rows": 223921, "bytes": 185323897},
    },
    "sweep": {
        "due": 10000, "other_reminders": 40812, "repetitions": 3, "sweep_seconds": 0.6, "claim_seconds": 0.3,
        "handoff_seconds": 0.1, "problems": [], "claim_rows": 10000, "claims": 11, "messages": 100,
        "message_batch": 100, "handed_out": 10000,
    },
    "randomise": {
        "randomisations": 100, "workers": 4,
        "runs": {
            "concurrent": [{"seconds": 10.0, "problems": [], "errors": []}],
            "sequential": [{"seconds": 14.0, "problems": [], "errors": []}],
        },
    },
    "crf": {
        "saves": 1000, "seconds": {"history": 6.0, "no_history": 5.0, "plain": 3.0},
        "median_ms": {"history": 6.0, "no_history": 5.0, "plain": 3.0},
        "history_rows_added": {"history": 1000, "no_history": 0, "plain": 0},
        "statements": {"max": 9, "median": 9, "savepoints": 0, "largest": ["BEGIN", "COMMIT"]},
    },
}  # fmt: skip


def failed_criteria(results: dict[str, Any]) -> set[tuple[str, str]]:
    return {(v.scenario, v.criterion) for v in verdicts(results) if not v.passed}


def test_the_report_judges_every_criterion_and_names_a_failure() -> None:
    assert len(verdicts(MEASURED)) == 11 and failed_criteria(MEASURED) == set()
    assert "| CSV export (export centre: one CSV per form, ZIP) | 3.00 | 195,607 |" in report(MEASURED)

    wrong = copy.deepcopy(MEASURED)
    wrong["export"]["rows"]["copy"] = 195606
    wrong["export"]["seconds"]["export"] = 9.0  # 7.5 × COPY
    wrong["export"]["odm"]["seconds"] = 60.0  # 3,732 rows/s against the CSV's 21,734: 0.17
    wrong["randomise"]["runs"]["concurrent"][0]["problems"] = ["a slot was used twice"]
    wrong["crf"]["history_rows_added"]["no_history"] = 3
    wrong["crf"]["statements"]["median"] = 11
    wrong["sweep"] = {"error": "sweep failed: only 900 (visit, offset) pairs"}
    assert failed_criteria(wrong) == {
        ("export", "same rows as COPY"),
        ("export", "time ÷ COPY ≤ 3"),
        ("export", "ODM rows/s ÷ CSV rows/s ≥ 0.5"),
        ("randomise", "correct allocations (every run)"),
        ("crf", "one history row per save with history, none without"),
        ("crf", "SQL statements of one CRF save with a reason, transaction included ≤ 10"),
        ("sweep", "runs"),
    }
    text = report(wrong)
    assert "FAIL — a slot was used twice" in text
    assert "**Not measured: sweep failed: only 900 (visit, offset) pairs**" in text


@pytest.mark.needs_postgres
@pytest.mark.needs_redis
@pytest.mark.django_db(transaction=True)
def test_every_scenario_runs_at_a_tiny_size_and_its_checks_hold(tmp_path: Path) -> None:
    from trial_site.celery import app

    generate_trial(8, sites=2, seed=5)

    export = export_vs_copy(tmp_path, repetitions=1)
    assert export["rows"]["export"] == export["rows"]["copy"] == export["rows"]["copy_zip"] > 0
    assert export["odm"]["rows"] >= export["rows"]["export"]  # every record at least once, with its versions

    crf = crf_save_with_vs_without(3)
    assert crf["history_rows_added"] == {"history": 3, "no_history": 0, "plain": 0}
    assert crf["statements"]["max"] >= 4 and crf["statements"]["largest"][0] == "BEGIN"

    eager, app.conf.task_always_eager = app.conf.task_always_eager, False  # the sweep queues on the real broker
    try:
        sweep = sweep_vs_claim(10, repetitions=1)
    finally:
        app.conf.task_always_eager = eager
    assert sweep["problems"] == [] and sweep["handed_out"] == sweep["claim_rows"] == 10

    prepared = randomise_prepare(2)
    run = randomise_run(prepared["participants"], prepared["list"], concurrent=True, log=str(tmp_path / "gunicorn.log"))
    assert run["errors"] == [] and run["problems"] == []
