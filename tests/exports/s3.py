"""A local S3-compatible server for the export storage's tests: moto's server (``ThreadedMotoServer``) in a thread of
the test process, answering real HTTP on a loopback port of its own, with one empty bucket. The project's code talks
to it exactly as to any S3 endpoint (django-storages, boto3, over the network); nothing is patched in-process, so
server processes a test starts (gunicorn, a Celery worker) reach the same bucket at the same address."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
PREFIX = "exports"
STORAGE_BACKEND = "exports.storage_s3.ExportS3Storage"


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    bucket: str
    access_key: str
    secret_key: str

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )

    def storage_settings(self) -> dict[str, Any]:
        """``STORAGES["exports"]`` on this server, as base.py builds it from the environment (``environment``)."""
        return {
            "BACKEND": STORAGE_BACKEND,
            "OPTIONS": {
                "bucket_name": self.bucket,
                "location": PREFIX,
                "endpoint_url": self.endpoint,
                "region_name": REGION,
                "addressing_style": "path",
                "access_key": self.access_key,
                "secret_key": self.secret_key,
                "file_overwrite": True,
                "default_acl": None,
            },
        }

    def environment(self) -> dict[str, str]:
        """The variables that give a server process (base settings) this export storage."""
        return {
            "EXPORT_S3_BUCKET": self.bucket,
            "EXPORT_S3_PREFIX": PREFIX,
            "AWS_S3_ENDPOINT_URL": self.endpoint,
            "AWS_S3_REGION_NAME": REGION,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
        }

    def keys(self) -> list[str]:
        """Every object's key in the bucket."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return sorted(entry["Key"] for page in pages for entry in page.get("Contents", ()))

    def read(self, key: str) -> tuple[bytes, dict[str, Any]]:
        answer = self.client().get_object(Bucket=self.bucket, Key=key)
        return answer["Body"].read(), answer


@contextmanager
def s3_server() -> Iterator[S3Server]:
    """Start moto's S3 server on 127.0.0.1 (a free port), make a bucket, and stop the server afterwards."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        found = S3Server(
            endpoint=f"http://{host}:{port}",
            bucket=f"trial-exports-{secrets.token_hex(4)}",
            access_key="test-" + secrets.token_hex(4),
            secret_key=secrets.token_hex(16),
        )
        found.client().create_bucket(Bucket=found.bucket)
        yield found
    finally:
        server.stop()
