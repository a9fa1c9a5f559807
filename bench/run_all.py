"""Run every benchmark scenario and rewrite its section of ``docs/benchmarks.md`` (the README's benchmark
command, ``bin/bench``, runs this).

Each scenario is its own script in ``bench/``, run in a child process with ``--write-docs``; one that fails is
reported and the others still run. The exit code is 1 when any scenario failed or missed its criterion.

    .venv/bin/python bench/run_all.py                  # every scenario, at 100, 5,000 and 50,000 participants
    .venv/bin/python bench/run_all.py --quick          # the same without the 50,000-participant trial
    .venv/bin/python bench/run_all.py pages load       # some of them
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# name → the script and its arguments (each writes its own section of docs/benchmarks.md).
SCENARIOS: dict[str, list[str]] = {
    "pages": ["bench/pages.py", "--write-docs"],
    "services": ["bench/services.py", "--write-docs"],
    "export-memory": ["bench/export_memory.py", "--write-docs"],
    "load": ["bench/load.py", "--write-docs"],
}
# Scenarios whose largest trial is 50,000 participants; --quick runs them at 5,000 at most.
SIZED = ("pages", "export-memory", "load")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "scenarios", nargs="*", metavar="scenario", help=f"any of {', '.join(SCENARIOS)} (default: all)"
    )
    parser.add_argument("--quick", action="store_true", help="no 50,000-participant trial (5,000 at most)")
    args = parser.parse_args(argv)
    unknown = [name for name in args.scenarios if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    chosen = args.scenarios or list(SCENARIOS)
    outcomes: dict[str, tuple[int, float]] = {}
    for name in chosen:
        print(f"\n== {name} ==", flush=True)
        started = time.monotonic()
        command = [sys.executable, *SCENARIOS[name], *(["--quick"] if args.quick and name in SIZED else [])]
        code = subprocess.run(command, cwd=ROOT).returncode
        outcomes[name] = (code, time.monotonic() - started)
    print("\n== summary ==")
    for name, (code, seconds) in outcomes.items():
        print(f"{name:15} {'PASS' if code == 0 else f'FAIL (exit {code})':15} {seconds / 60:5.1f} min")
    return 0 if all(code == 0 for code, _ in outcomes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
