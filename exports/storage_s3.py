"""Export files in S3-compatible object storage (django-storages' ``S3Storage``), with flat memory both ways.

django-storages uploads a file object part by part but keeps up to ten parts in memory, and opens a file for
reading by downloading all of it first (into memory unless ``max_memory_size`` is set). An export can be large, so
this storage uploads a spooled export from its path on the local disk (s3transfer reads each part from the file as
it sends it) and opens an object for reading as the body of its GET, read as it is sent on.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError
from django.core.files import File
from storages.backends.s3 import S3Storage
from storages.utils import clean_name


class ExportS3Storage(S3Storage):
    def _save(self, name: str, content: Any) -> str:
        path = getattr(content, "temporary_file_path", None)
        if path is None:
            return super()._save(name, content)
        cleaned = clean_name(name)
        key = self._normalize_name(cleaned)
        params = self._get_write_parameters(key, content)
        self.bucket.Object(key).upload_file(path(), ExtraArgs=params, Config=self.transfer_config)
        return cleaned

    def _open(self, name: str, mode: str = "rb") -> File:
        if mode != "rb":
            return super()._open(name, mode)
        key = self._normalize_name(clean_name(name))
        try:
            answer = self.bucket.Object(key).get()
        except ClientError as error:
            if error.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
                raise FileNotFoundError(f"no such export file: {name}") from error
            raise
        opened = File(answer["Body"], name=name)
        opened.size = answer["ContentLength"]
        return opened
