"""Where export files are kept: the named storage ``STORAGES["exports"]``, through Django's storage API.

The demo and the tests keep them on the file system under ``EXPORT_ROOT`` (``ExportFileStorage``); production with
several web hosts and workers keeps them in S3-compatible object storage (``exports.storage_s3.ExportS3Storage``,
chosen by ``EXPORT_S3_BUCKET``), so a file written by any worker is downloaded through any web host. Names are
``<job id>/<file name>`` on both.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, storages

EXPORTS = "exports"


def export_storage() -> Storage:
    return storages[EXPORTS]


class ExportFileStorage(FileSystemStorage):
    """The file system at ``settings.EXPORT_ROOT``, read each time it is used (a test or a command that moves
    EXPORT_ROOT moves the storage with it). A folder lives only while it holds a file, as a prefix in object
    storage does: deleting a folder's last file removes the folder. A job's file is written in a spool folder
    beside the files (``spool_folder``), so saving it is a rename, not a copy."""

    @property  # type: ignore[override]
    def base_location(self) -> str:
        return str(self._location or settings.EXPORT_ROOT)

    @property  # type: ignore[override]
    def location(self) -> str:
        return os.path.abspath(self.base_location)

    @property
    def spool_folder(self) -> str:
        return self.location

    def delete(self, name: str) -> None:
        super().delete(name)
        folder = Path(self.path(name)).parent
        if folder != Path(self.location) and Path(self.location) in folder.parents:
            with contextlib.suppress(OSError):  # not empty, or gone already
                folder.rmdir()


class SpooledExport(File):
    """A job's file written to a local temporary file, to be saved into the export storage: a file system storage
    moves it (``temporary_file_path``), object storage uploads it from the disk part by part."""

    def __init__(self, file: Any, *, path: str, content_type: str) -> None:
        super().__init__(file, name=os.path.basename(path))
        self.path = path
        self.content_type = content_type

    def temporary_file_path(self) -> str:
        return self.path
