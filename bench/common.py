"""What every benchmark shares: where the generated databases are, the machine description, ratios, and the
rewriting of one section of ``docs/benchmarks.md`` between its markers.

A benchmark's section in ``docs/benchmarks.md`` sits between ``<!-- <name>:start … -->`` and
``<!-- <name>:end -->``; :func:`write_section` replaces what is between them (the prose around them is kept by
hand). Generated trials live in PostgreSQL databases ``bench_<N>`` on the server ``BENCH_POSTGRES`` (default
``postgres://postgres@127.0.0.1:5432``), made once by ``bench/generate.py`` and remembered by a marker file in
``var/bench/``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "var" / "bench"
DOCS = ROOT / "docs" / "benchmarks.md"
DEFAULT_SERVER = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")


# --- generated databases ---------------------------------------------------------------------------------------


def database_url(server: str, participants: int) -> str:
    return f"{server}/bench_{participants}"


def migrations_fingerprint() -> str:
    """The migrations on disk (every app's file names): a generated trial made under others is migrated first."""
    names = sorted(str(path.relative_to(ROOT)) for path in ROOT.glob("*/migrations/0*.py"))
    return hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]


def ensure_generated(server: str, participants: int, *, regenerate: bool = False) -> str:
    """Generate ``bench_<N>`` unless its marker says it is there (a fresh database each time it is made); one made
    before a migration was added is migrated (its stored statuses refreshed and analysed), not made again.

    Returns the database URL."""
    marker = WORK / f"bench_{participants}.generated.json"
    url = database_url(server, participants)
    if marker.exists() and not regenerate and database_exists(server, f"bench_{participants}"):
        made = json.loads(marker.read_text())
        if made.get("migrations") != migrations_fingerprint():
            print(f"migrating bench_{participants} to the code's migrations …", flush=True)
            fingerprint = migrations_fingerprint()
            script = str(ROOT / "bench" / "generate.py")
            subprocess.run(
                [sys.executable, script, "--participants", str(participants), "--database-url", url, "--migrate-only"],
                check=True,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
            )
            marker.write_text(json.dumps({**made, "migrations": fingerprint}))
        return url
    drop_database(server, f"bench_{participants}")
    print(f"generating bench_{participants} ({participants} participants) …", flush=True)
    started = time.monotonic()
    # The migrations the generator applies, read before it starts: one added during a long run is not applied, and
    # the marker must not say it is.
    fingerprint = migrations_fingerprint()
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "generate.py"),
            "--participants",
            str(participants),
            "--database-url",
            url,
        ],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    WORK.mkdir(parents=True, exist_ok=True)
    marker.write_text(
        json.dumps(
            {
                "participants": participants,
                "migrations": fingerprint,
                "seconds": round(time.monotonic() - started, 1),
                "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )
    )
    return url


def server_connection(server: str) -> Any:
    import psycopg

    return psycopg.connect(f"{server}/postgres", autocommit=True)


def database_exists(server: str, name: str) -> bool:
    with server_connection(server) as connection:
        return connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def drop_database(server: str, name: str) -> None:
    from psycopg import sql

    with server_connection(server) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def copy_database(server: str, source: str, target: str, *, attempts: int = 60) -> str:
    """Drop ``target`` and make it again as ``CREATE DATABASE target TEMPLATE source``; the URL of ``target``.

    PostgreSQL refuses to copy a database someone is connected to: retried, 2 s apart."""
    import psycopg
    from psycopg import sql

    drop_database(server, target)
    for attempt in range(attempts):
        try:
            with server_connection(server) as connection:
                connection.execute(
                    sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(target), sql.Identifier(source))
                )
            return database_url_named(server, target)
        except psycopg.errors.ObjectInUse:
            if attempt == attempts - 1:
                raise
            time.sleep(2)
    raise AssertionError("unreachable")


def database_url_named(server: str, name: str) -> str:
    return f"{server}/{name}"


def setup_django(database_url: str, settings: str = "trial_site.settings.base") -> None:
    """Set Django up in this process on ``database_url`` (for benchmarks that measure in process)."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


# --- figures ---------------------------------------------------------------------------------------------------


def ratio(measured: float, baseline: float) -> float | None:
    """``measured ÷ baseline`` rounded to two places (None when the baseline is zero)."""
    return round(measured / baseline, 2) if baseline else None


def median_ms(seconds: Sequence[float]) -> float:
    return round(statistics.median(seconds) * 1000, 2)


def machine() -> str:
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    return f"{os.cpu_count()} cores ({cpu}), {memory / 1024 / 1024:.0f} GiB, Python {platform.python_version()}"


def command_line(script: str, argv: Sequence[str] | None) -> str:
    """How a benchmark was run, for its section: ``python bench/<script> <arguments>``."""
    return " ".join(["python", f"bench/{script}", *(argv if argv is not None else sys.argv[1:])])


def conclude(name: str, section: str, passed: bool, *, write_docs: bool, problems: Sequence[str] = ()) -> int:
    """Print the section and the verdict, write the section of docs/benchmarks.md when asked; the exit code."""
    print(section)
    print("PASS" if passed else "FAIL" + (": " + "; ".join(problems) if problems else ""))
    if write_docs:
        write_section(name, section)
    return 0 if passed else 1


def run_header(command: str) -> str:
    """The first lines of a section: when, where and with which command it was measured."""
    return f"Run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}, PostgreSQL, with:\n\n    {command}\n"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], *, align: str = "") -> str:
    """A Markdown table; ``align`` gives one letter per column (``l`` left, ``r`` right; default: left)."""
    align = align or "l" * len(header)
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


# --- docs/benchmarks.md ----------------------------------------------------------------------------------------


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start", f"<!-- {name}:end -->"


def write_section(name: str, section: str, docs: Path = DOCS) -> None:
    """Replace the text between the markers of section ``name`` in ``docs/benchmarks.md``.

    The start marker is the first line ``<!-- <name>:start … -->`` (whatever follows the name on that line is
    kept); a missing section is an error, so a renamed benchmark cannot silently stop refreshing its figures.
    """
    text = docs.read_text()
    start_marker, end_marker = markers(name)
    begin = text.index(start_marker)
    start = text.index("-->", begin) + len("-->")
    end = text.index(end_marker, start)
    docs.write_text(text[:start] + "\n" + section.rstrip("\n") + "\n" + text[end:])
