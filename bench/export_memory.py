"""Benchmark: is every export linear in time and flat in memory as the trial grows? (REDCap's exports run out of
memory on large projects; ours stream.)

For each size N (5,000 and 50,000 participants by default; ``--quick``: 500 and 5,000) a database ``bench_<N>`` is
generated once by
``bench/generate.py`` (a marker file in ``var/bench/`` says it is done; delete it, or pass ``--regenerate``, to
make it again). Then each export runs in a fresh child process that sets Django up, connects, imports the
writer, and only then measures:

- **baseline RSS**: the child's resident memory with Django set up and nothing exported;
- **peak RSS**: the child's high-water mark (``VmHWM``) at the end of the export;
- **time**, **rows** written and the **file size**;
- in a second child, the **tracemalloc peak** of Python allocations made during the export (tracemalloc
  slows the export and uses memory of its own, so it is not switched on in the child that measures RSS).

The export is de-identified with study days instead of dates, over all sites, now (no cut-off), written to a
file. The criteria of issue #21, for every export format (each writer on its own, and "full", all of them in one
ZIP; ``--format`` measures one):

- **linear in time**: time at 50,000 ÷ time at 5,000 ≤ 12 (for other sizes, 1.2 × the ratio of the sizes);
- **flat in memory**: peak RSS at 50,000 ÷ peak RSS at 5,000 ≤ 1.3.

PASS or FAIL is printed per format, and the exit code is 1 on a FAIL. ``--write-docs`` refreshes the section of
``docs/benchmarks.md``.

    .venv/bin/python bench/export_memory.py --write-docs
    .venv/bin/python bench/export_memory.py --quick --format csv odm
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python bench/export_memory.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    DEFAULT_SERVER,
    ROOT,
    WORK,
    command_line,
    conclude,
    ensure_generated,
    ratio,
    run_header,
)

# The criteria (#21): time grows at most 1.2 times as fast as the trial (≤ 12 for ten times the participants), and
# the peak resident memory at most 1.3 times from the smaller trial to the larger.
TIME_MAX_PER_GROWTH = 1.2
MEMORY_MAX_RATIO = 1.3
DEFAULT_SIZES = [5000, 50000]
QUICK_SIZES = [500, 5000]


@dataclass(frozen=True)
class Measurement:
    """One export of one format on one database, as the child measured it."""

    format: str
    participants: int
    rows: int
    file_bytes: int
    seconds: float
    baseline_rss_kb: int
    peak_rss_kb: int
    traced_peak_kb: int | None = None  # tracemalloc peak during the export (its own child)
    error: str = ""

    @property
    def growth_kb(self) -> int:
        return self.peak_rss_kb - self.baseline_rss_kb


# --- the child: one export, measured -----------------------------------------------------------------------


def _status_kb(field: str) -> int:
    """A line of /proc/self/status in kB (VmRSS: resident now; VmHWM: the peak so far)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def child(database_url: str, key: str, output: Path, traced: bool) -> dict[str, Any]:
    """Run one export of format ``key`` into ``output`` and return what was measured."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trial_site.settings.base")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection

    from exports.formats import writer_for
    from exports.scope import DateMode, ExportScope
    from screening.models import Participant
    from trial_site.models import Site

    writer = writer_for(key)
    connection.ensure_connection()
    scope = ExportScope(site_ids=tuple(Site.objects.values_list("id", flat=True)), date_mode=DateMode.STUDY_DAY)
    participants = Participant.objects.count()
    written = 0

    def progress(rows: int) -> None:
        nonlocal written
        written += rows

    baseline = _status_kb("VmRSS")
    if traced:
        import tracemalloc

        tracemalloc.start()
    started = time.monotonic()
    with output.open("wb") as out:
        counts = writer(scope, out, progress)
    seconds = time.monotonic() - started
    traced_peak = None
    if traced:
        traced_peak = tracemalloc.get_traced_memory()[1] // 1024
        tracemalloc.stop()
    return {
        "format": key,
        "participants": participants,
        "rows": sum(counts.values()) if counts else written,
        "file_bytes": output.stat().st_size,
        "seconds": round(seconds, 2),
        "baseline_rss_kb": baseline,
        "peak_rss_kb": _status_kb("VmHWM"),
        "traced_peak_kb": traced_peak,
    }


# --- the parent: databases, children, the report --------------------------------------------------------------


def measure(url: str, participants: int, key: str, *, traced: bool) -> Measurement:
    """Run the export of ``key`` on the database ``url`` in a fresh child (and again with tracemalloc when
    ``traced``)."""
    output = WORK / f"export_{participants}_{key}.out"
    runs = []
    for with_tracing in (False, True) if traced else (False,):
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            "--database-url",
            url,
            "--format",
            key,
            "--output",
            str(output),
        ]
        if with_tracing:
            command.append("--traced")
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            error = (done.stderr.strip().splitlines() or ["failed"])[-1]
            return Measurement(key, participants, 0, 0, 0.0, 0, 0, error=error[:200])
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    plain = runs[0]
    if traced:
        plain["traced_peak_kb"] = runs[1]["traced_peak_kb"]
    return Measurement(**plain)


def available_formats() -> list[str]:
    """The formats of the registry whose writer can be imported now (the others are still being written)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trial_site.settings.base")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from exports.formats import FORMATS, writer_for

    found = []
    for key in FORMATS:
        try:
            writer_for(key)
        except ImportError:
            continue
        found.append(key)
    return found


