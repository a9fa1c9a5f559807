"""Benchmark: the services against their baselines, each measured in the same run and given as a ratio.

1. **export** — the export centre's CSV export (one file per form, all sites) of ``bench_5000`` against
   PostgreSQL ``COPY`` of the same rows; the ODM writer's rows per second against the CSV export's
   (``bench/services_export.py``). Reads ``bench_5000`` only.
2. **sweep** — beat's reminder sweep handing 10,000 due reminders to the broker against the claim ``UPDATE …
   RETURNING`` of the same rows alone (``bench/services_reminders.py``), in ``bench_services``, a copy of
   ``bench_5000``.
3. **randomise** — 100 randomisations at once over HTTP against gunicorn with 4 workers, against the same 100 one
   after another, with a correctness check (``bench/services_randomise.py``), each run in a fresh copy of
   ``bench_services_rand_base`` (a copy of ``bench_100`` with an allocation list in use and 100 confirmed-eligible
   participants, made by the services).
4. **crf** — saving a CRF with its history row against the same save with the history switched off, and against
   a plain Django save (``bench/services_crf.py``), in ``bench_services``.

Each scenario runs in a child process with Django set up on its database and ``REDIS_URL`` on the benchmark's
broker (Redis database 12 by default, emptied before and after). The databases are dropped and made again on
every run, and dropped at the end. PASS or FAIL per criterion is printed; the exit code is 1 on a FAIL.

    .venv/bin/python bench/services.py --write-docs
    .venv/bin/python bench/services.py --only randomise crf --saves 300
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python bench/services.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    DEFAULT_SERVER,
    ROOT,
    WORK,
    command_line,
    conclude,
    copy_database,
    drop_database,
    ensure_generated,
    run_header,
)
from bench.services_report import Verdict, report, verdicts

SCENARIOS = ("export", "sweep", "randomise", "crf")
DEFAULT_REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
COPY = "bench_services"  # sweep and crf: a copy of bench_5000
RAND_BASE = "bench_services_rand_base"  # a copy of bench_100 with the list and the confirmed participants
RAND_RUN = "bench_services_rand"  # a copy of RAND_BASE per randomisation run


# --- the children ----------------------------------------------------------------------------------------------


def child(name: str, params: dict[str, Any]) -> Any:
    """Run scenario step ``name`` here (Django is set up on ``DATABASE_URL``) and return what it measured."""
    from bench.common import setup_django

    setup_django(os.environ["DATABASE_URL"])
    if name == "export":
        from bench.services_export import export_vs_copy

        return export_vs_copy(WORK, repetitions=params["repetitions"])
    if name == "sweep":
        from bench.services_reminders import sweep_vs_claim

        return sweep_vs_claim(params["due"], repetitions=params["repetitions"])
    if name == "randomise-prepare":
        from bench.services_randomise import randomise_prepare

        return randomise_prepare(params["participants"])
    if name == "randomise-run":
        from bench.services_randomise import randomise_run

        return randomise_run(params["participants"], params["list"], concurrent=params["concurrent"], log=params["log"])
    if name == "crf":
        from bench.services_crf import crf_save_with_vs_without

        return crf_save_with_vs_without(params["saves"])
    raise ValueError(f"unknown step {name}")


def run_child(name: str, database: str, params: dict[str, Any], *, server: str, redis_url: str) -> Any:
    """Run one step in a fresh process on ``database``; its JSON result (RuntimeError with its error if it fails)."""
    environment = {**os.environ, "DATABASE_URL": f"{server}/{database}", "REDIS_URL": redis_url}
    environment.setdefault("DJANGO_SETTINGS_MODULE", "trial_site.settings.base")
    command = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--params", json.dumps(params)]
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{done.stderr[-3000:]}")
    print(f"  {name} on {database}: {time.monotonic() - started:.0f} s", flush=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- databases ---------------------------------------------------------------------------------------------------


def empty_broker(redis_url: str) -> None:
    import redis

    redis.Redis.from_url(redis_url).flushdb()


# --- the scenarios, from the parent ----------------------------------------------------------------------------


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Every chosen scenario; their results by name (an error message instead where one failed)."""
    server, redis_url, chosen = args.server, args.redis_url, args.only or list(SCENARIOS)
    source = f"bench_{args.participants}"
    ensure_generated(server, args.participants)
    results: dict[str, Any] = {"participants": args.participants}
    empty_broker(redis_url)

    def attempt(name: str, step: Any) -> None:
        print(f"{name} …", flush=True)
        try:
            results[name] = step()
        except Exception as error:
            print(error, file=sys.stderr)
            results[name] = {"error": str(error).strip().splitlines()[-1][:300]}

    copied = False

    def in_copy(name: str, params: dict[str, Any]) -> Any:
        """Run ``name`` in the copy of the trial, made once for the sweep and the CRF saves."""
        nonlocal copied
        if not copied:
            copy_database(server, source, COPY)
            copied = True
        return run_child(name, COPY, params, server=server, redis_url=redis_url)

    if "export" in chosen:
        params = {"repetitions": args.export_repetitions}
        attempt("export", lambda: run_child("export", source, params, server=server, redis_url=redis_url))
    if "sweep" in chosen:
        attempt("sweep", lambda: in_copy("sweep", {"due": args.due, "repetitions": args.sweep_repetitions}))
    if "crf" in chosen:
        attempt("crf", lambda: in_copy("crf", {"saves": args.saves}))
    if "randomise" in chosen:
        attempt("randomise", lambda: measure_randomise(args))
    for name in (COPY, RAND_BASE, RAND_RUN):
        drop_database(server, name)
    empty_broker(redis_url)
    return results


