"""Benchmark: does an export's memory stay flat as the trial grows? (It must: REDCap's exports run out of memory
on large projects; ours stream.)

For each size N (500 and 5,000 participants by default) a database ``bench_<N>`` is generated once by
``bench/generate.py`` (a marker file in ``var/bench/`` says it is done; delete it, or pass ``--regenerate``, to
make it again). Then each export runs in a fresh child process that sets Django up, connects, imports the
writer, and only then measures:

- **baseline RSS**: the child's resident memory with Django set up and nothing exported;
- **peak RSS**: the child's high-water mark (``VmHWM``) at the end of the export;
- **time**, **rows** written and the **file size**;
- in a second child, the **tracemalloc peak** of Python allocations made during the export (tracemalloc
  slows the export and uses memory of its own, so it is not switched on in the child that measures RSS).

The export is de-identified with study days instead of dates, over all sites, now (no cut-off), written to a
file. The acceptance: peak RSS at the largest N divided by peak RSS at the smallest stays under 1.5 for the
measured format ("full" by default; each format with ``--per-format``). PASS or FAIL is printed, and the exit
code is 1 on FAIL. ``--write-docs`` refreshes the section of ``docs/benchmarks.md``.

    .venv/bin/python bench/export_memory.py --write-docs
    .venv/bin/python bench/export_memory.py --per-format
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
    database_url,
    ensure_generated,
    ratio,
    run_header,
)

ACCEPTED_RATIO = 1.5


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


def measure(server: str, participants: int, key: str, *, traced: bool) -> Measurement:
    """Run the export of ``key`` in a fresh child (and again with tracemalloc when ``traced``)."""
    output = WORK / f"export_{participants}_{key}.out"
    runs = []
    for with_tracing in (False, True) if traced else (False,):
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            "--database-url",
            database_url(server, participants),
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


def verdicts(results: list[Measurement], sizes: list[int]) -> dict[str, tuple[float | None, float | None, bool]]:
    """Per format: (peak RSS ratio, tracemalloc peak ratio, accepted) of the largest size against the smallest."""
    found = {}
    for key in dict.fromkeys(m.format for m in results):
        small = next(m for m in results if m.format == key and m.participants == min(sizes))
        large = next(m for m in results if m.format == key and m.participants == max(sizes))
        if small.error or large.error:
            found[key] = (None, None, False)
            continue
        rss = ratio(large.peak_rss_kb, small.peak_rss_kb)
        traced = None
        if small.traced_peak_kb and large.traced_peak_kb is not None:
            traced = ratio(large.traced_peak_kb, small.traced_peak_kb)
        found[key] = (rss, traced, rss is not None and rss < ACCEPTED_RATIO)
    return found


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
    lines += [
        "",
        f"| format | peak RSS ratio {max(sizes):,} ÷ {min(sizes):,} | tracemalloc peak ratio | "
        f"accepted (RSS ratio < {ACCEPTED_RATIO}) |",
        "| --- | ---: | ---: | --- |",
    ]
    for key, (rss, traced, accepted) in verdicts(results, sizes).items():
        lines.append(
            f"| {key} | {rss if rss is not None else '—'} | {traced if traced is not None else '—'} | "
            f"{'PASS' if accepted else 'FAIL'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 5000], help="participants per database")
    parser.add_argument("--server", default=DEFAULT_SERVER)
    parser.add_argument("--format", default="full", help="the export format measured (default: full)")
    parser.add_argument("--per-format", action="store_true", help="measure every available format separately, and full")
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
        print(json.dumps(child(args.database_url, args.format, Path(args.output), args.traced)))
        return 0

    WORK.mkdir(parents=True, exist_ok=True)
    sizes = sorted(args.sizes)
    # Per format: each writer on its own, then "full" (all of them in one ZIP) when it can be imported.
    formats = available_formats() if args.per_format else [args.format]
    results = []
    for participants in sizes:
        ensure_generated(args.server, participants, regenerate=args.regenerate)
        for key in formats:
            result = measure(args.server, participants, key, traced=not args.no_tracemalloc)
            results.append(result)
            print(json.dumps(asdict(result)), flush=True)
    section = report(results, sizes, command_line("export_memory.py", argv))
    accepted = all(ok for _rss, _traced, ok in verdicts(results, sizes).values())
    return conclude("export-memory", section, accepted, write_docs=args.write_docs)


if __name__ == "__main__":
    sys.exit(main())
