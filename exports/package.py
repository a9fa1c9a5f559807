"""The "full" export: one ZIP holding the output of every other format, each written by its own writer straight
into its entry of the archive (nothing is written twice or held in memory)."""

from __future__ import annotations

import zipfile
from typing import BinaryIO

from exports.formats import FORMATS, Progress, RowCounts, writer_for
from exports.scope import ExportScope

FULL = "full"


def entry_name(key: str) -> str:
    """The file name of format ``key`` inside the package, e.g. ``dcssc-odm.xml``."""
    return f"dcssc-{key}.{FORMATS[key].extension}"


def write_full(scope: ExportScope, out: BinaryIO, progress: Progress) -> RowCounts:
    """Write every format but this one into one ZIP; row counts are ``"<format>/<table>"``: rows."""
    counts: RowCounts = {}
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key in FORMATS:
            if key == FULL:
                continue
            compression = zipfile.ZIP_STORED if FORMATS[key].extension == "zip" else zipfile.ZIP_DEFLATED
            info = zipfile.ZipInfo(entry_name(key))
            info.compress_type = compression
            with archive.open(info, "w", force_zip64=True) as entry:
                written = writer_for(key)(scope, entry, progress)
            counts.update({f"{key}/{table}": rows for table, rows in written.items()})
    return counts