def measure_randomise(args: argparse.Namespace) -> dict[str, Any]:
    """Prepare the participants once, then alternate concurrent and sequential runs, each on a fresh copy."""
    server, redis_url = args.server, args.redis_url
    ensure_generated(server, 100)
    copy_database(server, "bench_100", RAND_BASE)
    prepared = run_child(
        "randomise-prepare", RAND_BASE, {"participants": args.randomisations}, server=server, redis_url=redis_url
    )
    runs: dict[str, list[dict[str, Any]]] = {"concurrent": [], "sequential": []}
    for repetition in range(args.randomise_repetitions):
        modes = ("concurrent", "sequential") if repetition % 2 == 0 else ("sequential", "concurrent")
        for mode in modes:
            copy_database(server, RAND_BASE, RAND_RUN)
            log = str(WORK / f"gunicorn-randomise-{mode}-{repetition + 1}.log")
            params = {**prepared, "concurrent": mode == "concurrent", "log": log}
            runs[mode].append(run_child("randomise-run", RAND_RUN, params, server=server, redis_url=redis_url))
            empty_broker(redis_url)
    return {"randomisations": len(prepared["participants"]), "workers": 4, "runs": runs}


# --- the command -----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default=DEFAULT_SERVER, help="the PostgreSQL server (BENCH_POSTGRES)")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS, help="the broker's Redis database (emptied)")
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, help="run only these scenarios")
    parser.add_argument("--participants", type=int, default=5000, help="the generated trial exported and copied")
    parser.add_argument("--export-repetitions", type=int, default=2)
    parser.add_argument("--due", type=int, default=10_000, help="due reminders swept")
    parser.add_argument("--sweep-repetitions", type=int, default=2)
    parser.add_argument("--randomisations", type=int, default=100)
    parser.add_argument("--randomise-repetitions", type=int, default=2, help="runs of each mode")
    parser.add_argument("--saves", type=int, default=500, help="CRF saves per path")
    parser.add_argument("--write-docs", action="store_true", help="refresh the section of docs/benchmarks.md")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--params", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, json.loads(args.params))))
        return 0

    WORK.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    results = measure(args)
    results["minutes"] = round((time.monotonic() - started) / 60, 1)
    kept = WORK / "services.json"
    if args.only and kept.exists():  # the scenarios not run this time keep the figures of their last run
        previous = json.loads(kept.read_text())
        results.update({name: previous[name] for name in SCENARIOS if name not in results and name in previous})
    (WORK / "services.json").write_text(json.dumps(results, indent=1))
    section = run_header(command_line("services.py", argv)) + "\n" + report(results)
    found: list[Verdict] = verdicts(results)
    for verdict in found:
        print(f"{'PASS' if verdict.passed else 'FAIL'}  {verdict.scenario}: {verdict.criterion} ({verdict.measured})")
    passed = bool(found) and all(verdict.passed for verdict in found)
    return conclude("services", section, passed, write_docs=args.write_docs)


if __name__ == "__main__":
    sys.exit(main())