def _mib(kb: int | None) -> str:
    return "—" if kb is None else f"{kb / 1024:.1f}"


def _size(count: int) -> str:
    return f"{count / 1024 / 1024:.1f} MiB" if count >= 1024 * 1024 else f"{count / 1024:.0f} KiB"


@dataclass(frozen=True)
class Verdict:
    """One format's ratios, largest size against the smallest, and whether it meets both criteria."""

    time_ratio: float | None
    rss_ratio: float | None
    traced_ratio: float | None
    time_limit: float
    passed: bool


def time_limit(sizes: list[int]) -> float:
    """The most the time may grow from the smallest size to the largest: 1.2 × their ratio (12 for 5,000 →
    50,000)."""
    return round(TIME_MAX_PER_GROWTH * max(sizes) / min(sizes), 2)


def verdicts(results: list[Measurement], sizes: list[int]) -> dict[str, Verdict]:
    """Per format: the time, peak RSS and tracemalloc peak ratios of the largest size against the smallest."""
    found = {}
    limit = time_limit(sizes)
    for key in dict.fromkeys(m.format for m in results):
        small = next(m for m in results if m.format == key and m.participants == min(sizes))
        large = next(m for m in results if m.format == key and m.participants == max(sizes))
        if small.error or large.error:
            found[key] = Verdict(None, None, None, limit, False)
            continue
        seconds = ratio(large.seconds, small.seconds)
        rss = ratio(large.peak_rss_kb, small.peak_rss_kb)
        traced = None
        if small.traced_peak_kb and large.traced_peak_kb is not None:
            traced = ratio(large.traced_peak_kb, small.traced_peak_kb)
        passed = seconds is not None and seconds <= limit and rss is not None and rss <= MEMORY_MAX_RATIO
        found[key] = Verdict(seconds, rss, traced, limit, passed)
    return found


def _shown(value: float | None) -> str:
    return "—" if value is None else str(value)


def report(results: list[Measurement], sizes: list[int], command: str) -> str:
    """The Markdown section: the command, when, where, a table of measurements and the verdicts."""
    lines = [
        run_header(command),
        "| format | participants | rows | file | time (s) | baseline RSS (MiB) | peak RSS (MiB) | "
        "peak − baseline (MiB) | tracemalloc peak (MiB) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m in results:
        if m.error:
            lines.append(f"| {m.format} | {m.participants:,} | failed: {m.error} | | | | | | |")
            continue
        lines.append(
            f"| {m.format} | {m.participants:,} | {m.rows:,} | {_size(m.file_bytes)} | {m.seconds:.1f} | "
            f"{_mib(m.baseline_rss_kb)} | {_mib(m.peak_rss_kb)} | {_mib(m.growth_kb)} | {_mib(m.traced_peak_kb)} |"
        )
    large, small = f"{max(sizes):,}", f"{min(sizes):,}"
    lines += [
        "",
        f"| format | time ratio {large} ÷ {small} (≤ {time_limit(sizes)}) | peak RSS ratio (≤ {MEMORY_MAX_RATIO}) | "
        "tracemalloc peak ratio | accepted |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for key, verdict in verdicts(results, sizes).items():
        lines.append(
            f"| {key} | {_shown(verdict.time_ratio)} | {_shown(verdict.rss_ratio)} | {_shown(verdict.traced_ratio)} | "
            f"{'PASS' if verdict.passed else 'FAIL'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs=2, help="participants of the two databases (default: 5000 50000)")
    parser.add_argument("--quick", action="store_true", help="500 and 5,000 participants (for development)")
    parser.add_argument("--server", default=DEFAULT_SERVER)
    parser.add_argument("--format", nargs="+", help="the export formats measured (default: every one, and full)")
    parser.add_argument(
        "--databases", help="read <server>/<DATABASES><N> as they are (no generation), e.g. h7_bench_ for h7_bench_500"
    )
    parser.add_argument("--no-tracemalloc", action="store_true", help="skip the tracemalloc children")
    parser.add_argument("--regenerate", action="store_true", help="generate the databases again")
    parser.add_argument("--write-docs", action="store_true", help="refresh the section of docs/benchmarks.md")
    # The child's options (internal).
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.database_url, args.format[0], Path(args.output), args.traced)))
        return 0

    WORK.mkdir(parents=True, exist_ok=True)
    sizes = sorted(args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES))
    # Each writer on its own, then "full" (all of them in one ZIP).
    formats = args.format or available_formats()
    results = []
    for participants in sizes:
        if args.databases:
            url = f"{args.server}/{args.databases}{participants}"
        else:
            url = ensure_generated(args.server, participants, regenerate=args.regenerate)
        for key in formats:
            result = measure(url, participants, key, traced=not args.no_tracemalloc)
            results.append(result)
            print(json.dumps(asdict(result)), flush=True)
    section = report(results, sizes, command_line("export_memory.py", argv))
    accepted = all(verdict.passed for verdict in verdicts(results, sizes).values())
    return conclude("export-memory", section, accepted, write_docs=args.write_docs)


if __name__ == "__main__":
    sys.exit(main())
