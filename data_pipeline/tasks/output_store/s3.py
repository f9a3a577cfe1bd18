"""The output store's S3 backend: one object per file in an S3-compatible bucket.

``boto3`` is imported only when such a store is made, so a deployment without
``OUTPUT_STORE_URL`` never loads it.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO
from urllib.parse import parse_qsl, unquote, urlsplit

from app_config import ConfigError
from core.db import Database
from core.secrets import mask_secrets
from data_pipeline.tasks.output_store.base import (
    CHUNK_SIZE,
    OutputStore,
    OutputStoreError,
    StoredFile,
    read_full,
)

logger = logging.getLogger(__name__)

S3_PART_SIZE = 8 * 1024 * 1024  # S3 multipart: every part but the last must be >= 5 MiB
_S3_OPTIONS = {"endpoint_url", "region", "addressing_style"}


@dataclass(frozen=True)
class S3Location:
    """An ``s3://`` URL taken apart (the secret only in ``secret_key``)."""

    bucket: str
    prefix: str
    endpoint_url: str | None = None
    region: str | None = None
    addressing_style: str | None = None
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str) -> S3Location:
        shown = mask_secrets(url)
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.hostname:
            raise ConfigError(f"OUTPUT_STORE_URL must be s3://bucket/prefix, got {shown!r}")
        options = dict(parse_qsl(parts.query, keep_blank_values=True))
        unknown = sorted(set(options) - _S3_OPTIONS)
        if unknown:
            raise ConfigError(
                f"OUTPUT_STORE_URL: unknown option(s) {', '.join(unknown)} "
                f"(known: {', '.join(sorted(_S3_OPTIONS))})"
            )
        style = options.get("addressing_style") or None
        if style not in (None, "auto", "path", "virtual"):
            raise ConfigError("OUTPUT_STORE_URL: addressing_style must be auto, path or virtual")
        if (parts.username is None) != (parts.password is None):
            raise ConfigError("OUTPUT_STORE_URL: give both access key and secret (key:secret@)")
        # The bucket name as written (hostname would lower-case it).
        bucket = parts.netloc.rsplit("@", 1)[-1]
        return cls(
            bucket=bucket,
            prefix=parts.path.strip("/"),
            endpoint_url=options.get("endpoint_url") or None,
            region=options.get("region") or None,
            addressing_style=style,
            access_key=unquote(parts.username) if parts.username else None,
            secret_key=unquote(parts.password) if parts.password else None,
        )

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


class _BodyChunks:
    """An S3 response body as chunks; ``close`` gives its connection back, read or not."""

    def __init__(self, body):
        self._body = body
        self._chunks = body.iter_chunks(CHUNK_SIZE)

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        return next(self._chunks)

    def close(self) -> None:
        self._body.close()


@functools.lru_cache(maxsize=8)
def _s3_client(where: S3Location):
    """One client per location and process (boto3 clients are thread-safe)."""
    import boto3
    from botocore.config import Config as BotoConfig

    # Path-style addressing by default with an endpoint: what MinIO, Ceph and moto expect.
    style = where.addressing_style or ("path" if where.endpoint_url else "auto")
    session = boto3.session.Session(
        aws_access_key_id=where.access_key,
        aws_secret_access_key=where.secret_key,
        region_name=where.region,
    )
    return session.client(
        "s3",
        endpoint_url=where.endpoint_url,
        config=BotoConfig(
            s3={"addressing_style": style},
            connect_timeout=5,
            read_timeout=60,
            retries={"max_attempts": 3, "mode": "standard"},
        ),
    )


class S3OutputStore(OutputStore):
    """Content as objects ``<prefix>/<task_id>/<path>`` of an S3-compatible bucket."""

    def __init__(self, db: Database, url: str, *, part_size: int = S3_PART_SIZE):
        super().__init__(db)
        self.where = S3Location.parse(url)
        self.location = self.where.location
        self.part_size = part_size
        self.client = _s3_client(self.where)

    def _key(self, task_id: str, rel_path: str = "") -> str:
        prefix = f"{self.where.prefix}/" if self.where.prefix else ""
        return f"{prefix}{task_id}/{rel_path}"

    def _write_content(self, cur, task_id: str, rel_path: str, fh: IO[bytes]) -> tuple:
        bucket, key = self.where.bucket, self._key(task_id, rel_path)
        digest = hashlib.sha256()
        data = read_full(fh, self.part_size)
        digest.update(data)
        size = len(data)
        if len(data) < self.part_size:
            self.client.put_object(Bucket=bucket, Key=key, Body=data)
            return digest.hexdigest(), size, 0
        upload = self.client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        try:
            parts, number = [], 1
            while data:
                answer = self.client.upload_part(
                    Bucket=bucket, Key=key, UploadId=upload, PartNumber=number, Body=data
                )
                parts.append({"ETag": answer["ETag"], "PartNumber": number})
                number += 1
                data = read_full(fh, self.part_size)
                digest.update(data)
                size += len(data)
            self.client.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            try:
                self.client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload)
            except Exception:
                logger.warning("multipart upload of %s not aborted", key, exc_info=True)
            raise
        return digest.hexdigest(), size, 0

    def _read_content(self, task_id: str, stored: StoredFile) -> Iterator[bytes] | None:
        from botocore.exceptions import ClientError

        try:
            answer = self.client.get_object(
                Bucket=self.where.bucket, Key=self._key(task_id, stored.path)
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return _BodyChunks(answer["Body"])

    def _delete_keys(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):  # at most 1000 keys per request
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            answer = self.client.delete_objects(
                Bucket=self.where.bucket, Delete={"Objects": batch, "Quiet": True}
            )
            errors = answer.get("Errors") or []
            if errors:
                first = errors[0]
                raise OutputStoreError(
                    f"output store ({self.location}): {len(errors)} object(s) not deleted, "
                    f"first {first.get('Key')}: {first.get('Code')} {first.get('Message')}"
                )

    def _delete_content(self, task_id: str, paths: list[str]) -> None:
        self._delete_keys([self._key(task_id, p) for p in paths])

    def _delete_all_content(self, task_id: str) -> None:
        keys = []
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.where.bucket, Prefix=self._key(task_id)
        )
        for page in pages:
            keys.extend(obj["Key"] for obj in page.get("Contents") or [])
        self._delete_keys(keys)
