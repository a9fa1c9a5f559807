"""Services benchmark, scenario 1: the export centre's CSV export against PostgreSQL ``COPY`` of the same rows,
and the ODM writer's rows per second.

Runs in a process where Django is set up on the database to read (``bench_5000``; it only reads). The export is
the one the export centre makes for "CSV, one file per form" over all sites (de-identified, study days instead
of dates, as of now): ``exports.tabular.write_csv_per_form`` writing its ZIP to a file. The baseline is, for each
dataset of the same export, ``COPY (<the SELECT the exporter runs for it>) TO STDOUT WITH (FORMAT csv, HEADER)``
into a plain ``.csv`` file: the same tables, columns, rows and order, with no Python in between (no study days,
no de-identification, no ZIP). A third run pipes the same ``COPY`` output into a deflated ZIP like the export's,
to show how much of the difference is compression.
"""

from __future__ import annotations

import statistics
import time
import zipfile
from pathlib import Path
from typing import Any


def export_scope() -> Any:
    """All sites, de-identified, study days, now: the export centre's defaults for a full export."""
    from exports.scope import DateMode, ExportScope
    from trial_site.models import Site

    return ExportScope(
        site_ids=tuple(Site.objects.order_by("pk").values_list("pk", flat=True)), date_mode=DateMode.STUDY_DAY
    )


def dataset_select(dataset: Any, scope: Any) -> tuple[str, tuple[Any, ...]]:
    """The SQL (and its parameters) of the SELECT ``exports.rows.dataset_rows`` runs for ``dataset``: the same
    sources, columns and order, built by the exporter's own functions."""
    from exports.rows import _order, columns, source

    wanted = columns(dataset, scope)
    selects = [dataset.participant_path] + [v.source for v in wanted if v.name not in ("participant", "study_day")]
    if dataset.day_source:
        selects.append(dataset.day_source)
    queryset = source(dataset.model, scope).order_by(*_order(dataset)).values_list(*selects)
    sql, params = queryset.query.sql_with_params()
    return sql, tuple(params)


def run_writer(key: str, scope: Any, output: Path) -> tuple[float, int]:
    """The export centre's writer of format ``key`` into ``output``; (seconds, rows written: for "csv" the rows of
    every form, for "odm" the ``ItemGroupData``, one per version of each record)."""
    from exports.formats import writer_for

    writer = writer_for(key)
    started = time.perf_counter()
    with output.open("wb") as out:
        counts = writer(scope, out, lambda rows: None)
    return time.perf_counter() - started, sum(counts.values())


def _copy_to(cursor: Any, sql: str, params: tuple[Any, ...], sink: Any) -> int:
    """COPY one SELECT's rows as CSV with a header into ``sink`` (a binary file); the rows copied."""
    with cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER)", params) as copy:
        for block in copy:
            sink.write(block)
    return cursor.rowcount


def run_copy(scope: Any, folder: Path, *, zipped: bool = False) -> tuple[float, int]:
    """``COPY … TO STDOUT WITH CSV`` of every dataset's SELECT, one ``.csv`` per dataset in ``folder`` (or, with
    ``zipped``, one deflated ZIP member per dataset); (seconds, rows copied)."""
    from django.db import connection

    from exports.catalogue import datasets

    folder.mkdir(parents=True, exist_ok=True)
    selects = [(dataset.key, *dataset_select(dataset, scope)) for dataset in datasets()]
    connection.ensure_connection()
    rows = 0
    started = time.perf_counter()
    with connection.cursor() as wrapper:
        cursor = wrapper.cursor  # psycopg's own cursor: Django has no COPY
        if zipped:
            with zipfile.ZipFile(folder / "copy.zip", "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for key, sql, params in selects:
                    with archive.open(f"{key}.csv", "w", force_zip64=True) as member:
                        rows += _copy_to(cursor, sql, params, member)
        else:
            for key, sql, params in selects:
                with (folder / f"{key}.csv").open("wb") as sink:
                    rows += _copy_to(cursor, sql, params, sink)
    return time.perf_counter() - started, rows


def export_vs_copy(work: Path, *, repetitions: int = 2, odm: bool = True) -> dict[str, Any]:
    """Scenario 1, measured: the medians of ``repetitions`` runs of the CSV export, of COPY (plain and zipped),
    and one ODM export. Runs alternate (export, COPY, COPY zipped) so a busy moment hits all of them alike."""
    from screening.models import Participant

    scope = export_scope()
    times: dict[str, list[float]] = {"export": [], "copy": [], "copy_zip": []}
    rows: dict[str, int] = {}
    for _ in range(repetitions):
        seconds, rows["export"] = run_writer("csv", scope, work / "services_export_csv.zip")
        times["export"].append(seconds)
        seconds, rows["copy"] = run_copy(scope, work / "services_copy")
        times["copy"].append(seconds)
        seconds, rows["copy_zip"] = run_copy(scope, work / "services_copy_zip", zipped=True)
        times["copy_zip"].append(seconds)
    result: dict[str, Any] = {
        "participants": Participant.objects.count(),
        "repetitions": repetitions,
        "seconds": {name: round(statistics.median(values), 3) for name, values in times.items()},
        "rows": rows,
        "export_bytes": (work / "services_export_csv.zip").stat().st_size,
        "copy_bytes": sum(path.stat().st_size for path in (work / "services_copy").glob("*.csv")),
    }
    if odm:
        seconds, versions = run_writer("odm", scope, work / "services_export.odm.xml")
        result["odm"] = {
            "seconds": round(seconds, 3),
            "rows": versions,
            "bytes": (work / "services_export.odm.xml").stat().st_size,
        }
    return result
